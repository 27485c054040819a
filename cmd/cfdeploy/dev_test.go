package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/poll"
)

// lockedBuffer is a goroutine-safe stderr for in-process runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDev runs 'cfdeploy dev' in-process: embedded host, first deploy, the
// subdomain URL on stdout, a redeploy after a file changes, a clean stop.
func TestDev(t *testing.T) {
	site := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(site, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("index.html", "<h1>version one</h1>")
	write("_redirects", "/go /index.html 302\n")
	os.Mkdir(filepath.Join(site, "sub"), 0o755)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	stderr := &lockedBuffer{}
	t.Chdir(t.TempDir()) // no cfdeploy.toml around
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"dev", site, "--port", "0", "--debounce", "50ms"}, &IOStreams{In: strings.NewReader(""), Out: pw, Err: stderr})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no URL on stdout: %v; stderr:\n%s", err, stderr.String())
	}
	go io.Copy(io.Discard, pr)
	u, err := url.Parse(strings.TrimSpace(line))
	if err != nil || u.Hostname() != "127.0.0.1" || u.Path != "/" {
		t.Fatalf("URL %q is not the bare address of the dev host", line)
	}
	hc := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+u.Port())
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := hc.Get(u.String() + strings.TrimPrefix(path, "/"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/"); code != 200 || !strings.Contains(body, "version one") {
		t.Fatalf("GET / = %d %q", code, body)
	}
	if code, _ := get("/go"); code != 302 {
		t.Errorf("GET /go = %d, want the 302 of _redirects", code)
	}

	// A change, and a new file in a new directory, are redeployed.
	write("index.html", "<h1>version two</h1>")
	os.MkdirAll(filepath.Join(site, "sub", "deeper"), 0o755)
	waitFor(t, stderr, func() bool { _, body := get("/"); return strings.Contains(body, "version two") })
	write("sub/deeper/new.txt", "fresh")
	waitFor(t, stderr, func() bool { code, body := get("/sub/deeper/new.txt"); return code == 200 && body == "fresh" })

	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("dev exited %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("dev did not stop after cancellation")
	}
	if !strings.Contains(stderr.String(), "Stopped.") {
		t.Errorf("stderr lacks the stop message:\n%s", stderr.String())
	}
}

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t *testing.T, log *lockedBuffer, cond func() bool) {
	t.Helper()
	if !poll.Wait(15*time.Second, cond) {
		t.Fatalf("condition not reached; stderr:\n%s", log.String())
	}
}
