package host

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the host and not a recorder.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkServeProjectAsset measures the whole host path of a cached asset
// request by subdomain: routing, the compiled site, the asset pipeline.
// Compare with BenchmarkServeAsset in internal/host/assets for the host's share.
func BenchmarkServeProjectAsset(b *testing.B) {
	th := newTestHost(&testing.T{})
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
