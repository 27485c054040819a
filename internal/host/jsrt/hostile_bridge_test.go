package jsrt

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// The bridge as a hostile tenant sees it: these handlers attack the
// shim and the host function under it, and each test says what must hold.

// rawHostJS lets a handler call the bridge raw, as `host`, with the
// function exposeRawHost hands it. The shim keeps its own bridge function
// to itself (TestHostileBridgeCallSitesHideTheBridge), so the host's own
// checks are tested with a second one, the same Go callback.
const rawHostJS = `
const host = (...args) => globalThis.__rawHost(...args);
// frameError is the error a bridge answer holds ("ok" for none).
function frameError(r) {
  if (r === undefined) return "undefined";
  if (!(r instanceof ArrayBuffer)) return typeof r;
  const u = new Uint8Array(r);
  const n = u[0] | (u[1] << 8) | (u[2] << 16) | (u[3] << 24);
  const h = n === 0 ? null : JSON.parse(String.fromCharCode(...u.subarray(4, 4 + n)));
  return h && h.error !== undefined ? h.type || "Error" : "ok";
}
`

// exposeRawHost serves a request to /warm on d, so that an instance is
// idle, and makes globalThis.__rawHost a bridge function in it: the
// instance d's next request takes.
func exposeRawHost(t *testing.T, d *Deployment) {
	t.Helper()
	if _, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/warm"}); err != nil {
		t.Fatalf("warm: %v", err)
	}
	d.mu.Lock()
	in := d.idle[len(d.idle)-1]
	d.mu.Unlock()
	ctx := context.WithValue(context.Background(), instKey{}, in)
	name := in.mallocWith(ctx, in.malloc, "host")
	fn, err := in.call1(ctx, in.newFunction, uint64(in.ctx), uint64(name), 3, 0, hostFnID)
	in.freePtr(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer in.release(ctx, fn)
	set, err := in.evalCode(ctx, "(f) => { globalThis.__rawHost = f; }", "test:set", evalGlobal)
	if err != nil {
		t.Fatal(err)
	}
	defer in.release(ctx, set)
	r, err := in.callJS(ctx, set, fn)
	if err != nil {
		t.Fatal(err)
	}
	in.release(ctx, r)
}

