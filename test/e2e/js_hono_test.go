package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// The Hono release the fixture is bundled with, and the sha256 of its npm
// tarball: the test runs what was reviewed, not whatever the registry
// serves that day.
const (
	honoVersion = "4.13.19"
	honoSHA256  = "ec0825774aef43124f0ddde51a1883d24a3fa3e174c539eaa175010b77c62ba5"
)

// honoModules puts the pinned hono package under dir/node_modules/hono:
// npm pack fetches its tarball (npm is the only client of its registry the
// machine has), the sha256 is checked, and Go unpacks it. Without npm the
// test is skipped, saying why; under CI=true that is a failure, since
// .ci/run installs npm.
func honoModules(t *testing.T, dir string) {
	t.Helper()
	npm, err := exec.LookPath("npm")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("npm is not installed, and CI needs the Hono test (.ci/run installs nodejs and npm)")
		}
		t.Skip("npm is not installed (apt-get install nodejs npm): the Hono fixture comes from the npm registry")
	}
	packDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "pack", "hono@"+honoVersion, "--pack-destination", packDir, "--silent")
	cmd.Dir = packDir
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm pack hono@%s: %v\n%s", honoVersion, err, out)
	}
	tgz, err := os.ReadFile(filepath.Join(packDir, "hono-"+honoVersion+".tgz"))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(tgz); hex.EncodeToString(sum[:]) != honoSHA256 {
		t.Fatalf("hono-%s.tgz has sha256 %x, want %s", honoVersion, sum, honoSHA256)
	}
	if err := untarPackage(tgz, filepath.Join(dir, "node_modules", "hono")); err != nil {
		t.Fatalf("unpack hono: %v", err)
	}
}

// untarPackage unpacks an npm tarball's package/ directory into dst,
// regular files and directories only, refusing paths that leave dst.
func untarPackage(tgz []byte, dst string) error {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(h.Name)
		rel, ok := strings.CutPrefix(name, "package/")
		if !ok || !fs.ValidPath(rel) {
			return fmt.Errorf("unexpected entry %q", h.Name)
		}
		p := filepath.Join(dst, filepath.FromSlash(rel))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			b, err := io.ReadAll(io.LimitReader(tr, 16<<20))
			if err != nil {
				return err
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				return err
			}
		}
	}
}

