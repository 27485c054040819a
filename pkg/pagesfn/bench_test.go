package pagesfn

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cfdeploy/cfdeploy/internal/host/jsrt"
)

// BenchmarkCompileFunctions: what a deploy of the Pages fixture spends
// compiling functions/ (export scan and bundle, TypeScript included).
func BenchmarkCompileFunctions(b *testing.B) {
	dir := filepath.Join("..", "..", "testdata", "pages-functions", "functions")
	for b.Loop() {
		if _, err := CompileFunctions(dir, "functions", nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoutedRequest: one request through the compiled router (two
// middleware levels and a [param] route of the fixture) on a reused
// instance; BenchmarkPlainRequest is a bare fetch handler, for the router's
// share.
func BenchmarkRoutedRequest(b *testing.B) {
	w, err := CompileFunctions(filepath.Join("..", "..", "testdata", "pages-functions", "functions"), "functions", nil)
	if err != nil {
		b.Fatal(err)
	}
	benchFetch(b, string(w.Source), "http://p.test/api/users/42")
}

func BenchmarkPlainRequest(b *testing.B) {
	benchFetch(b, `export default { fetch: (req) => new Response(JSON.stringify({ user: new URL(req.url).pathname.split("/").pop() }), { headers: { "content-type": "application/json" } }) };`, "http://p.test/api/users/42")
}

func benchFetch(b *testing.B, src, url string) {
	rt, err := jsrt.New(context.Background(), jsrt.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(context.Background())
	d := rt.Load(&jsrt.Program{Entrypoint: WorkerFile, Modules: map[string]jsrt.Module{WorkerFile: {Type: jsrt.TypeJS, Source: []byte(src)}}})
	defer d.Close(context.Background())
	req := &jsrt.Request{Method: "GET", URL: url, Assets: assets}
	if res, err := d.Fetch(context.Background(), req); err != nil || res.Status != 200 {
		b.Fatalf("%v %+v", err, res)
	}
	for b.Loop() {
		if _, err := d.Fetch(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