// TestHostileBridgeNestedCallsStopTheInstance: JS that the engine runs
// while Go is inside one of its functions (here Error.prepareStackTrace,
// called when the engine throws inside the bridge) calls the bridge
// again. Go would then call an engine function that is still running; in
// wazero the inner call takes over the outer one's native stack, and the
// outer call resumes where the inner one left off (calls are silently
// lost, results written to memory Go has released). Each shape must end
// as its own 502 with the instance discarded, and the next request must
// find a working one.
func TestHostileBridgeNestedCallsStopTheInstance(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": rawHostJS + `
let calls = 0;
// notAB is a body the engine refuses inside the bridge, running the hook.
const notAB = { length: 1e9, byteOffset: 0, byteLength: 1, buffer: { byteLength: 1 } };
class Nest extends Response { _raw() { return notAB; } }
export default { fetch(request) {
  const p = new URL(request.url).pathname;
  if (p === "/ok") return new Response("ok " + calls);
  if (p === "/warm") return new Response("warm");
  Error.prepareStackTrace = (e, sites) => {
    Error.prepareStackTrace = undefined;
    calls++;
    if (p === "/log") console.log("from inside the bridge");
    if (p === "/same") host(3, 200, "", notAB);
    if (p === "/dispatch") __cfhost.dispatch();
    if (p === "/deep") for (let i = 0; i < 20; i++) host(6, 0, "x" + i);
    return "";
  };
  return new Nest("");
} };`}, nil))
	defer d.Close(context.Background())
	for _, path := range []string{"/log", "/same", "/dispatch", "/deep"} {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			exposeRawHost(t, d)
			_, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x" + path})
			var f *Failure
			if !errors.As(err, &f) || f.Status != http.StatusBadGateway || !strings.Contains(err.Error(), nestedCall) {
				t.Errorf("got %v, want a 502 failure for %q", err, nestedCall)
			}
			// A fresh instance: its count of hook calls starts at 0.
			res, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/ok"})
			if err != nil || string(res.Body) != "ok 0" {
				t.Fatalf("after: %v %v", res, err)
			}
		})
	}
}

// TestHostileBridgeForgedCalls calls the raw host function with forged
// operation numbers and arguments of every type: each is refused with an
// error the caller can read (or ignored), no JS runs inside the host call
// (a toString or valueOf of an argument is never called), nothing reaches
// the response that the shim would have refused, and the request then
// ends as the raw calls made it.
func TestHostileBridgeForgedCalls(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": rawHostJS + `
let ran = 0;
const sneaky = { toString() { ran++; return "x-sneaky\n1"; }, valueOf() { ran++; return 200; } };
export default { fetch(request) {
  if (new URL(request.url).pathname !== "/forge") return new Response("warm");
  const wrong = [];
  const expect = (want, ...args) => {
    let got;
    try { got = frameError(host(...args)); } catch (e) { got = "threw " + e.name; }
    if (got !== want) wrong.push(args.map((a) => typeof a === "string" ? a.slice(0, 20) : typeof a).join(" ") + ": " + got);
  };
  // Operation numbers and types no shim sends.
  for (const op of [0, 8, -1, 2147483647, 1.5, "3", sneaky, Symbol("op"), 10n, null, true]) expect("TypeError", op);
  // opRespond with a status, head or body of the wrong type or shape.
  expect("RangeError", 3, sneaky, "", undefined);
  expect("RangeError", 3, 99, "", undefined);
  expect("TypeError", 3, 200, sneaky, undefined);
  expect("TypeError", 3, 200, 42, undefined);
  expect("TypeError", 3, 200, "x-a\nb\r\nx-injected: 1", undefined);
  expect("RangeError", 3, 200, "x-big\n" + "v".repeat(300 << 10), undefined);
  for (const body of [Symbol("b"), 10n, 1.5, true, null]) expect("TypeError", 3, 200, "", body);
  expect("RangeError", 3, 200, "", 70000);
  expect("RangeError", 3, 200, "", 2147483647);
  // A body before the head; logs and done with odd arguments.
  expect("TypeError", 4, "early");
  expect("undefined", 6, 99, "level out of range");
  expect("undefined", 6, -1, sneaky);
  // The slow road with forged frames.
  expect("TypeError", "assets\n{not json");
  expect("Error", "module\n" + JSON.stringify({ from: "index.js", spec: "../../../../etc/passwd" }));
  expect("QuotaExceededError", "random\n{\"n\":-1}");
  expect("TypeError", "random\n{\"n\":1e12}");
  expect("TypeError", "nosuchop\nnull");
  // The request, twice, and its body.
  if (typeof host(1) !== "string" || typeof host(1) !== "string" || !(host(2) instanceof ArrayBuffer)) wrong.push("request");
  // A response sent straight through the bridge; then a chunk past its
  // end and a second head, both refused.
  expect("undefined", 3, 201, "x-ok\n1", "raw");
  expect("TypeError", 4, "past the end");
  expect("TypeError", 3, 200, "", "again");
  host(6, 0, "ran=" + ran + " wrong=" + wrong.join("; "));
  host(7);
  return new Promise(() => {});
} };`}, nil))
	defer d.Close(context.Background())
	exposeRawHost(t, d)
	res, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/forge"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 201 || string(res.Body) != "raw" || res.Header.Get("X-Ok") != "1" || len(res.Header) != 1 {
		t.Errorf("response %d %v %q, want 201 with x-ok and raw", res.Status, res.Header, res.Body)
	}
	var line string
	for _, l := range res.Logs {
		if strings.HasPrefix(l[1], "ran=") {
			line = l[1]
		}
	}
	if line != "ran=0 wrong=" {
		t.Errorf("got %q, want no JS run and every call answered as expected", line)
	}
}

// TestHostileBridgeMailboxStaysPrivate: tenant code replaces what the
// shim could use to fill the mailbox (the typed arrays' set and length,
// Function.prototype.call and apply) with functions that look for the
// mailbox and detach it (transfer), which would leave Go writing into
// memory the engine has given back. The shim must never hand it over,
// and bodies of every size must still cross intact.
func TestHostileBridgeMailboxStaysPrivate(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `
let seen = 0;
const rapply = Reflect.apply;
const TA = Object.getPrototypeOf(Uint8Array.prototype);
const set = TA.set, length = Object.getOwnPropertyDescriptor(TA, "length").get;
const buffer = Object.getOwnPropertyDescriptor(TA, "buffer").get;
function inspect(v) {
  try {
    const b = rapply(buffer, v, []);
    if (b.byteLength === 65536) { seen++; b.transfer(); }
  } catch {}
}
TA.set = function (...args) { inspect(this); return rapply(set, this, args); };
Object.defineProperty(TA, "length", { get() { inspect(this); return rapply(length, this, []); }, configurable: true });
const call = Function.prototype.call, apply = Function.prototype.apply;
Function.prototype.call = function (self, ...args) { if (ArrayBuffer.isView(self)) inspect(self); return rapply(this, self, args); };
Function.prototype.apply = function (self, args) { if (ArrayBuffer.isView(self)) inspect(self); return rapply(this, self, args || []); };
export default { async fetch(request) {
  if (new URL(request.url).pathname === "/seen") return new Response("seen " + seen);
  return new Response(new Uint8Array(await request.arrayBuffer()));
} };`}, nil))
	defer d.Close(context.Background())
	for _, n := range []int{1, 1000, mailboxSize - 1, mailboxSize + 1} {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(i*13 + 7)
		}
		res, err := d.Fetch(context.Background(), &Request{Method: "POST", URL: "http://x/echo", Body: body})
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if string(res.Body) != string(body) {
			t.Fatalf("%d bytes: the body came back changed (%d bytes)", n, len(res.Body))
		}
	}
	res, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/seen"})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Body) != "seen 0" {
		t.Fatalf("got %q, want the mailbox never seen by tenant code", res.Body)
	}
}

// TestHostileBridgeMailboxIsPerDeployment: a handler can make Go read its
// whole mailbox back as a body (a typed array whose length property lies),
// so the mailbox holds what Go last wrote there: this instance's request
// strings. Two deployments (here the same code with different env, as a
// project's env change makes) never share an instance: what one request
// wrote is not in the other's mailbox.
func TestHostileBridgeMailboxIsPerDeployment(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	src := map[string]string{"index.js": `
class Dump extends Response {
  _raw() { const b = new Uint8Array(1); Object.defineProperty(b, "length", { value: 65536 }); return b; }
}
export default { fetch(request, env) { return new Dump(""); } };`}
	a := r.Load(jsProgram("index.js", src, map[string]string{"WHO": "a"}))
	defer a.Close(context.Background())
	b := r.Load(jsProgram("index.js", src, map[string]string{"WHO": "b"}))
	defer b.Close(context.Background())
	dump := func(d *Deployment, h string) string {
		res, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/", Header: http.Header{"X-Marker": {h}}})
		if err != nil {
			t.Fatal(err)
		}
		return string(res.Body)
	}
	dump(a, "secret-of-a")
	got := dump(b, "marker-of-b")
	if !strings.Contains(got, "marker-of-b") {
		t.Fatalf("the dump does not show the mailbox (%d bytes): the probe proves nothing", len(got))
	}
	if strings.Contains(got, "secret-of-a") {
		t.Fatal("a request of deployment b read what deployment a's request left in the mailbox")
	}
}

// TestHostileBridgeUncaughtErrorIsCapped: a handler throws an error with a
// message of many megabytes, on every request. Its description goes into
// the host's log line for the failure and the project's log: Go keeps only
// the first DefaultErrorBytes bytes of it.
func TestHostileBridgeUncaughtErrorIsCapped(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default { fetch() {
		throw new Error("x".repeat(8 << 20));
	} };`}, nil))
	defer d.Close(context.Background())
	_, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/"})
	var f *Failure
	if !errors.As(err, &f) || f.Status != http.StatusInternalServerError {
		t.Fatalf("got %v, want a 500 failure", err)
	}
	if n := len(f.Err.Error()); n > DefaultErrorBytes+1024 {
		t.Errorf("the failure holds %d bytes of the error, want at most about %d", n, DefaultErrorBytes)
	}
}

