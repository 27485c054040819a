package assets

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// benchWriter is a ResponseWriter that is reset between requests, so a
// benchmark counts the pipeline's own allocations, not a recorder's.
type benchWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(status int)      { w.status = status }
func (w *benchWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

// BenchmarkServeAsset measures a cached-asset hit through the whole
// pipeline, from the raw request target to the body write, with the
// Cloudflare headers and a typical _headers file in place.
func BenchmarkServeAsset(b *testing.B) {
	page := strings.Repeat("<p>hello</p>\n", 4096/13)
	js := strings.Repeat("console.log(1);\n", 100<<10/16)
	headers := "/*\n  X-Frame-Options: DENY\n  X-Content-Type-Options: nosniff\n/assets/*\n  Cache-Control: public, max-age=31536000, immutable\n"
	cases := []struct {
		name, target string
		reqHeaders   map[string]string
		status       int
	}{
		{"html-4KiB", "/", nil, 200},
		{"js-100KiB", "/assets/app.js", nil, 200},
		{"js-100KiB-br", "/assets/app.js", map[string]string{"Accept-Encoding": "gzip, deflate, br"}, 200},
		{"pretty-url", "/about", nil, 200},
		{"not-modified", "/", map[string]string{"If-None-Match": `"` + sha([]byte(page))[:32] + `"`}, 304},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			site, _, _ := build(b, siteSpec{
				contents:   map[string]string{"/index.html": page, "/assets/app.js": js, "/about.html": page + "."},
				html:       rules.AutoTrailingSlash,
				headers:    headers,
				compressed: []string{"/assets/app.js"},
			})
			r := httptest.NewRequest("GET", c.target, nil)
			for k, v := range c.reqHeaders {
				r.Header.Set(k, v)
			}
			w := &benchWriter{h: http.Header{}}
			site.Serve(w, r, NewRequest(r)) // warm the cache
			if w.status != c.status {
				b.Fatalf("status %d, want %d", w.status, c.status)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				clear(w.h)
				pathname, search := ParseTarget(r.RequestURI)
				site.Serve(w, r, Request{Pathname: pathname, Search: search, Host: r.Host, Scheme: "http"})
			}
		})
	}
}

// BenchmarkParseTarget measures target parsing and decoding for targets
// that need work (dot segments, escapes, brackets).
func BenchmarkParseTarget(b *testing.B) {
	targets := []string{"/assets/app.min.js?v=1", "/blog/../a%20b/caf%C3%A9/", "/%5bx%5d//y"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p, _ := ParseTarget(targets[i%len(targets)])
		decodePath(p)
	}
}
