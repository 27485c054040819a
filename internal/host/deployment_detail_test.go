package host

import (
	"net/http"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// TestGetDeployment reads one deployment with its rules and settings, and
// refuses an unknown one, another project's and another project's token.
func TestGetDeployment(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	a, b := th.createProject("a"), th.createProject("b")
	d := th.deploy(a.ID, siteFiles{"/index.html": "hi"}, func(r *api.DeployRequest) {
		r.Config = &api.AssetConfig{NotFoundHandling: "404-page", Redirects: "/a /b 301\n", Headers: "/*\n  X-A: 1\n"}
	}).Deployment
	resp, body := th.do("GET", "/__api/projects/"+a.ID+"/deployments/"+d.ID, nil)
	got := want[api.DeploymentResponse](t, resp, body, http.StatusOK).Deployment
	if got.ID != d.ID || !got.Live || got.Config.NotFoundHandling != "404-page" || got.Config.Redirects != "/a /b 301\n" ||
		got.Config.Headers != "/*\n  X-A: 1\n" || got.Config.HTMLHandling == "" || got.URL != d.URL {
		t.Fatalf("deployment %+v, deployed %+v", got, d)
	}
	resp, body = th.do("GET", "/__api/projects/"+b.ID+"/deployments/"+d.ID, nil)
	wantError(t, resp, body, http.StatusNotFound, api.CodeNotFound)
	resp, body = th.do("GET", "/__api/projects/"+a.ID+"/deployments/nope", nil)
	wantError(t, resp, body, http.StatusNotFound, api.CodeNotFound)
	tok := th.createToken(b.ID, "b")
	resp, body = th.as(tok.Value).do("GET", "/__api/projects/"+a.ID+"/deployments/"+d.ID, nil)
	wantError(t, resp, body, http.StatusForbidden, api.CodeForbidden)
}
