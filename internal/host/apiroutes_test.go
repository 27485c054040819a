package host

import (
	"net/http"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// A wrong method gets 405 with every method the path takes in Allow, and
// the JSON error body; an unknown path gets the JSON 404.
func TestAPIMethodsAndAllow(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("routes")
	for _, c := range []struct {
		method, path, allow string
	}{
		{"PUT", "/__api/projects", "GET, HEAD, POST"},
		{"PUT", "/__api/projects/" + p.ID, "GET, HEAD, PATCH, DELETE"},
		{"GET", "/__api/projects/" + p.ID + "/deploy", "POST"},
		{"DELETE", "/__api/projects/" + p.ID + "/tokens", "GET, HEAD, POST"},
		{"POST", "/__api/projects/" + p.ID + "/env/NAME", "PUT, DELETE"},
		{"POST", "/__api/health", "GET, HEAD"},
	} {
		resp, body := th.do(c.method, c.path, nil)
		wantError(t, resp, body, http.StatusMethodNotAllowed, api.CodeMethod)
		if got := resp.Header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}
	for _, path := range []string{"/__api", "/__api/nope", "/__api/projects/" + p.ID + "/nope", "/__api/projects/x/../" + p.ID, "/__api/projects//" + p.ID} {
		resp, body := th.do("GET", path, nil)
		wantError(t, resp, body, http.StatusNotFound, api.CodeNotFound)
	}
	// One trailing slash is forgiven, as before.
	resp, body := th.do("GET", "/__api/projects/"+p.ID+"/", nil)
	if got := want[api.ProjectResponse](t, resp, body, http.StatusOK); got.Project.ID != p.ID {
		t.Fatalf("project %+v", got)
	}
}
