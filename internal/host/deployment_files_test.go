package host

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// TestDeploymentFiles checks GET …/deployments/:did/files: a deployment's
// files as its manifest listed them, and nothing of another project's.
func TestDeploymentFiles(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	a := th.createProject("a")
	b := th.createProject("b")
	files := siteFiles{"/index.html": "hello", "/css/site.css": "body{}"}
	th.deploy(a.ID, files)
	did := th.activeDeployment(a.ID)
	th.deploy(b.ID, siteFiles{"/b.html": "b"})

	resp, body := th.do("GET", "/__api/projects/"+a.ID+"/deployments/"+did+"/files", nil)
	got := want[api.DeploymentFilesResponse](t, resp, body, http.StatusOK)
	if !reflect.DeepEqual(got.Files, files.manifest()) {
		t.Errorf("files = %+v, want %+v", got.Files, files.manifest())
	}

	tests := []struct {
		name   string
		path   string
		header []string
		status int
		code   api.Code
	}{
		{"another project's deployment", "/__api/projects/" + b.ID + "/deployments/" + did + "/files", nil, http.StatusNotFound, api.CodeNotFound},
		{"unknown deployment", "/__api/projects/" + a.ID + "/deployments/nope/files", nil, http.StatusNotFound, api.CodeNotFound},
		{"unknown project", "/__api/projects/nope/deployments/" + did + "/files", nil, http.StatusNotFound, api.CodeNotFound},
		{"no token", "/__api/projects/" + a.ID + "/deployments/" + did + "/files", []string{"Authorization", ""}, http.StatusUnauthorized, api.CodeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := th.do("GET", tt.path, nil, tt.header...)
			wantError(t, resp, body, tt.status, tt.code)
		})
	}
	resp, body = th.do("POST", "/__api/projects/"+a.ID+"/deployments/"+did+"/files", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d %s", resp.StatusCode, body)
	}
}
