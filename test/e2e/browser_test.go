package e2e

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// chromiumPath finds Debian's chromium, installing it with
// testdata/install-chromium.sh when missing. When the install is impossible
// it skips the test, saying why, or fails it under CI=true.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", "testdata/install-chromium.sh").Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is not installed and could not be installed (apt-get install chromium), and CI needs the browser tests: %s", strings.TrimSpace(msg))
		}
		t.Skipf("chromium is not installed and could not be installed (apt-get install chromium): %s", strings.TrimSpace(msg))
	}
	return strings.TrimSpace(string(out))
}

// headless runs chromium headless on url with extra flags and returns its
// stdout.
func headless(t *testing.T, chromium, url string, extra ...string) string {
	t.Helper()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir(), "--virtual-time-budget=10000"}
	args = append(append(args, extra...), url)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, stderr.String())
	}
	return stdout.String()
}

// deploySPA deploys testdata/spa with single-page-application fallback and,
// when withHeaders, its _headers file.
func deploySPA(t *testing.T, c *client.Client, id string, withHeaders bool) {
	t.Helper()
	cfg := &api.AssetConfig{NotFoundHandling: "single-page-application"}
	if withHeaders {
		h, err := os.ReadFile("testdata/spa/_headers")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Headers = string(h)
	}
	if _, err := c.Deploy(context.Background(), client.DeployOptions{ProjectID: id, Dir: "testdata/spa", Config: cfg, Ignorer: manifest.NewIgnorer(nil)}); err != nil {
		t.Fatal(err)
	}
}

var (
	renderedRE = regexp.MustCompile(`<body[^>]*data-rendered="yes"`)
	routeRE    = regexp.MustCompile(`data-route="([^"]*)"`)
	cssRE      = regexp.MustCompile(`data-css="([^"]*)"`)
	inlineRE   = regexp.MustCompile(`data-inline="ran"`)
)

// TestBrowser loads the deployed single-page-app fixture in Debian's
// headless Chromium, by subdomain as a user would: the ES module graph
// runs and renders, the stylesheet applies (Chromium refuses module scripts
// and stylesheets served with the wrong MIME type, and nosniff is on), a
// deep link served by the single-page-application fallback renders the app
// at that route, and the _headers CSP blocks the page's inline script (a
// second project without the _headers shows that script does run when
// allowed). A screenshot is saved under the test's temp dir (and copied to
// $CFHOST_E2E_ARTIFACTS when set) and checked for the stylesheet's banner.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real browser")
	}
	chromium := chromiumPath(t)
	srv := startServer(t, "", "--log-level", "warn")
	c := srv.client(t, client.Options{})
	id := createProject(t, c, "spa")
	deploySPA(t, c, id, true)
	port := srv.addr[strings.LastIndexByte(srv.addr, ':')+1:]
	origin := "http://" + id + ".localhost:" + port

	// What the browser is sent, as the test sees it over plain HTTP.
	hc := plainHTTP()
	for _, c := range []struct{ path, ctype string }{
		{"/assets/main.js", "text/javascript"},
		{"/assets/router.js", "text/javascript"},
		{"/assets/app.css", "text/css"},
		{"/", "text/html"},
		{"/deep/link/inside", "text/html"},
	} {
		resp, body, err := fetch(context.Background(), hc, srv.url(c.path), map[string]string{"Host": id + ".localhost:" + port})
		if err != nil {
			t.Fatal(err)
		}
		ct := resp.Header.Get("Content-Type")
		if resp.StatusCode != 200 || !strings.HasPrefix(ct, c.ctype) && !(c.ctype == "text/javascript" && strings.HasPrefix(ct, "application/javascript")) {
			t.Errorf("GET %s: %s, Content-Type %q; want 200 %s", c.path, resp.Status, ct, c.ctype)
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("GET %s: no CSP from _headers: %v", c.path, resp.Header)
		}
		if c.ctype == "text/html" && !bytes.Contains(body, []byte(`<main id="app">`)) {
			t.Errorf("GET %s: not the app's index.html: %.200q", c.path, body)
		}
	}

	t.Run("home renders", func(t *testing.T) {
		dom := headless(t, chromium, origin+"/", "--dump-dom")
		checkRendered(t, dom, "home")
		if inlineRE.MatchString(dom) {
			t.Errorf("the inline script ran despite the CSP:\n%s", dom)
		}
	})
	t.Run("deep link renders through the SPA fallback", func(t *testing.T) {
		dom := headless(t, chromium, origin+"/deep/link/inside", "--dump-dom")
		checkRendered(t, dom, "deep/link/inside")
		if inlineRE.MatchString(dom) {
			t.Errorf("the inline script ran despite the CSP:\n%s", dom)
		}
	})
	t.Run("without the CSP the inline script runs", func(t *testing.T) {
		open := createProject(t, c, "spa-no-csp")
		deploySPA(t, c, open, false)
		dom := headless(t, chromium, "http://"+open+".localhost:"+port+"/", "--dump-dom")
		checkRendered(t, dom, "home")
		if !inlineRE.MatchString(dom) {
			t.Errorf("the control page's inline script did not run, so the CSP check proves nothing:\n%s", dom)
		}
	})
	t.Run("screenshot", func(t *testing.T) {
		shot := filepath.Join(t.TempDir(), "spa-deep-link.png")
		headless(t, chromium, origin+"/deep/link/inside", "--screenshot="+shot, "--window-size=800,600", "--hide-scrollbars")
		b, err := os.ReadFile(shot)
		if err != nil {
			t.Fatalf("no screenshot: %v", err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("screenshot is not a PNG: %v", err)
		}
		// The banner of app.css fills the top 120 px with rgb(255, 87, 34).
		r, g, bl, _ := img.At(400, 60).RGBA()
		if r>>8 != 255 || g>>8 != 87 || bl>>8 != 34 {
			t.Errorf("the banner pixel is rgb(%d, %d, %d), not the stylesheet's rgb(255, 87, 34)", r>>8, g>>8, bl>>8)
		}
		t.Logf("screenshot: %s (%dx%d)", shot, img.Bounds().Dx(), img.Bounds().Dy())
		if dir := os.Getenv("CFHOST_E2E_ARTIFACTS"); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err == nil {
				os.WriteFile(filepath.Join(dir, "spa-deep-link.png"), b, 0o644)
			}
		}
	})
}

// checkRendered checks a dumped DOM for the app's marks: rendered by the
// module graph at route, with the stylesheet applied.
func checkRendered(t *testing.T, dom, route string) {
	t.Helper()
	if !renderedRE.MatchString(dom) {
		t.Fatalf("the ES modules did not render the app:\n%s", dom)
	}
	if m := routeRE.FindStringSubmatch(dom); m == nil || m[1] != route {
		t.Errorf("rendered route %v, want %q", m, route)
	}
	if m := cssRE.FindStringSubmatch(dom); m == nil || m[1] != "rgb(1, 2, 3)" {
		t.Errorf("the stylesheet did not apply: computed h1 colour %v", m)
	}
}
