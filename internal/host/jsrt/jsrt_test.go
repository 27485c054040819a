package jsrt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/wasmcache"
)

// cacheDir is the compilation cache of the runtimes tests start without one
// of their own: the engine is compiled once per test binary (once per
// machine, with internal/wasmcache), not once per test.
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jsrt-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cacheDir = filepath.Join(dir, "cache")
	wasmcache.Seed(cacheDir)
	code := m.Run()
	wasmcache.Keep(cacheDir)
	os.RemoveAll(dir)
	os.Exit(code)
}

func newTestRuntime(t *testing.T, cfg Config) *Runtime {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = cacheDir
	}
	r, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

func jsProgram(entry string, files map[string]string, env map[string]string) *Program {
	p := &Program{Entrypoint: entry, Modules: map[string]Module{}, Env: env}
	for name, src := range files {
		p.Modules[name] = Module{Type: TypeFromName(name), Source: []byte(src)}
	}
	return p
}

func TestEngineMatchesPinnedSum(t *testing.T) {
	t.Parallel()
	if got := engineSum(); got != engineSHA256 {
		t.Fatalf("engine.wasm sha256 %s, generated table says %s", got, engineSHA256)
	}
}

func TestFetchJSONFromURLAndEnv(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	prog := jsProgram("src/index.js", map[string]string{
		"src/index.js": `import { greet } from "./lib/greet.js";
import config from "../config.json";
import tpl from "./t.txt";
import bin from "./d.bin";
let count = 0;
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    count++;
    return Response.json({
      path: url.pathname, q: url.searchParams.get("name"), greet: greet(env.WHO),
      cfg: config.mode, tpl, bytes: new Uint8Array(bin).length, count,
      method: request.method, ua: request.headers.get("user-agent"), body: await request.text(),
    }, { headers: { "x-test": "1" } });
  },
};`,
		"src/lib/greet.js": `export function greet(w) { return "hello " + w; }`,
		"config.json":      `{"mode":"prod"}`,
		"src/t.txt":        "template",
		"src/d.bin":        "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b",
	}, map[string]string{"WHO": "world"})
	if err := r.Validate(context.Background(), prog); err != nil {
		t.Fatal(err)
	}
	d := r.Load(prog)
	defer d.Close(context.Background())
	for i := 1; i <= 2; i++ {
		res, err := d.Fetch(context.Background(), &Request{Method: "POST", URL: "https://p.example/api/x?name=ada",
			Header: http.Header{"User-Agent": {"t"}}, Body: []byte("hi")})
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(res.Body, &got); err != nil {
			t.Fatalf("%v: %s", err, res.Body)
		}
		want := map[string]any{"path": "/api/x", "q": "ada", "greet": "hello world", "cfg": "prod", "tpl": "template",
			"bytes": 12.0, "count": float64(i), "method": "POST", "ua": "t", "body": "hi"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("request %d: %s = %v, want %v", i, k, got[k], v)
			}
		}
		if res.Status != 200 || res.Header.Get("X-Test") != "1" || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			t.Errorf("status %d headers %v", res.Status, res.Header)
		}
	}
}

func TestValidateRefuses(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"syntax error", map[string]string{"index.js": "export default {\n  fetch() { return 1 +; }\n};"}, "index.js:2:"},
		{"unresolved import", map[string]string{"index.js": `import x from "./nope.js"; export default { fetch() {} };`}, "nope.js"},
		{"no default", map[string]string{"index.js": `export const a = 1;`}, "default export with a fetch"},
		{"default without fetch", map[string]string{"index.js": `export default { get() {} };`}, "default export with a fetch"},
		{"throws at top level", map[string]string{"index.js": "throw new Error('boom');"}, "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := r.Validate(context.Background(), jsProgram("index.js", tc.files, nil))
			var je *Error
			if !errors.As(err, &je) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a JS error containing %q", err, tc.want)
			}
		})
	}
}

func TestHandlerExceptionIs500(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default { fetch() { console.log("before"); throw new TypeError("bad thing"); } };`}, nil))
	defer d.Close(context.Background())
	_, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/"})
	var f *Failure
	if !errors.As(err, &f) || f.Status != 500 || !strings.Contains(f.Err.Error(), "bad thing") || len(f.Logs) != 1 {
		t.Fatalf("got %#v", err)
	}
}

func TestEndlessLoopHitsDeadline(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{Timeout: 2 * time.Second})
	for _, tc := range []struct{ name, body string }{
		{"js loop", "while (true) {}"},
		{"redos", `/(a+)+$/.test("a".repeat(40) + "b");`},
		{"slow builtin", "for (;;) new Array(1e5).fill(0);"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default { fetch(req) {
				if (new URL(req.url).pathname === "/loop") { ` + tc.body + ` }
				return new Response("ok"); } };`}, nil))
			defer d.Close(context.Background())
			_, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/loop"})
			var f *Failure
			if !errors.As(err, &f) || f.Status != 504 {
				t.Fatalf("got %v, want a 504 failure", err)
			}
			res, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/"})
			if err != nil || string(res.Body) != "ok" {
				t.Fatalf("after the deadline: %v %v", res, err)
			}
		})
	}
}

func TestAllocationBombIs502(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{MemoryLimit: 48 << 20})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default { fetch() {
		const keep = [];
		for (;;) keep.push(new Uint8Array(1 << 20));
	} };`}, nil))
	defer d.Close(context.Background())
	_, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/"})
	var f *Failure
	if !errors.As(err, &f) || f.Status != 502 {
		t.Fatalf("got %v, want a 502 failure", err)
	}
}

// TestDeadlineDuringHostCalls stops a handler at its deadline while it
// calls into the host over and over: the deadline then lands inside a
// host function calling back into the engine, which must neither take the
// process down nor keep the instance.
func TestDeadlineDuringHostCalls(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{Timeout: 300 * time.Millisecond})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default { async fetch(req) {
		if (new URL(req.url).pathname === "/spin") for (;;) { console.log("x"); crypto.getRandomValues(new Uint8Array(16)); }
		return new Response("ok");
	} };`}, nil))
	defer d.Close(context.Background())
	for range 5 {
		_, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/spin"})
		var f *Failure
		if !errors.As(err, &f) || f.Status != 504 {
			t.Fatalf("got %v, want a 504 failure", err)
		}
	}
	r2 := newTestRuntime(t, Config{Timeout: 5 * time.Second})
	d2 := r2.Load(d.prog)
	defer d2.Close(context.Background())
	if res, err := d2.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/"}); err != nil || string(res.Body) != "ok" {
		t.Fatalf("after: %v %v", res, err)
	}
}
