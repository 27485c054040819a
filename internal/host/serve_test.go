package host

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// fetch GETs path on host (the Host header) without following redirects.
func (th *testHost) fetch(host, path string, header ...string) (*http.Response, string) {
	th.t.Helper()
	req, err := http.NewRequest("GET", th.srv.URL+path, nil)
	if err != nil {
		th.t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := *th.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		th.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestServeDeployedSite(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("site")
	th.deploy(p.ID, siteFiles{
		"/index.html":      "<h1>home</h1>",
		"/about.html":      "<h1>about</h1>",
		"/docs/index.html": "<h1>docs</h1>",
		"/app.js":          "console.log(1)",
	}, func(r *api.DeployRequest) {
		r.Config = &api.AssetConfig{Redirects: "/old /about 301\n", Headers: "/*\n  X-Frame-Options: DENY\n"}
	})
	sub := p.ID + ".localhost"
	cases := []struct {
		host, path string
		status     int
		body       string
		location   string
	}{
		{sub, "/", 200, "<h1>home</h1>", ""},
		{sub, "/about", 200, "<h1>about</h1>", ""},
		{sub, "/about.html", 307, "", "/about"},
		{sub, "/docs", 307, "", "/docs/"},
		{sub, "/old?x=1", 301, "", "/about?x=1"},
		{sub, "/missing", 404, "", ""},
		{"127.0.0.1", "/__project/" + p.ID + "/", 200, "<h1>home</h1>", ""},
		{"127.0.0.1", "/__project/" + p.ID + "/about.html", 307, "", "/__project/" + p.ID + "/about"},
		{"127.0.0.1", "/__project/" + p.ID + "/old", 301, "", "/__project/" + p.ID + "/about"},
		{"127.0.0.1", "/__project/" + p.ID + "/docs", 307, "", "/__project/" + p.ID + "/docs/"},
		{"127.0.0.1", "/__project/x/../" + p.ID + "/app.js", 200, "console.log(1)", ""},
	}
	for _, c := range cases {
		resp, body := th.fetch(c.host, c.path)
		if resp.StatusCode != c.status || body != c.body || resp.Header.Get("Location") != c.location {
			t.Errorf("%s%s: %d %q Location %q; want %d %q %q", c.host, c.path, resp.StatusCode, body, resp.Header.Get("Location"), c.status, c.body, c.location)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s%s: _headers not applied", c.host, c.path)
		}
	}
	// The bare path form is not the project's root: it redirects there
	// (TestProjectPathWithoutSlash), before any of the project's rules.
	if resp, _ := th.fetch("127.0.0.1", "/__project/"+p.ID); resp.StatusCode != 308 || resp.Header.Get("Location") != "/__project/"+p.ID+"/" {
		t.Errorf("/__project/%s: %d Location %q, want 308 to the slash form", p.ID, resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ := th.fetch(sub, "/app.js")
	etag := resp.Header.Get("ETag")
	if resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || len(etag) != 34 {
		t.Fatalf("headers %v", resp.Header)
	}
	if resp, _ := th.fetch(sub, "/app.js", "If-None-Match", etag); resp.StatusCode != 304 {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
}

func TestDefaultProject(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("dev")
	th.deploy(p.ID, siteFiles{"/index.html": "dev site"})
	th.h.SetDefaultProject(p.ID)
	if resp, body := th.fetch("127.0.0.1", "/"); resp.StatusCode != 200 || body != "dev site" {
		t.Fatalf("default project: %d %q", resp.StatusCode, body)
	}
	other := th.createProject("other")
	th.deploy(other.ID, siteFiles{"/index.html": "other site"})
	if _, body := th.fetch("127.0.0.1", "/__project/"+other.ID+"/"); body != "other site" {
		t.Fatalf("path mode must still reach other projects: %q", body)
	}
	th.h.SetDefaultProject("")
	if resp, _ := th.fetch("127.0.0.1", "/"); resp.StatusCode != 404 {
		t.Fatalf("without a default project: %d", resp.StatusCode)
	}
}

// TestRedeployIsAtomicForReaders keeps fetching two pages that must always
// come from the same deployment while the site is redeployed many times.
func TestRedeployIsAtomicForReaders(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("atomic")
	version := func(v int) siteFiles {
		return siteFiles{"/index.html": fmt.Sprintf("page v%d", v), "/app.js": fmt.Sprintf("js v%d", v)}
	}
	th.deploy(p.ID, version(0))
	var stop atomic.Bool
	var mixed, fetches atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				// One "page load": the deployment id a project response is
				// served from is not visible, so compare versions across
				// an immediately repeated pair and count only impossible
				// orders (a newer page followed by an older script).
				_, page := th.fetch(p.ID+".localhost", "/")
				_, js := th.fetch(p.ID+".localhost", "/app.js")
				var pv, jv int
				fmt.Sscanf(page, "page v%d", &pv)
				fmt.Sscanf(js, "js v%d", &jv)
				if jv < pv {
					mixed.Add(1)
				}
				fetches.Add(2)
			}
		})
	}
	for v := 1; v <= 15; v++ {
		th.deploy(p.ID, version(v))
		_, page := th.fetch(p.ID+".localhost", "/")
		if page != fmt.Sprintf("page v%d", v) {
			t.Errorf("after deploy %d the site serves %q", v, page)
		}
	}
	stop.Store(true)
	wg.Wait()
	if mixed.Load() != 0 {
		t.Fatalf("%d of %d fetches saw a script older than the page before it", mixed.Load(), fetches.Load())
	}
}

func TestPrecompressedVariants(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("gz")
	page := strings.Repeat("<p>hello compression</p>\n", 100)
	th.deploy(p.ID, siteFiles{"/index.html": page})
	waitCompressed(t, th)
	// Transport-level decompression would hide the encoding: ask by hand.
	req, _ := http.NewRequest("GET", th.srv.URL+"/", nil)
	req.Host = p.ID + ".localhost"
	req.Header.Set("Accept-Encoding", "br")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "br" || len(body) >= len(page) || !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("br variant: %v, %d bytes", resp.Header, len(body))
	}
}

