package host

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// TestReplicaCacheHitTouchesNoDatabase: once a replica has served a
// project's pages, serving them again asks PostgreSQL nothing, whatever
// the request: an asset by id, slug or custom domain, a compressed
// variant, a redirect, a not-found page. A replica's static throughput
// then matches the SQLite build's, and a busy site puts no load on the
// shared database. The count is of connections taken from the replica's
// pool, which every query of the store goes through.
func TestReplicaCacheHitTouchesNoDatabase(t *testing.T) {
	t.Parallel()
	th := newReplicas(t, 1)[0]
	p := th.createProject("hits")
	page := strings.Repeat("<p>cached</p>\n", 200)
	th.deploy(p.ID, siteFiles{
		"/index.html":    page,
		"/app.js":        strings.Repeat("console.log(1);\n", 400),
		"/404.html":      "gone",
		"/_redirects":    "/old /index.html 301\n",
		"/_headers":      "/*\n  X-Test: yes\n",
		"/img/photo.png": "\x89PNG not really",
	})
	resp, body := th.do("PATCH", "/__api/projects/"+p.ID, api.UpdateProjectRequest{Slug: ptr("hits")})
	want[api.ProjectResponse](t, resp, body, http.StatusOK)
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/domains", map[string]string{"hostname": "www.hits.test"})
	if resp.StatusCode/100 != 2 {
		t.Fatalf("add domain: %d %s", resp.StatusCode, body)
	}
	waitCompressed(t, th)
	// The background jobs and the change feed query on their own
	// schedule; stopped, they leave only what requests do.
	th.h.stop()
	th.h.wg.Wait()

	type hit struct{ host, path, encoding string }
	var hits []hit
	for _, host := range []string{p.ID + ".localhost", "hits.localhost", "www.hits.test"} {
		for _, path := range []string{"/", "/index.html", "/app.js", "/img/photo.png", "/old", "/missing", "/__project/x/"} {
			for _, enc := range []string{"", "br", "gzip"} {
				hits = append(hits, hit{host, path, enc})
			}
		}
	}
	serve := func() {
		for _, h := range hits {
			resp, _ := th.fetch(h.host, h.path, "Accept-Encoding", h.encoding)
			if resp.StatusCode >= 500 {
				t.Fatalf("%s%s: %d", h.host, h.path, resp.StatusCode)
			}
		}
	}
	serve() // fills the site cache, the slug map and the asset cache
	before := th.h.pg.Acquires()
	serve()
	if n := th.h.pg.Acquires() - before; n != 0 {
		t.Fatalf("serving %d cached requests took %d database connections, want 0", len(hits), n)
	}
}