// copyTree copies the fixture directory src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// runCfdeploy runs the real cfdeploy binary in dir against s.
func runCfdeploy(t *testing.T, s *server, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cfdeployBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CFDEPLOY_HOST="+s.url(""), "CFDEPLOY_TOKEN="+s.token, "NO_COLOR=1", "XDG_CACHE_HOME="+filepath.Join(dir, ".cache"))
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// TestJSHono deploys a Hono app — hono from npm, TypeScript, bundled by the
// real cfdeploy — to a real cfhost, and drives it over HTTP: routing with
// a parameter and a query, JSON, a POST body, a header middleware, an
// error handler and the env.ASSETS fall-through to the static files.
// cfdeploy tail, following, shows the app's console lines as they come.
func TestJSHono(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds cfhost and cfdeploy, fetches hono with npm")
	}
	dir := t.TempDir()
	copyTree(t, "testdata/hono", dir)
	honoModules(t, dir)
	s := startServer(t, "")

	if _, stderr, err := runCfdeploy(t, s, dir, "init"); err != nil {
		t.Fatalf("cfdeploy init: %v\n%s", err, stderr)
	}
	out, stderr, err := runCfdeploy(t, s, dir, "deploy", "--dry-run", "--json")
	if err != nil {
		t.Fatalf("cfdeploy deploy --dry-run: %v\n%s", err, stderr)
	}
	var dry struct {
		Settings struct {
			Bundled       bool `json:"bundled"`
			ServerModules []struct {
				Name  string `json:"name"`
				Bytes int    `json:"bytes"`
			} `json:"serverModules"`
		} `json:"settings"`
	}
	if err := json.Unmarshal([]byte(out), &dry); err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if !dry.Settings.Bundled || len(dry.Settings.ServerModules) != 1 || dry.Settings.ServerModules[0].Name != "index.js" {
		t.Fatalf("dry run modules: %+v", dry.Settings)
	}
	t.Logf("bundle: %s, %d bytes", dry.Settings.ServerModules[0].Name, dry.Settings.ServerModules[0].Bytes)

	out, stderr, err = runCfdeploy(t, s, dir, "deploy", "--json")
	if err != nil {
		t.Fatalf("cfdeploy deploy: %v\n%s", err, stderr)
	}
	var dep struct {
		Project api.Project `json:"project"`
	}
	if err := json.Unmarshal([]byte(out), &dep); err != nil || dep.Project.ID == "" {
		t.Fatalf("deploy output %v: %s", err, out)
	}
	id := dep.Project.ID

	// cfdeploy tail follows the project's log from here on.
	tailCtx, stopTail := context.WithCancel(context.Background())
	tail := exec.CommandContext(tailCtx, cfdeployBinary(t), "tail", id)
	tail.Dir = dir
	tail.Env = append(os.Environ(), "CFDEPLOY_HOST="+s.url(""), "CFDEPLOY_TOKEN="+s.token, "NO_COLOR=1")
	tailOut, err := tail.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stopTail()
		tail.Wait()
	}()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(tailOut)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	hc := plainHTTP()
	get := func(p string) (*http.Response, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		resp, body, err := fetch(ctx, hc, s.projectURL(id, p), nil)
		if err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		return resp, string(body)
	}

	resp, body := get("/api/hello")
	if resp.StatusCode != 200 || strings.TrimSpace(body) != `{"message":"Hello, Hono!"}` || resp.Header.Get("X-Powered-By") != "hono-on-cfhost" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("/api/hello: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = get("/api/users/42?sort=name")
	if resp.StatusCode != 200 || strings.TrimSpace(body) != `{"id":"42","sort":"name"}` {
		t.Fatalf("/api/users/42: %d %q", resp.StatusCode, body)
	}

	post, err := http.NewRequest("POST", s.projectURL(id, "/api/echo"), strings.NewReader(`{"name":"Ada","langs":["js","go"]}`))
	if err != nil {
		t.Fatal(err)
	}
	post.Header.Set("Content-Type", "application/json")
	presp, err := hc.Do(post)
	if err != nil {
		t.Fatal(err)
	}
	pbody, _ := io.ReadAll(presp.Body)
	presp.Body.Close()
	if presp.StatusCode != 201 || strings.TrimSpace(string(pbody)) != `{"received":{"name":"Ada","langs":["js","go"]},"length":34}` || presp.Header.Get("X-Powered-By") != "hono-on-cfhost" {
		t.Fatalf("POST /api/echo: %d %q", presp.StatusCode, pbody)
	}

	resp, body = get("/api/fail")
	if resp.StatusCode != 500 || !strings.Contains(body, "hono handler failed on purpose") {
		t.Fatalf("/api/fail: %d %q", resp.StatusCode, body)
	}

	// What the app does not route is the site's static files, through
	// env.ASSETS and the host's asset pipeline.
	resp, body = get("/")
	if resp.StatusCode != 200 || !strings.Contains(body, "static home of the hono app") || resp.Header.Get("X-Powered-By") != "" {
		t.Fatalf("/: %d %q", resp.StatusCode, body)
	}
	resp, body = get("/style.css")
	if resp.StatusCode != 200 || !strings.Contains(body, "teal") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("/style.css: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp, _ := get("/no/such/file"); resp.StatusCode != 404 {
		t.Fatalf("/no/such/file: %d", resp.StatusCode)
	}

	// The console lines of the requests above reach cfdeploy tail.
	want := []string{"POST /api/echo [log] echo for Ada", "GET /api/fail [error] onError: hono handler failed on purpose"}
	deadline := time.After(60 * time.Second)
	for len(want) > 0 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("cfdeploy tail ended; still waiting for %q", want)
			}
			if strings.Contains(l, want[0]) {
				want = want[1:]
			}
		case <-deadline:
			t.Fatalf("cfdeploy tail did not show %q within 60s", want)
		}
	}
}
