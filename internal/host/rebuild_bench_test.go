package host

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// bigManifest is n paths that all hold the same small page, the site the
// rebuild attack redeploys: one blob, n rows.
func bigManifest(n int) api.Manifest {
	page := "<p>same page</p>"
	m := make(api.Manifest, n)
	for i := range n {
		m[fmt.Sprintf("/p/%06d", i)] = api.ManifestEntry{Hash: sha([]byte(page)), Size: int64(len(page))}
	}
	return m
}

// BenchmarkRedeployBig measures the host's side of redeploying a
// 100,000-path site whose content it already has (session, deploy) and
// the first request after it (the site build).
func BenchmarkRedeployBig(b *testing.B) {
	th := newTestHost(&testing.T{}, func(c *Config) { c.DeployBudget, c.DeployShare = 1<<30, 100 })
	p := th.createProject("big")
	th.deploy(p.ID, siteFiles{"/p/000000": "<p>same page</p>"})
	m := bigManifest(100_000)
	for b.Loop() {
		resp, body := th.do("POST", "/__api/projects/"+p.ID+"/assets-upload-session", api.UploadSessionRequest{Manifest: m})
		sess := want[api.UploadSessionResponse](th.t, resp, body, http.StatusOK).Result
		resp, body = th.do("POST", "/__api/projects/"+p.ID+"/deploy", api.DeployRequest{CompletionJWT: sess.JWT})
		want[api.DeployResponse](th.t, resp, body, http.StatusOK)
		if _, err := th.h.sites.get(b.Context(), p.ID); err != nil {
			b.Fatal(err)
		}
	}
}
