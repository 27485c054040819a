package jsrt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fetchJSON runs one GET on a one-module deployment and decodes its JSON.
func fetchJSON(t *testing.T, r *Runtime, files map[string]string, req *Request) map[string]any {
	t.Helper()
	d := r.Load(jsProgram("index.js", files, map[string]string{"GREETING": "hi"}))
	t.Cleanup(func() { d.Close(context.Background()) })
	if req.Method == "" {
		req.Method = "GET"
	}
	res, err := d.Fetch(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(res.Body, &got); err != nil {
		t.Fatalf("%v: %s", err, res.Body)
	}
	return got
}

func TestAssetsFetchReadsAndChangesTheResponse(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	var seen []string
	assets := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.RequestURI())
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<h1>page " + r.URL.Path + "</h1>"))
	})
	got := fetchJSON(t, r, map[string]string{"index.js": `export default { async fetch(request, env) {
		const a = await env.ASSETS.fetch(request);
		const b = await env.ASSETS.fetch("/missing");
		const c = await env.ASSETS.fetch(new URL("/other?x=1", request.url));
		const changed = new Response((await a.text()).toUpperCase(), a);
		changed.headers.set("x-added", "1");
		return Response.json({ a: await changed.text(), type: a.headers.get("content-type"), added: changed.headers.get("x-added"),
			b: b.status, c: await c.text(), keys: Object.keys(env).sort(), greeting: env.GREETING });
	} };`}, &Request{URL: "https://p.example/page", Assets: assets})
	want := map[string]any{"a": "<H1>PAGE /PAGE</H1>", "type": "text/html", "added": "1", "b": 404.0, "c": "<h1>page /other</h1>", "greeting": "hi"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if fmt.Sprint(got["keys"]) != "[ASSETS GREETING]" {
		t.Errorf("env keys %v", got["keys"])
	}
	if strings.Join(seen, ",") != "GET /page,GET /missing,GET /other?x=1" {
		t.Errorf("assets saw %v", seen)
	}
}

func TestSubrequestLimit(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	var n atomic.Int32
	assets := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { n.Add(1); w.Write([]byte("x")) })
	got := fetchJSON(t, r, map[string]string{"index.js": `export default { async fetch(request, env) {
		let ok = 0, err = "";
		for (let i = 0; i < 60; i++) {
			try { await env.ASSETS.fetch("/a"); ok++; } catch (e) { err = e.message; break; }
		}
		return Response.json({ ok, err });
	} };`}, &Request{URL: "https://p.example/", Assets: assets})
	if got["ok"] != float64(DefaultSubrequests) || !strings.Contains(got["err"].(string), "Too many subrequests") || n.Load() != DefaultSubrequests {
		t.Fatalf("got %v after %d asset requests", got, n.Load())
	}
}

func TestWorkersGlobals(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	got := fetchJSON(t, r, map[string]string{"index.js": `export default { async fetch(request) {
		const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
		const enc = new TextEncoder();
		const sha = hex(await crypto.subtle.digest("SHA-256", enc.encode("abc")));
		const sha1 = hex(await crypto.subtle.digest({ name: "SHA-1" }, enc.encode("abc")));
		const key = await crypto.subtle.importKey("raw", enc.encode("key"), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
		const mac = await crypto.subtle.sign("HMAC", key, enc.encode("The quick brown fox jumps over the lazy dog"));
		const good = await crypto.subtle.verify("HMAC", key, mac, enc.encode("The quick brown fox jumps over the lazy dog"));
		const bad = await crypto.subtle.verify("HMAC", key, mac, enc.encode("other"));
		const rnd = crypto.getRandomValues(new Uint8Array(32));
		const uuid = crypto.randomUUID();
		const orig = { a: [1, { b: new Date(0) }], m: new Map([["k", new Set([1])]]) };
		orig.self = orig;
		const copy = structuredClone(orig);
		const order = [];
		const t0 = Date.now();
		await new Promise((res) => setTimeout(() => { order.push("timeout"); res(); }, 50));
		const waited = Date.now() - t0;
		queueMicrotask(() => order.push("micro"));
		const cancelled = setTimeout(() => order.push("cancelled"), 1);
		clearTimeout(cancelled);
		let ticks = 0;
		await new Promise((res) => { const id = setInterval(() => { if (++ticks === 3) { clearInterval(id); res(); } }, 5); });
		return Response.json({ sha, sha1, mac: hex(mac), good, bad, rnd: rnd.some((x) => x !== 0), uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(uuid),
			clone: copy !== orig && copy.self === copy && copy.a[1].b.getTime() === 0 && copy.m.get("k").has(1),
			waited: waited >= 45, order: order.join(","), ticks, cf: request.cf === undefined });
	} };`}, &Request{URL: "https://p.example/"})
	want := map[string]any{
		"sha":  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"sha1": "a9993e364706816aba3e25717850c26c9cd0d89d",
		"mac":  "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",
		"good": true, "bad": false, "rnd": true, "uuid": true, "clone": true, "waited": true,
		"order": "timeout,micro", "ticks": 3.0, "cf": true,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestStreamedResponseAndRequestBody(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default { async fetch(request) {
		let n = 0;
		for await (const c of request.body) n += c.length;
		const enc = new TextEncoder();
		let i = 0;
		const body = new ReadableStream({ async pull(c) {
			await new Promise((r) => setTimeout(r, 1));
			if (i < 3) c.enqueue(enc.encode("chunk" + i++ + ";")); else c.close();
		} });
		return new Response(body, { headers: { "x-read": String(n) } });
	} };`}, nil))
	defer d.Close(context.Background())
	w := &chunkWriter{}
	if _, err := d.Serve(context.Background(), &Request{Method: "POST", URL: "https://p.example/", Body: []byte("12345")}, w); err != nil {
		t.Fatal(err)
	}
	if w.length != -1 || strings.Join(w.chunks, "|") != "chunk0;|chunk1;|chunk2;" || w.header.Get("X-Read") != "5" {
		t.Fatalf("length %d chunks %q header %v", w.length, w.chunks, w.header)
	}
}

type chunkWriter struct {
	status int
	header http.Header
	length int64
	chunks []string
}

func (c *chunkWriter) WriteHead(status int, h http.Header, length int64) {
	c.status, c.header, c.length = status, h, length
}
func (c *chunkWriter) Write(p []byte) error { c.chunks = append(c.chunks, string(p)); return nil }

func TestWaitUntilRunsAfterTheResponse(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default { fetch(request, env, ctx) {
		ctx.waitUntil(new Promise((r) => setTimeout(r, 100)).then(() => console.log("after")));
		console.log("before");
		return new Response("now");
	} };`}, nil))
	defer d.Close(context.Background())
	w := &timedWriter{}
	start := time.Now()
	logs, err := d.Serve(context.Background(), &Request{Method: "GET", URL: "https://p.example/"}, w)
	if err != nil {
		t.Fatal(err)
	}
	if w.at.IsZero() || time.Since(start) < 100*time.Millisecond || len(logs) != 2 || logs[1][1] != "after" {
		t.Fatalf("response at %v, served in %v, logs %v", w.at.Sub(start), time.Since(start), logs)
	}
	if w.at.Sub(start) >= time.Since(start) {
		t.Fatal("the response was not sent before the waitUntil work finished")
	}
}

