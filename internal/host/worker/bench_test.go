package worker

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// BenchmarkWorkerRequest measures one request through Serve: body
// buffering, the CGI environment, a fresh instance, the guest's run and the
// parse of its output. go-hello is examples/go-hello (net/http + cgi.Serve),
// go-plain a guest that uses only os and io. It reports p50 and p99 per
// request besides ns/op.
func BenchmarkWorkerRequest(b *testing.B) {
	for _, bc := range []struct{ name, guest, path string }{
		{"go-hello", "hello", "/"},
		{"go-plain", "plain", "/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rt, _ := newRuntime(b, Config{})
			p, _ := program(b, rt, bc.guest)
			req := httptest.NewRequest(http.MethodGet, "http://bench.test"+bc.path, nil)
			for range 5 { // warm up
				serveOnce(b, rt, p, req)
			}
			times := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				serveOnce(b, rt, p, req)
				times = append(times, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

func serveOnce(b *testing.B, rt *Runtime, p Program, req *http.Request) {
	w := httptest.NewRecorder()
	rt.Serve(w, req, p, Request{}, nil)
	if w.Code != http.StatusOK {
		b.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

// BenchmarkWorkerRequestParallel runs go-hello from GOMAXPROCS goroutines at
// once, as a loaded host does; ns/op is wall time per request across all.
func BenchmarkWorkerRequestParallel(b *testing.B) {
	rt, _ := newRuntime(b, Config{})
	p, _ := program(b, rt, "hello")
	req := httptest.NewRequest(http.MethodGet, "http://bench.test/", nil)
	for range 5 {
		serveOnce(b, rt, p, req)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			rt.Serve(w, req, p, Request{}, nil)
			if w.Code != http.StatusOK {
				b.Errorf("status %d", w.Code)
				return
			}
		}
	})
}

// BenchmarkGuestMode compares go-hello as a CGI guest (a fresh instance per
// request) with the same handler in guest mode (examples/go-guest, one
// pooled instance serving every request), through Serve.
func BenchmarkGuestMode(b *testing.B) {
	for _, bc := range []struct{ name, guest string }{
		{"cgi", "hello"},
		{"guest", "hello-guest"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rt, _ := newRuntime(b, Config{})
			p, _ := program(b, rt, bc.guest)
			p.Tenant, p.Deployment = "bench", "dep"
			req := httptest.NewRequest(http.MethodGet, "http://bench.test/", nil)
			for range 5 {
				serveOnce(b, rt, p, req)
			}
			times := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				serveOnce(b, rt, p, req)
				times = append(times, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
