package pagesfn

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cfdeploy/cfdeploy/internal/host/jsrt"
)

var shared struct {
	once sync.Once
	rt   *jsrt.Runtime
	err  error
}

// testRuntime is the real JS runtime, started once for the package's tests
// (compiling the engine is the slow part, above all under -race).
func testRuntime(t *testing.T) *jsrt.Runtime {
	t.Helper()
	shared.once.Do(func() { shared.rt, shared.err = jsrt.New(context.Background(), jsrt.Config{}) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.rt
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.rt != nil {
		shared.rt.Close(context.Background())
	}
	os.Exit(code)
}

// assets stands in for the deployment's static files behind env.ASSETS:
// it names the path it was asked for.
var assets = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusNotFound)
	w.Write([]byte("asset " + r.Method + " " + r.URL.Path))
})

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// answer is a handler that says which file answered, with its params and
// the data middleware left.
func answer(name string) string {
	return `export const onRequest = (ctx) => new Response("` + name + ` " + JSON.stringify(ctx.params) + (ctx.data.trail ? " " + ctx.data.trail : ""));` + "\n"
}

// TestCompiledRouter compiles a functions/ tree and runs it on the real JS
// runtime: which handler answers each request, with which params, after
// which middleware; a fall-through reaches env.ASSETS.
func TestCompiledRouter(t *testing.T) {
	root := writeTree(t, map[string]string{
		"functions/index.ts":              answer("index"),
		"functions/date.ts":               answer("date"),
		"functions/users/special.ts":      answer("special"),
		"functions/users/[user].ts":       answer("user") + `export const onRequestPost = (ctx) => new Response("user-post " + ctx.params.user);` + "\n",
		"functions/users/[[catchall]].ts": answer("catchall"),
		"functions/foo.ts":                answer("foo"),
		"functions/foo/index.ts":          answer("foo-index"),
		"functions/lib/helper.ts":         `export function shout(s: string): string { return s.toUpperCase(); }` + "\n",
		"functions/shout/[word].ts": `import { shout } from "../lib/helper";
export async function onRequestGet({ params }) { return new Response(shout(params.word as string)); }
`,
		"functions/_middleware.ts": `export const onRequest = [
  async (ctx) => { ctx.data.trail = "outer"; const r = await ctx.next(); r.headers.set("x-outer", "1"); return r; },
];
`,
		"functions/users/_middleware.ts": `export async function onRequest(ctx) {
  if (ctx.request.headers.get("x-block")) return new Response("blocked", { status: 403 });
  ctx.data.trail += ">users";
  return ctx.next();
}
`,
		"functions/echo/_middleware.ts": `export async function onRequestPost(ctx) { ctx.data.seen = await ctx.request.text(); return ctx.next(); }`,
		"functions/echo/index.ts":       `export async function onRequestPost(ctx) { return new Response(ctx.data.seen + "|" + await ctx.request.text()); }`,
		"functions/fail.ts":             `export function onRequest(ctx) { ctx.passThroughOnException(); throw new Error("boom"); }`,
		"functions/bad.ts":              `export function onRequest() { return "not a response"; }`,
	})
	w, err := CompileFunctions(filepath.Join(root, "functions"), "functions", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !w.RoutesGenerated || strings.Join(w.Routes.Include, " ") != "/*" {
		t.Fatalf("generated routes %+v", w.Routes)
	}
	rt := testRuntime(t)
	prog := &jsrt.Program{Entrypoint: w.Entrypoint, Modules: map[string]jsrt.Module{w.Entrypoint: {Type: jsrt.TypeJS, Source: w.Source}}}
	if err := rt.Validate(context.Background(), prog); err != nil {
		t.Fatalf("%v\n%s", err, w.Source)
	}
	d := rt.Load(prog)
	defer d.Close(context.Background())
	res, err := d.Fetch(context.Background(), &jsrt.Request{Method: "POST", URL: "http://p.test/echo", Body: []byte("note"), Assets: assets})
	if err != nil {
		t.Fatalf("a body read by middleware and by the handler: %v", err)
	}
	if string(res.Body) != "note|note" {
		t.Fatalf("a body read by middleware and by the handler: %q", res.Body)
	}
	for _, tc := range []struct {
		method, path string
		header       http.Header
		status       int
		body         string
	}{
		{"GET", "/", nil, 200, "index {} outer"},
		{"GET", "/date", nil, 200, "date {} outer"},
		{"GET", "/date/", nil, 200, "date {} outer"},
		{"GET", "/DATE", nil, 200, "date {} outer"},
		{"GET", "/users/special", nil, 200, `special {} outer>users`},
		{"GET", "/users/nevi", nil, 200, `user {"user":"nevi"} outer>users`},
		{"POST", "/users/nevi", nil, 200, `user-post nevi`},
		{"GET", "/users/nevi/foobar", nil, 200, `catchall {"catchall":["nevi","foobar"]} outer>users`},
		{"GET", "/users/a%20b", nil, 200, `user {"user":"a%20b"} outer>users`},
		{"GET", "/users", nil, 200, `catchall {} outer>users`},
		{"GET", "/users/nevi", http.Header{"X-Block": {"1"}}, 403, "blocked"},
		{"GET", "/foo", nil, 200, "foo-index {} outer"},
		{"GET", "/shout/hey", nil, 200, "HEY"},
		{"POST", "/shout/hey", nil, 404, "asset POST /shout/hey"},
		{"GET", "/lib/helper", nil, 404, "asset GET /lib/helper"},
		{"GET", "/nothing/here", nil, 404, "asset GET /nothing/here"},
		{"GET", "/fail", nil, 404, "asset GET /fail"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			res, err := d.Fetch(context.Background(), &jsrt.Request{Method: tc.method, URL: "http://p.test" + tc.path, Header: tc.header, Assets: assets})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.status || string(res.Body) != tc.body {
				t.Fatalf("%d %q, want %d %q", res.Status, res.Body, tc.status, tc.body)
			}
			if tc.status == 200 && tc.path != "/shout/hey" && tc.method == "GET" && res.Header.Get("X-Outer") != "1" {
				t.Errorf("the root middleware's header is missing: %v", res.Header)
			}
		})
	}
	_, err = d.Fetch(context.Background(), &jsrt.Request{Method: "GET", URL: "http://p.test/bad", Assets: assets})
	if err == nil || !strings.Contains(err.Error(), "must return a Response") {
		t.Fatalf("a handler returning a string: %v", err)
	}
}

