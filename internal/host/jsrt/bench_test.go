package jsrt

import (
	"context"
	"net/http"
	"testing"
)

// BenchmarkHelloFetch is one hello-world request on a reused instance,
// in-process (no HTTP): go test -run '^$' -bench HelloFetch ./internal/host/jsrt
func BenchmarkHelloFetch(b *testing.B) {
	r, err := New(context.Background(), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(context.Background())
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default { fetch(request) { return new Response("hello " + new URL(request.url).pathname); } };`}, nil))
	defer d.Close(context.Background())
	req := &Request{Method: "GET", URL: "http://x.localhost:8788/world", Header: http.Header{"User-Agent": {"wrk"}, "Accept": {"*/*"}}}
	if _, err := d.Fetch(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	cpu := startCPU()
	for b.Loop() {
		if _, err := d.Fetch(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// BenchmarkFirstRequest is a request on a fresh deployment: instantiation,
// runtime, shim and module evaluation included.
func BenchmarkFirstRequest(b *testing.B) {
	r, err := New(context.Background(), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(context.Background())
	prog := jsProgram("index.js", map[string]string{"index.js": `export default { fetch() { return new Response("hi"); } };`}, nil)
	req := &Request{Method: "GET", URL: "http://x/"}
	for b.Loop() {
		d := r.Load(prog)
		if _, err := d.Fetch(context.Background(), req); err != nil {
			b.Fatal(err)
		}
		d.Close(context.Background())
	}
}

// BenchmarkLoop is a request running a 1e6-iteration JS loop on a reused
// instance, with the engine's wasmstop probes (the hard stop for C builtins
// that never poll the interrupt handler) and without them:
// go test -run '^$' -bench Loop ./internal/host/jsrt
func BenchmarkLoop(b *testing.B) {
	for _, tc := range []struct {
		name string
		off  bool
	}{{"hardstop=on", false}, {"hardstop=off", true}} {
		b.Run(tc.name, func(b *testing.B) {
			r, err := New(context.Background(), Config{noHardStop: tc.off})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close(context.Background())
			d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default { fetch() {
				let s = 0;
				for (let i = 0; i < 1e6; i++) s = (s + i * 7) % 1000003;
				return new Response(String(s));
			} };`}, nil))
			defer d.Close(context.Background())
			req := &Request{Method: "GET", URL: "http://x/"}
			if _, err := d.Fetch(context.Background(), req); err != nil {
				b.Fatal(err)
			}
			cpu := startCPU()
			for b.Loop() {
				if _, err := d.Fetch(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
}