// TestHostileBridgeReplacedGlobals: a tenant replaces or deletes what the
// shim might lean on (the globals Response, Headers and, once its modules
// are loaded, __cfhost; the
// species of typed arrays, arrays and promises)
// and answers with odd objects: a Proxy of a Response, a Response whose
// status is an object, whose head is not a string, a plain object. Each
// request ends as its own answer or a 500, never hangs or breaks the
// instance, and a plain request afterwards is served by the same one.
func TestHostileBridgeReplacedGlobals(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `
const R = Response, H = Headers;
let served = 0;
globalThis.Response = function () { throw new Error("replaced"); };
globalThis.Headers = null;
class Evil extends Uint8Array { static get [Symbol.species]() { throw new Error("species"); } }
Object.defineProperty(Uint8Array, Symbol.species, { get() { return Evil; } });
Object.defineProperty(Array, Symbol.species, { get() { throw new Error("array species"); } });
Object.defineProperty(Promise, Symbol.species, { get() { throw new Error("promise species"); } });
export default { fetch(request) {
  served++;
  delete globalThis.__cfhost;
  switch (new URL(request.url).pathname) {
  case "/proxy": return new Proxy(new R("p"), {});
  case "/status": return new (class extends R { get status() { return { valueOf() { return 201; } }; } })("s");
  case "/head": return new (class extends R { _head() { return { toString() { return "x-a\n1"; } }; } })("h");
  case "/plain": return { status: 200, body: "x" };
  case "/bytes": return new R(new Uint8Array([1, 2, 3]));
  case "/text": return new R("text\u0000with nul");
  }
  return new R("served " + served, { headers: new H({ "x-ok": "1" }) });
} };`}, nil))
	defer d.Close(context.Background())
	for _, tc := range []struct {
		path, body string
		status     int
	}{
		{"/proxy", "", 500}, {"/status", "s", 201}, {"/head", "", 500}, {"/plain", "", 500},
		{"/bytes", "\x01\x02\x03", 200}, {"/text", "text\x00with nul", 200},
	} {
		t.Run(strings.TrimPrefix(tc.path, "/"), func(t *testing.T) {
			res, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x" + tc.path})
			var f *Failure
			switch {
			case tc.status == 500:
				if !errors.As(err, &f) || f.Status != 500 {
					t.Fatalf("got %v %v, want a 500 failure", res, err)
				}
			case err != nil:
				t.Fatal(err)
			case res.Status != tc.status || string(res.Body) != tc.body:
				t.Fatalf("got %d %q, want %d %q", res.Status, res.Body, tc.status, tc.body)
			}
		})
	}
	res, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/"})
	if err != nil || string(res.Body) != "served 7" || res.Header.Get("X-Ok") != "1" {
		t.Fatalf("after: %v %v, want the same instance serving its 7th request", res, err)
	}
}

