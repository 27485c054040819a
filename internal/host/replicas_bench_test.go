package host

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/internal/host/store/pgtest"
)

// BenchmarkServeProjectAssetOnPostgres is BenchmarkServeProjectAsset on a
// replica: a cached asset request's whole host path, for comparing the two
// stores side by side (go test -bench 'ServeProjectAsset'). The figures
// should agree, as a cache hit asks neither store anything.
func BenchmarkServeProjectAssetOnPostgres(b *testing.B) {
	dsn := pgtest.DSN(b)
	th := newTestHost(&testing.T{}, func(c *Config) { c.Database = dsn })
	p := th.createProject("bench")
	th.deploy(p.ID, siteFiles{"/index.html": strings.Repeat("x", 4096)})
	req := httptest.NewRequest("GET", "/", nil)
	req.Host = p.ID + ".localhost"
	w := &discardWriter{h: http.Header{}}
	th.h.ServeHTTP(w, req) // compile the site and fill the cache
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		th.h.ServeHTTP(w, req)
	}
}