// TestCompiledRouterHonoursRoutesJSON: a path _routes.json leaves out never
// runs a handler, even when the host hands it to the Worker (no asset
// answered it).
func TestCompiledRouterHonoursRoutesJSON(t *testing.T) {
	root := writeTree(t, map[string]string{
		"functions/[[all]].ts": answer("all"),
	})
	rj, err := ParseRoutesJSON([]byte(`{"version":1,"include":["/api/*"],"exclude":["/api/static/*"]}`))
	if err != nil {
		t.Fatal(err)
	}
	w, err := CompileFunctions(filepath.Join(root, "functions"), "functions", rj)
	if err != nil {
		t.Fatal(err)
	}
	if w.RoutesGenerated {
		t.Fatal("routes were generated despite _routes.json")
	}
	rt := testRuntime(t)
	d := rt.Load(&jsrt.Program{Entrypoint: w.Entrypoint, Modules: map[string]jsrt.Module{w.Entrypoint: {Type: jsrt.TypeJS, Source: w.Source}}})
	defer d.Close(context.Background())
	for path, want := range map[string]string{
		"/api/x":          `all {"all":["api","x"]}`,
		"/api/static/app": "asset GET /api/static/app",
		"/about":          "asset GET /about",
		"/api":            "asset GET /api",
	} {
		res, err := d.Fetch(context.Background(), &jsrt.Request{Method: "GET", URL: "http://p.test" + path, Assets: assets})
		if err != nil {
			t.Fatal(err)
		}
		if string(res.Body) != want {
			t.Errorf("%s: %q, want %q", path, res.Body, want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"syntax error names file, line and column", map[string]string{"functions/api/x.ts": "export const onRequest = ( => 1;\n"}, "functions/api/x.ts:1:"},
		{"missing import", map[string]string{"functions/x.ts": "import { y } from './nope';\nexport const onRequest = () => new Response(y);\n"}, `functions/x.ts:1:19: Could not resolve "./nope"`},
		{"bad file name", map[string]string{"functions/post-[id].ts": answer("x")}, "brackets must enclose the whole name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := writeTree(t, tc.files)
			_, err := CompileFunctions(filepath.Join(root, "functions"), "functions", nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	root := writeTree(t, map[string]string{"functions/lib/util.ts": "export const x = 1;\n", "functions/README.md": "hi"})
	if w, err := CompileFunctions(filepath.Join(root, "functions"), "functions", nil); w != nil || err != nil {
		t.Fatalf("a functions/ without handlers: %v %v, want nothing", w, err)
	}
}

func TestCompileAdvanced(t *testing.T) {
	root := writeTree(t, map[string]string{
		"dist/_worker.js/index.js": `import { hello } from "./lib/hello.js";
export default { fetch: (req, env) => new Response(hello()) };
`,
		"dist/_worker.js/lib/hello.js": `export const hello = () => "hi from the directory";`,
		"other/_worker.js":             `export default { fetch: () => new Response("file") };`,
		"empty/_worker.js/lib.js":      `export const x = 1;`,
	})
	w, err := CompileAdvanced(filepath.Join(root, "dist"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if w.Mode != ModeAdvanced || !strings.Contains(string(w.Source), "hi from the directory") {
		t.Fatalf("%+v", w)
	}
	if w, err := CompileAdvanced(filepath.Join(root, "other"), nil); err != nil || !strings.Contains(string(w.Source), `"file"`) {
		t.Fatalf("%v %v", w, err)
	}
	if _, err := CompileAdvanced(filepath.Join(root, "empty"), nil); err == nil || !strings.Contains(err.Error(), "without index.js") {
		t.Fatalf("a _worker.js directory without index.js: %v", err)
	}
	if w, err := CompileAdvanced(root, nil); w != nil || err != nil {
		t.Fatalf("no _worker.js: %v %v", w, err)
	}
}
