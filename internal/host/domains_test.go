package host

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// TestNormalizeHostname checks which names a project may claim, and their
// stored form, against base domain cf.example.net.
func TestNormalizeHostname(t *testing.T) {
	t.Parallel()
	const base = "cf.example.net"
	cases := []struct {
		in, want string // want "" means refused
	}{
		{"www.example.com", "www.example.com"},
		{"WWW.Example.COM.", "www.example.com"},
		{"*.example.com", "*.example.com"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"a-b.example.com", "a-b.example.com"},
		{"", ""},
		{"com", ""},
		{"*.com", ""},
		{"*", ""},
		{"a.*.example.com", ""},
		{"127.0.0.1", ""},
		{"10.0.0.1.", ""},
		{"[::1]", ""},
		{"::1", ""},
		{"example.com:443", ""},
		{"bücher.example", ""},
		{"a_b.example.com", ""},
		{"-a.example.com", ""},
		{"a-.example.com", ""},
		{"a..example.com", ""},
		{".example.com", ""},
		{strings.Repeat("a", 64) + ".example.com", ""},
		{strings.Repeat("a.", 127) + "com", ""},
		{"localhost", ""},
		{"app.localhost", ""},
		{"cf.example.net", ""},
		{"proj.cf.example.net", ""},
		{"*.cf.example.net", ""},
		{"example.net", ""},   // above the base: its cookies reach every project
		{"*.example.net", ""}, // takes the base domain itself
		{"other.example.net", "other.example.net"},
		{"cf.example.net.evil.com", "cf.example.net.evil.com"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := normalizeHostname(c.in, base)
			if c.want == "" {
				if err == nil {
					t.Fatalf("accepted as %q", got)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// TestDomainsAPI drives the domains endpoints: add, list, the one-owner
// rule, project tokens reaching their own project only, the limit, removal,
// and a deleted project freeing its names.
func TestDomainsAPI(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.MaxProjectDomains = 2 })
	a, b := th.createProject("a"), th.createProject("b")
	pa, pb := "/__api/projects/"+a.ID+"/domains", "/__api/projects/"+b.ID+"/domains"

	resp, body := th.do("POST", pa, api.AddDomainRequest{Hostname: "WWW.Example.com"})
	d := want[api.DomainResponse](t, resp, body, 200)
	if d.Domain.Hostname != "www.example.com" || d.Domain.ProjectID != a.ID || d.Domain.CreatedAt.IsZero() {
		t.Fatalf("add: %s", body)
	}
	// Again: no change, no error.
	resp, body = th.do("POST", pa, api.AddDomainRequest{Hostname: "www.example.com"})
	want[api.DomainResponse](t, resp, body, 200)
	// Another project may not take it.
	resp, body = th.do("POST", pb, api.AddDomainRequest{Hostname: "www.example.com"})
	wantError(t, resp, body, http.StatusConflict, api.CodeConflict)
	if strings.Contains(string(body), a.ID) {
		t.Fatalf("the conflict names the owner: %s", body)
	}
	for _, bad := range []string{"127.0.0.1", "x.localhost", a.ID + ".localhost", "no_underscores.example.com", ""} {
		resp, body = th.do("POST", pa, api.AddDomainRequest{Hostname: bad})
		wantError(t, resp, body, http.StatusBadRequest, api.CodeInvalid)
	}
	resp, body = th.do("POST", pa, "not json")
	wantError(t, resp, body, http.StatusBadRequest, api.CodeInvalid)

	// A project token manages its own project's domains only.
	tokB := th.createToken(b.ID, "ci").Value
	asB := th.as(tokB)
	resp, body = asB.do("POST", pb, api.AddDomainRequest{Hostname: "*.b.example"})
	want[api.DomainResponse](t, resp, body, 200)
	resp, body = asB.do("GET", pa, nil)
	wantError(t, resp, body, http.StatusForbidden, api.CodeForbidden)
	resp, body = asB.do("DELETE", pa+"/www.example.com", nil)
	wantError(t, resp, body, http.StatusForbidden, api.CodeForbidden)
	resp, body = asB.do("POST", pa, api.AddDomainRequest{Hostname: "x.example.com"})
	wantError(t, resp, body, http.StatusForbidden, api.CodeForbidden)

	// The limit counts per project.
	resp, body = th.do("POST", pa, api.AddDomainRequest{Hostname: "example.com"})
	want[api.DomainResponse](t, resp, body, 200)
	resp, body = th.do("POST", pa, api.AddDomainRequest{Hostname: "third.example.com"})
	wantError(t, resp, body, http.StatusBadRequest, api.CodeInvalid)

	resp, body = th.do("GET", pa, nil)
	list := want[api.DomainListResponse](t, resp, body, 200)
	if len(list.Domains) != 2 || list.Domains[0].Hostname != "example.com" || list.Domains[1].Hostname != "www.example.com" {
		t.Fatalf("list: %s", body)
	}

	// Removing: a wildcard by its escaped name, then a name twice.
	resp, body = asB.do("DELETE", pb+"/%2A.b.example", nil)
	want[api.DeleteDomainResponse](t, resp, body, 200)
	resp, body = th.do("DELETE", pb+"/www.example.com", nil)
	wantError(t, resp, body, http.StatusNotFound, api.CodeNotFound)
	resp, body = th.do("DELETE", pa+"/example.com", nil)
	want[api.DeleteDomainResponse](t, resp, body, 200)
	resp, body = th.do("DELETE", pa+"/example.com", nil)
	wantError(t, resp, body, http.StatusNotFound, api.CodeNotFound)
	resp, body = th.do("GET", "/__api/projects/nope/domains", nil)
	wantError(t, resp, body, http.StatusNotFound, api.CodeNotFound)

	// Deleting project a frees www.example.com for b, and stops routing it.
	th.deploy(a.ID, siteFiles{"/index.html": "A"})
	if resp, got := th.fetch("www.example.com", "/"); resp.StatusCode != 200 || got != "A" {
		t.Fatalf("before delete: %d %q", resp.StatusCode, got)
	}
	resp, body = th.do("DELETE", "/__api/projects/"+a.ID, nil)
	want[api.DeleteProjectResponse](t, resp, body, 200)
	if resp, got := th.fetch("www.example.com", "/"); resp.StatusCode != 404 || got == "A" {
		t.Fatalf("after delete: %d %q", resp.StatusCode, got)
	}
	resp, body = th.do("POST", pb, api.AddDomainRequest{Hostname: "www.example.com"})
	want[api.DomainResponse](t, resp, body, 200)
}

// TestDomainRouting checks that custom domains reach their project's live
// deployment on every path, that an exact name wins over a wildcard, that
// wildcards take one label only, and that other hosts answer as before.
func TestDomainRouting(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	a, b := th.createProject("a"), th.createProject("b")
	th.deploy(a.ID, siteFiles{"/index.html": "A home", "/__project/x.txt": "A x"})
	th.deploy(b.ID, siteFiles{"/index.html": "B home"})
	for _, add := range []struct{ id, name string }{{a.ID, "a.example"}, {b.ID, "*.a.example"}, {a.ID, "www.a.example"}} {
		resp, body := th.do("POST", "/__api/projects/"+add.id+"/domains", api.AddDomainRequest{Hostname: add.name})
		want[api.DomainResponse](t, resp, body, 200)
	}
	cases := []struct {
		host, path string
		status     int
		body       string
	}{
		{"a.example", "/", 200, "A home"},
		{"A.EXAMPLE.:8080", "/", 200, "A home"},
		{"www.a.example", "/", 200, "A home"},
		{"shop.a.example", "/", 200, "B home"},
		{"deep.shop.a.example", "/", 404, ""},
		// The domain is the project's origin: no other project by path.
		{"a.example", "/__project/" + b.ID + "/", 404, ""},
		{"a.example", "/__project/x.txt", 200, "A x"},
		{"b.example", "/", 404, ""},
		{b.ID + ".localhost", "/", 200, "B home"},
	}
	for _, c := range cases {
		t.Run(c.host+c.path, func(t *testing.T) {
			resp, got := th.fetch(c.host, c.path)
			if resp.StatusCode != c.status || (c.body != "" && got != c.body) {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, got, c.status, c.body)
			}
			if c.body == "" && (strings.Contains(got, "A home") || strings.Contains(got, "B home")) {
				t.Fatalf("leaked a project: %q", got)
			}
		})
	}
	if !th.h.IsDomain("www.a.example") || th.h.IsDomain("shop.a.example") || th.h.IsDomain("b.example") {
		t.Fatal("IsDomain: certificates must be for exact names only")
	}
}

// TestDomainHTTPSRedirect checks that with HTTPS on, plain HTTP to a
// custom domain is sent to HTTPS with its target, and nothing else is.
func TestDomainHTTPSRedirect(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ port, location string }{{"443", "https://a.example/p?q=1"}, {"8443", "https://a.example:8443/p?q=1"}} {
		t.Run(c.port, func(t *testing.T) {
			th := newTestHost(t, func(cfg *Config) { cfg.HTTPSPort = c.port })
			a := th.createProject("a")
			th.deploy(a.ID, siteFiles{"/index.html": "A home"})
			resp, body := th.do("POST", "/__api/projects/"+a.ID+"/domains", api.AddDomainRequest{Hostname: "a.example"})
			want[api.DomainResponse](t, resp, body, 200)
			r, _ := th.fetch("a.example:8080", "/p?q=1")
			if r.StatusCode != http.StatusPermanentRedirect || r.Header.Get("Location") != c.location {
				t.Fatalf("got %d %q", r.StatusCode, r.Header.Get("Location"))
			}
			if r, got := th.fetch(a.ID+".localhost", "/"); r.StatusCode != 200 || got != "A home" {
				t.Fatalf("project host: %d %q", r.StatusCode, got)
			}
		})
	}
}
