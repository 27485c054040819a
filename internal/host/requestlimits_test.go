package host

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// A request target longer than MaxRequestTarget gets 414 before any
// project work, by subdomain and by path; one at the limit is served.
func TestRequestTargetLimit(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.MaxRequestTarget = 1000 })
	p := th.createProject("site")
	th.deploy(p.ID, siteFiles{"/index.html": "home"})
	sub := p.ID + ".localhost"
	prefix := "/__project/" + p.ID
	cases := []struct {
		host, target string
		status       int
	}{
		{sub, "/" + strings.Repeat("a", 999), http.StatusNotFound},
		{sub, "/" + strings.Repeat("a", 1000), http.StatusRequestURITooLong},
		{sub, "/?" + strings.Repeat("q", 998), http.StatusOK},
		{sub, "/?" + strings.Repeat("q", 999), http.StatusRequestURITooLong},
		{"127.0.0.1", prefix + "/" + strings.Repeat("a", 999-len(prefix)), http.StatusNotFound},
		{"127.0.0.1", prefix + "/" + strings.Repeat("a", 1000-len(prefix)), http.StatusRequestURITooLong},
	}
	for _, c := range cases {
		resp, body := th.fetch(c.host, c.target)
		if resp.StatusCode != c.status {
			t.Errorf("%s, a %d-byte target: %d %.80q, want %d", c.host, len(c.target), resp.StatusCode, body, c.status)
		}
	}
	if def := newTestHost(t); def.h.cfg.MaxRequestTarget != 16<<10 {
		t.Errorf("default MaxRequestTarget = %d, want 16 KiB", def.h.cfg.MaxRequestTarget)
	}
}

// A rule with more placeholders than a rule may have refuses the deploy
// with a 400 naming the file and line; the project keeps serving what it
// served.
func TestDeployRefusesTooManyPlaceholders(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("site")
	th.deploy(p.ID, siteFiles{"/index.html": "v1"})
	many := "/:a:b:c:d:e:f:g:h:i:j:k"
	for _, c := range []struct {
		cfg  api.AssetConfig
		want string
	}{
		{api.AssetConfig{Redirects: "/x /y\n" + many + " /z\n"}, "_redirects: line 2: "},
		{api.AssetConfig{Headers: "/a\n  X-A: 1\n\n" + many + "\n  X-B: 2\n"}, "_headers: line 4: "},
	} {
		req := api.DeployRequest{CompletionJWT: th.upload(p.ID, siteFiles{"/index.html": "v2"}), Config: &c.cfg}
		resp, body := th.do("POST", "/__api/projects/"+p.ID+"/deploy", req)
		wantError(t, resp, body, http.StatusBadRequest, api.CodeInvalid)
		if !strings.Contains(string(body), c.want) || !strings.Contains(string(body), "placeholders") {
			t.Errorf("error %s, want it to name %q", body, c.want)
		}
	}
	if _, body := th.fetch(p.ID+".localhost", "/"); body != "v1" {
		t.Errorf("after the refused deploys the site serves %q, want v1", body)
	}
}
