package host

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

func TestScopeCookieToPrefix(t *testing.T) {
	t.Parallel()
	const prefix = "/__project/p1"
	for _, c := range []struct{ in, want string }{
		{"a=1", "a=1; Path=/__project/p1"},
		{"a=1; Path=/", "a=1; Path=/__project/p1"},
		{"a=1; Path=/app/", "a=1; Path=/__project/p1/app/"},
		{"a=1; path=/x; Path=/y", "a=1; Path=/__project/p1/y"},
		{"a=1; Path=relative", "a=1; Path=/__project/p1"},
		{"a=1; Path=", "a=1; Path=/__project/p1"},
		{"a=1; Domain=localhost; HttpOnly", "a=1; HttpOnly; Path=/__project/p1"},
		{"a=1; DOMAIN=.example.com; domain=p1.example.com; Secure; SameSite=Lax", "a=1; Secure; SameSite=Lax; Path=/__project/p1"},
		{"a=1;Max-Age=60;  Path=/q  ", "a=1; Max-Age=60; Path=/__project/p1/q"},
		{"a=1; ; =x; Path=/", "a=1; Path=/__project/p1"},
		{"a=1; Path=/" + strings.Repeat("x", 1100), "a=1; Path=/__project/p1"},
		{"__Host-id=1; Path=/; Secure", "__Host-id=1; Secure; Path=/__project/p1"},
	} {
		t.Run(c.in[:min(len(c.in), 40)], func(t *testing.T) {
			if got := scopeCookieToPrefix(c.in, prefix); got != c.want {
				t.Errorf("scopeCookieToPrefix(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestDropParentDomain(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, host, base, want string }{
		{"a=1; Domain=example.com", "p1.example.com", "example.com", "a=1"},
		{"a=1; Domain=.EXAMPLE.com; Path=/", "p1.example.com:8788", "example.com", "a=1; Path=/"},
		{"a=1; Domain=com", "p1.example.com", "example.com", "a=1"},
		{"a=1; Domain=p2.example.com", "p1.example.com", "example.com", "a=1"},
		{"a=1; Domain=ex%61mple.com", "p1.example.com", "example.com", "a=1"},
		{"a=1; Domain=example.com.", "p1.example.com", "example.com", "a=1"},
		{"a=1; Domain=", "p1.example.com", "example.com", "a=1"},
		// The project's own host only adds its subdomains, where no
		// project lives.
		{"a=1; Domain=p1.example.com; Path=/", "p1.example.com:8788", "example.com", "a=1; Domain=p1.example.com; Path=/"},
		{"a=1; Domain=.P1.example.com", "p1.example.com.", "example.com", "a=1; Domain=.P1.example.com"},
		// The default project is served on the base domain itself.
		{"a=1; Domain=example.com", "example.com", "example.com", "a=1"},
		{"a=1; Path=/; Secure", "p1.example.com", "example.com", "a=1; Path=/; Secure"},
		{"domain=x; Path=/", "p1.example.com", "example.com", "domain=x; Path=/"},
	} {
		t.Run(c.in, func(t *testing.T) {
			if got := dropParentDomain(c.in, c.host, c.base); got != c.want {
				t.Errorf("dropParentDomain(%q, %q, %q) = %q, want %q", c.in, c.host, c.base, got, c.want)
			}
		})
	}
}

func TestOriginOnlyClearSiteData(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{`"cache", "storage"`}, `"cache", "storage"`},
		{[]string{`"cookies"`}, ``},
		{[]string{`"Cookies", "storage"`}, `"storage"`},
		{[]string{`"*"`}, `"cache", "storage", "executionContexts"`},
		{[]string{`"cache"`, `"cookies" ,"executionContexts"`}, `"cache", "executionContexts"`},
		{[]string{` , `}, ``},
	} {
		if got := originOnlyClearSiteData(c.in); got != c.want {
			t.Errorf("originOnlyClearSiteData(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// hostileHeaders is a _headers file that tries to reach other projects'
// browser state from a project's assets.
const hostileHeaders = `/*
  Set-Cookie: toss=1; Domain=localhost; Path=/
  Service-Worker-Allowed: /
  Clear-Site-Data: "cookies", "storage"
/sub/*
  Set-Cookie: deep=2; Path=/sub/
`

// TestIsolationAssets serves a site whose _headers set cookies for the
// whole base domain and a service worker scope of "/", by path and by
// subdomain: in path mode its cookies stay under its prefix and the
// service-worker and site-data headers are gone; by subdomain the cookie
// loses its Domain and keeps its Path.
func TestIsolationAssets(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("tosser")
	th.deploy(p.ID, siteFiles{"/index.html": "<h1>hi</h1>", "/sub/page.html": "sub", "/sw.js": "//"}, func(r *api.DeployRequest) {
		r.Config = &api.AssetConfig{Headers: hostileHeaders}
	})
	prefix := "/__project/" + p.ID
	for _, c := range []struct {
		name, host, path string
		cookies          []string
		keepsSW          bool
	}{
		{"path mode", "127.0.0.1", prefix + "/sw.js", []string{"toss=1; Path=" + prefix}, false},
		{"path mode, nested rule", "127.0.0.1", prefix + "/sub/page", []string{"toss=1; Path=" + prefix, "deep=2; Path=" + prefix + "/sub/"}, false},
		{"path mode 304", "127.0.0.1", prefix + "/sw.js", []string{"toss=1; Path=" + prefix}, false},
		{"subdomain", p.ID + ".localhost", "/sw.js", []string{"toss=1; Path=/"}, true},
		{"subdomain, nested rule", p.ID + ".localhost:80", "/sub/page", []string{"toss=1; Path=/", "deep=2; Path=/sub/"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var extra []string
			if strings.HasSuffix(c.name, "304") {
				resp, _ := th.fetch(c.host, c.path)
				extra = []string{"If-None-Match", resp.Header.Get("Etag")}
			}
			resp, _ := th.fetch(c.host, c.path, extra...)
			if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotModified {
				t.Fatalf("GET %s: %s", c.path, resp.Status)
			}
			if got := resp.Header.Values("Set-Cookie"); !slices.Equal(got, c.cookies) {
				t.Errorf("Set-Cookie %q, want %q", got, c.cookies)
			}
			for _, name := range []string{"Service-Worker-Allowed", "Clear-Site-Data"} {
				if _, has := resp.Header[name]; has != c.keepsSW {
					t.Errorf("%s present = %v, want %v", name, has, c.keepsSW)
				}
			}
			// "cookies" would clear every project's cookies.
			if got := resp.Header.Get("Clear-Site-Data"); c.keepsSW && got != `"storage"` {
				t.Errorf("Clear-Site-Data %q, want only \"storage\"", got)
			}
		})
	}
}

var (
	tosserOnce sync.Once
	tosserWasm []byte
	tosserErr  error
)

// buildTosser compiles testdata/guests/tosser for wasip1, once per run.
func buildTosser(t *testing.T) []byte {
	t.Helper()
	tosserOnce.Do(func() {
		out := filepath.Join(t.TempDir(), "tosser.wasm")
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./testdata/guests/tosser")
		cmd.Env = append(cmd.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			tosserErr = fmt.Errorf("build tosser: %v\n%s", err, b)
			return
		}
		tosserWasm, tosserErr = os.ReadFile(out)
	})
	if tosserErr != nil {
		t.Fatal(tosserErr)
	}
	return tosserWasm
}

// TestIsolationServerCode: the same rewriting applies to what server code
// sends, including its redirects in path mode, which keep their prefix.
func TestIsolationServerCode(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a wasm guest")
	}
	wasm := buildTosser(t)
	th := newTestHost(t, func(c *Config) { c.BaseDomain = "example.test" })
	p := th.createProject("tosser")
	th.deploy(p.ID, siteFiles{"/index.html": "<h1>static</h1>"}, func(r *api.DeployRequest) {
		r.ServerCode = &api.ServerCode{Entrypoint: "tosser.wasm", Modules: map[string]api.Module{
			"tosser.wasm": {Content: base64.StdEncoding.EncodeToString(wasm)},
		}}
	})
	prefix := "/__project/" + p.ID
	sub := p.ID + ".example.test"
	for _, c := range []struct {
		name, host, path string
		cookies          []string
		keepsSW          bool
		location         string
	}{
		{"path mode", "127.0.0.1", prefix + "/api?domain=example.test", []string{"toss=1; Path=" + prefix, "plain=2; Path=" + prefix}, false, ""},
		{"path mode redirect", "127.0.0.1", prefix + "/redirect?domain=127.0.0.1", []string{"toss=1; Path=" + prefix, "plain=2; Path=" + prefix}, false, prefix + "/next"},
		{"subdomain, base domain", sub, "/api?domain=.Example.Test", []string{"toss=1; Path=/", "plain=2"}, true, ""},
		{"subdomain, own host", sub, "/api?domain=" + sub, []string{"toss=1; Domain=" + sub + "; Path=/", "plain=2"}, true, ""},
		{"subdomain redirect", sub, "/redirect?domain=test", []string{"toss=1; Path=/", "plain=2"}, true, "/next"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := th.fetch(c.host, c.path)
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusFound {
				t.Fatalf("GET %s: %s %q", c.path, resp.Status, body)
			}
			if got := resp.Header.Values("Set-Cookie"); !slices.Equal(got, c.cookies) {
				t.Errorf("Set-Cookie %q, want %q", got, c.cookies)
			}
			for _, name := range []string{"Service-Worker-Allowed", "Clear-Site-Data"} {
				if _, has := resp.Header[name]; has != c.keepsSW {
					t.Errorf("%s present = %v, want %v", name, has, c.keepsSW)
				}
			}
			// "cookies" would clear every project's cookies.
			if got := resp.Header.Get("Clear-Site-Data"); c.keepsSW && got != `"storage"` {
				t.Errorf("Clear-Site-Data %q, want only \"storage\"", got)
			}
			if got := resp.Header.Get("Location"); got != c.location {
				t.Errorf("Location %q, want %q", got, c.location)
			}
		})
	}
}

// TestPathModeNotBelowProjectHost: path mode is not served on names below a
// project's host (where a project's script could set cookies for that
// project), and is served on any other name or address.
func TestPathModeNotBelowProjectHost(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.BaseDomain = "example.test" })
	p := th.createProject("site")
	th.deploy(p.ID, siteFiles{"/index.html": "<h1>hi</h1>"})
	path := "/__project/" + p.ID + "/"
	for _, c := range []struct {
		host   string
		served bool
	}{
		{"example.test", true},
		{"EXAMPLE.test.:8080", true},
		{"a.b.example.test", false},
		{"a." + p.ID + ".example.test", false},
		{"A.B.C.EXAMPLE.TEST.:80", false},
		{"127.0.0.1", true},
		{"[::1]:8080", true},
		{"localhost", true},
		{"deploy.example.org", true},
		{"notexample.test", true},
	} {
		t.Run(c.host, func(t *testing.T) {
			resp, body := th.fetch(c.host, path)
			if c.served && (resp.StatusCode != http.StatusOK || body != "<h1>hi</h1>") {
				t.Errorf("%s%s: %s %q, want the project", c.host, path, resp.Status, body)
			}
			if !c.served && (resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "could set cookies for that project")) {
				t.Errorf("%s%s: %s %q, want 404 saying why", c.host, path, resp.Status, body)
			}
		})
	}
	// By subdomain the project is served as ever, whatever the path.
	if resp, body := th.fetch(p.ID+".example.test", "/"); resp.StatusCode != http.StatusOK || body != "<h1>hi</h1>" {
		t.Errorf("by subdomain: %s %q", resp.Status, body)
	}
}

// TestPathRoutingOff: with path routing off, /__project/<id>/ is a 404
// that says why, while the same project by subdomain is served.
func TestPathRoutingOff(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.DisablePathRouting = true })
	p := th.createProject("site")
	th.deploy(p.ID, siteFiles{"/index.html": "<h1>hi</h1>"})
	for _, path := range []string{"/__project/" + p.ID + "/", "/__project/" + p.ID + "/index.html", "/x/../__project/" + p.ID + "/"} {
		resp, body := th.fetch("127.0.0.1", path)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "path routing is off") || strings.Contains(body, "<h1>") {
			t.Errorf("GET %s: %s %q, want 404 saying path routing is off", path, resp.Status, body)
		}
	}
	if resp, body := th.fetch("127.0.0.1", "/"); resp.StatusCode != http.StatusNotFound || strings.Contains(body, "/__project/") {
		t.Errorf("GET /: %s %q, want a 404 naming only the subdomain form", resp.Status, body)
	}
	if resp, body := th.fetch(p.ID+".localhost", "/"); resp.StatusCode != http.StatusOK || body != "<h1>hi</h1>" {
		t.Errorf("by subdomain: %s %q", resp.Status, body)
	}
	// On by default.
	on := newTestHost(t)
	q := on.createProject("site")
	on.deploy(q.ID, siteFiles{"/index.html": "<h1>hi</h1>"})
	if resp, body := on.fetch("127.0.0.1", "/__project/"+q.ID+"/"); resp.StatusCode != http.StatusOK || body != "<h1>hi</h1>" {
		t.Errorf("path routing on: %s %q", resp.Status, body)
	}
}

// BenchmarkServeProjectAssetPathMode is BenchmarkServeProjectAsset by path:
// a site without isolated headers pays nothing for isolation.
func BenchmarkServeProjectAssetPathMode(b *testing.B) {
	benchServe(b, "")
}

// BenchmarkServeProjectAssetIsolated serves, by path, a site whose _headers
// set a cookie and Service-Worker-Allowed: the cost of the rewriting.
func BenchmarkServeProjectAssetIsolated(b *testing.B) {
	benchServe(b, "/*\n  Set-Cookie: s=1; Domain=localhost; Path=/\n  Service-Worker-Allowed: /\n")
}

func benchServe(b *testing.B, headers string) {
	th := newTestHost(&testing.T{})
	p := th.createProject("bench")
	th.deploy(p.ID, siteFiles{"/index.html": strings.Repeat("x", 4096)}, func(r *api.DeployRequest) {
		r.Config = &api.AssetConfig{Headers: headers}
	})
	req := httptest.NewRequest("GET", "/__project/"+p.ID+"/", nil)
	w := &discardWriter{h: http.Header{}}
	th.h.ServeHTTP(w, req) // compile the site and fill the cache
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		th.h.ServeHTTP(w, req)
	}
}