var (
	helloOnce sync.Once
	helloWasm []byte
	helloErr  error
)

// buildHello compiles examples/go-hello for wasip1, once per test run.
func buildHello(t *testing.T) []byte {
	t.Helper()
	helloOnce.Do(func() {
		out := filepath.Join(t.TempDir(), "hello.wasm")
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "../../examples/go-hello")
		cmd.Env = append(cmd.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			helloErr = fmt.Errorf("build go-hello: %v\n%s", err, b)
			return
		}
		helloWasm, helloErr = os.ReadFile(out)
	})
	if helloErr != nil {
		t.Fatal(helloErr)
	}
	return helloWasm
}

func TestServerCode(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a wasm guest")
	}
	wasm := buildHello(t)
	th := newTestHost(t)
	p := th.createProject("fullstack")
	res := th.deploy(p.ID, siteFiles{"/index.html": "<h1>static</h1>", "/style.css": "b{}"}, func(r *api.DeployRequest) {
		r.ServerCode = &api.ServerCode{Entrypoint: "server.wasm", Modules: map[string]api.Module{
			"server.wasm": {Content: base64.StdEncoding.EncodeToString(wasm)},
		}}
		r.Env = map[string]string{"GREETING": "hi there"}
		r.Config = &api.AssetConfig{Headers: "/*\n  X-Static: yes\n"}
	})
	if !res.Project.HasServerCode || !res.Deployment.HasServerCode || res.DeployedServerCodeModules != 1 {
		t.Fatalf("deploy %+v", res)
	}
	sub := p.ID + ".localhost"
	// Assets win where they exist; the guest answers the rest.
	if resp, body := th.fetch(sub, "/style.css"); resp.StatusCode != 200 || body != "b{}" || resp.Header.Get("X-Static") != "yes" {
		t.Fatalf("asset: %d %q", resp.StatusCode, body)
	}
	resp, body := th.fetch(sub, "/api/time")
	if resp.StatusCode != 200 || !strings.Contains(body, `"greeting":"hi there"`) || resp.Header.Get("X-Static") != "" {
		t.Fatalf("guest: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	// The hand-off to assets (X-Accel-Redirect) goes through the pipeline,
	// and the guest's headers are added to the asset response.
	resp, body = th.fetch("127.0.0.1", "/__project/"+p.ID+"/home")
	if resp.StatusCode != 200 || body != "<h1>static</h1>" || resp.Header.Get("X-Served-By") != "go-hello" || resp.Header.Get("X-Static") != "yes" {
		t.Fatalf("hand-off: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	// Redeploying without server code removes it.
	res = th.deploy(p.ID, siteFiles{"/index.html": "<h1>static</h1>"})
	if res.Project.HasServerCode {
		t.Fatal("server code survived a deploy without it")
	}
	if resp, _ := th.fetch(sub, "/api/time"); resp.StatusCode != 404 {
		t.Fatalf("after removing server code: %d", resp.StatusCode)
	}
}

// TestTrustedProxyScheme checks that X-Forwarded-Proto counts only from a
// trusted proxy: a _redirects rule to https://<host>/… is same-origin (a
// relative Location) only when the request's scheme is https.
func TestTrustedProxyScheme(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		trust    string
		location string
	}{
		{"untrusted", "", "https://%s.localhost/y"},
		{"trusted", "127.0.0.0/8", "/y"},
	} {
		t.Run(c.name, func(t *testing.T) {
			th := newTestHost(t, func(cfg *Config) {
				if c.trust != "" {
					cfg.TrustProxy = []netip.Prefix{netip.MustParsePrefix(c.trust)}
				}
			})
			p := th.createProject("proxy")
			th.deploy(p.ID, siteFiles{"/index.html": "x"}, func(r *api.DeployRequest) {
				r.Config = &api.AssetConfig{Redirects: "/x https://" + p.ID + ".localhost/y 301\n"}
			})
			resp, _ := th.fetch(p.ID+".localhost", "/x", "X-Forwarded-Proto", "https")
			if want := strings.ReplaceAll(c.location, "%s", p.ID); resp.Header.Get("Location") != want {
				t.Fatalf("Location %q, want %q", resp.Header.Get("Location"), want)
			}
		})
	}
}