type timedWriter struct{ at time.Time }

func (w *timedWriter) WriteHead(int, http.Header, int64) { w.at = time.Now() }
func (w *timedWriter) Write([]byte) error                { return nil }

func TestCommonJSModules(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	got := fetchJSON(t, r, map[string]string{
		"index.js": `import lib from "./lib/a.cjs";
export default { fetch() { return Response.json({ sum: lib.add(2, 3), name: lib.name, cfg: lib.cfg.mode }); } };`,
		"lib/a.cjs":   `const b = require("./b"); exports.add = (x, y) => b.twice(x + y) / 2; exports.name = require("../cfg.json").name; exports.cfg = require("/cfg.json");`,
		"lib/b.cjs":   `module.exports = { twice: (x) => 2 * x };`,
		"cfg.json":    `{"name":"n","mode":"m"}`,
		"unused.txt":  "x",
		"unused2.bin": "y",
	}, &Request{URL: "https://p.example/"})
	if got["sum"] != 5.0 || got["name"] != "n" || got["cfg"] != "m" {
		t.Fatalf("got %v", got)
	}
}

func TestResponseOverTheCapIs502(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{MaxResponse: 1000})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default { fetch() { return new Response("x".repeat(1001)); } };`}, nil))
	defer d.Close(context.Background())
	_, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/"})
	var f *Failure
	if !errors.As(err, &f) || f.Status != 502 {
		t.Fatalf("got %v", err)
	}
}

// Every per-request bound of Limits is the runtime's to set (the cfhost
// serve flags --worker-subrequests, --worker-console-lines,
// --worker-console-line, --worker-max-response-head, --worker-error-text).
func TestConfiguredLimits(t *testing.T) {
	r := newTestRuntime(t, Config{Limits: Limits{Subrequests: 3, ConsoleLines: 2, ConsoleLineBytes: 10, ResponseHeadBytes: 100, ErrorBytes: 50}})
	var n atomic.Int32
	assets := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { n.Add(1); w.Write([]byte("x")) })
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default { async fetch(request, env) {
		if (new URL(request.url).pathname === "/throw") throw new Error("y".repeat(1000));
		let ok = 0, err = "";
		for (let i = 0; i < 10; i++) {
			try { await env.ASSETS.fetch("/a"); ok++; } catch (e) { err = e.message; break; }
		}
		for (let i = 0; i < 5; i++) console.log("z".repeat(100));
		return Response.json({ ok, err });
	} };`}, nil))
	defer d.Close(context.Background())
	res, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "https://p.example/", Assets: assets})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(res.Body, &got); err != nil {
		t.Fatalf("%v: %s", err, res.Body)
	}
	if got["ok"] != 3.0 || n.Load() != 3 || !strings.Contains(got["err"].(string), "at most 3") {
		t.Errorf("subrequests: %v after %d asset requests, want 3 then the limit", got, n.Load())
	}
	if len(res.Logs) != 2 || len(res.Logs[0][1]) > 10 {
		t.Errorf("console: %d lines kept (%q), want 2 of at most 10 bytes", len(res.Logs), res.Logs)
	}

	// The head is checked when it is sent: a response whose head is over
	// the limit fails the request.
	d2 := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default { fetch() {
		return new Response("hi", { headers: { "x-big": "h".repeat(200) } });
	} };`}, nil))
	defer d2.Close(context.Background())
	if res, err := d2.Fetch(context.Background(), &Request{Method: "GET", URL: "https://p.example/"}); err == nil {
		t.Errorf("a 200-byte head went out (status %d) past a 100-byte limit", res.Status)
	}

	_, err = d.Fetch(context.Background(), &Request{Method: "GET", URL: "https://p.example/throw"})
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("got %v, want a failure", err)
	}
	if s := f.Err.Error(); strings.Count(s, "y") > 50 {
		t.Errorf("the failure keeps %d bytes of the error's message, want at most 50: %.200s", strings.Count(s, "y"), s)
	}
}