// TestHostileBridgeCallSitesHideTheBridge: Error.prepareStackTrace gets
// call sites, and the engine answers getFunction() for every frame. Called
// while the engine throws inside the bridge, the sites hold the native
// host function and the shim's own functions: a tenant could take the raw
// bridge and every closure of the shim. The sites a tenant's function gets
// answer getFunction() and getThis() for its own frames only, and what it
// returns is still the stack.
func TestHostileBridgeCallSitesHideTheBridge(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `
let seen = [];
class Nest extends Response { _raw() { return { length: 1e9, byteOffset: 0, byteLength: 1, buffer: { byteLength: 1 } }; } }
function mine() { return new Error("x").stack; }
export default { fetch(request) {
  if (new URL(request.url).pathname === "/report") {
    const sites = [];
    Error.prepareStackTrace = (e, s) => { sites.push(...s); return "custom"; };
    const stack = mine();
    Error.prepareStackTrace = undefined;
    const own = sites.find((s) => s.getFunctionName() === "mine");
    const leaked = seen.filter((s) => s.getFunction() !== undefined && (s.isNative() || String(s.getFileName()).startsWith("cfhost:")));
    return new Response("sites=" + seen.length + " leaked=" + leaked.map((s) => s.getFunctionName()).join(",") +
      " own=" + (own && own.getFunction() === mine) + " stack=" + stack);
  }
  // The engine throws inside the bridge: the body is no ArrayBuffer.
  Error.prepareStackTrace = (e, s) => { seen.push(...s); Error.prepareStackTrace = undefined; return ""; };
  return new Nest("");
} };`}, nil))
	defer d.Close(context.Background())
	if _, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/throw"}); err != nil {
		t.Fatal(err)
	}
	res, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/report"})
	if err != nil {
		t.Fatal(err)
	}
	got := string(res.Body)
	if !strings.HasPrefix(got, "sites=") || strings.HasPrefix(got, "sites=0") || !strings.Contains(got, " leaked= own=true stack=custom") {
		t.Errorf("got %q, want the hook to have seen sites, none of the host's handing out its function, the tenant's own doing so, and the custom stack", got)
	}
}
