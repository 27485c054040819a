package host

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// /__metrics counts what the host did, by what answered, and asks for the
// admin token.
func TestMetrics(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("measured")
	th.deploy(p.ID, siteFiles{"/index.html": "<h1>measured</h1>", "/a.css": "body{}"})
	for _, path := range []string{"/", "/", "/a.css", "/missing"} {
		resp, err := http.Get(th.srv.URL + "/__project/" + p.ID + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, body := th.do("GET", "/__metrics", nil, "Authorization", "")
	wantError(t, resp, body, http.StatusUnauthorized, api.CodeUnauthorized)

	resp, body = th.do("GET", "/__metrics", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d %s", resp.StatusCode, body)
	}
	text := string(body)
	for _, want := range []string{
		`cfhost_http_requests_total{class="asset",code="2xx"} 3`,
		`cfhost_http_requests_total{class="asset",code="4xx"} 1`,
		`cfhost_http_response_bytes_total{class="asset"} 40`,
		`cfhost_upload_buckets_total 1`,
		`cfhost_deploys_duration_seconds_count{result="ok"} 1`,
		`cfhost_asset_cache_hits_total`,
		`cfhost_server_code_queued 0`,
		`cfhost_database_bytes`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(text, p.ID) {
		t.Error("metrics name a project: tenants could grow them without bound")
	}
}
