package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDevLoop checks what makes dev a development loop beyond site files:
// edits to _headers, _redirects and cfdeploy.toml are redeployed, rule
// warnings are printed, and every request is logged with what answered.
func TestDevLoop(t *testing.T) {
	work := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(work, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("site/index.html", "<h1>home</h1>")
	write("site/404.html", "<h1>custom not found</h1>")
	write("site/_headers", "/*\n  X-Version: one\n")
	write("cfdeploy.toml", "name = \"loop\"\n")
	t.Chdir(work)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	stderr := &lockedBuffer{}
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"dev", "site", "--port", "0", "--debounce", "50ms"}, &IOStreams{In: strings.NewReader(""), Out: pw, Err: stderr})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no URL on stdout: %v; stderr:\n%s", err, stderr.String())
	}
	go io.Copy(io.Discard, pr)
	base := strings.TrimSpace(line)
	hc := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := hc.Get(base + strings.TrimPrefix(path, "/"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	if resp, _ := get("/"); resp.StatusCode != 200 || resp.Header.Get("X-Version") != "one" {
		t.Fatalf("GET / = %d %v", resp.StatusCode, resp.Header)
	}
	waitFor(t, stderr, func() bool { return strings.Contains(stderr.String(), "GET / 200 ") })
	if !strings.Contains(stderr.String(), " asset\n") {
		t.Errorf("the request log does not say an asset answered:\n%s", stderr.String())
	}

	// _headers is redeployed when it changes.
	write("site/_headers", "/*\n  X-Version: two\n")
	waitFor(t, stderr, func() bool { resp, _ := get("/"); return resp.Header.Get("X-Version") == "two" })

	// A new _redirects is redeployed, and its warnings are printed.
	write("site/_redirects", "/old /index.html 302\n/bad /x 418\n")
	waitFor(t, stderr, func() bool {
		return strings.Contains(stderr.String(), "warning: _redirects line 2: valid status codes")
	})
	waitFor(t, stderr, func() bool { resp, _ := get("/old"); return resp.Request.URL.Path == "/" })

	// cfdeploy.toml is read again when it changes.
	if resp, body := get("/missing"); resp.StatusCode != 404 || strings.Contains(body, "custom not found") {
		t.Fatalf("before the toml change GET /missing = %d %q", resp.StatusCode, body)
	}
	write("cfdeploy.toml", "name = \"loop\"\n[assets]\nnot_found_handling = \"404-page\"\n")
	waitFor(t, stderr, func() bool {
		resp, body := get("/missing")
		return resp.StatusCode == 404 && strings.Contains(body, "custom not found")
	})
	// Request lines come in batches, at most a second late.
	waitFor(t, stderr, func() bool { return strings.Contains(stderr.String(), "GET /missing 404 ") })

	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("dev exited %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("dev did not stop after cancellation")
	}
}
