package jsrt

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestHeadersWithOddBytesRoundTrip sends request headers holding what a
// client may put in them (UTF-8, bytes that are not UTF-8, quotes,
// backslashes, tabs, commas, an empty value, repeated names, cookies)
// through the request string and back out through a response head, both
// from the request's own Headers and from a Response that made its Headers
// only when asked.
func TestHeadersWithOddBytesRoundTrip(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default {
  fetch(request) {
    if (new URL(request.url).pathname === "/lazy") {
      const res = new Response("x");
      for (const [k, v] of request.headers) res.headers.append(k, v);
      return res;
    }
    return new Response(null, { headers: request.headers });
  },
};`}, nil))
	defer d.Close(context.Background())
	in := http.Header{
		"X-Utf8":     {"é😀 ü"},
		"X-Latin1":   {"caf\xe9"},
		"X-Quotes":   {`"a\b" 'c'`},
		"X-Tab":      {"a\tb"},
		"X-Comma":    {"a, b"},
		"X-Empty":    {""},
		"X-Many":     {"1", "2", "3"},
		"Set-Cookie": {"a=1; Path=/", "b=2"},
		"X-Long":     {strings.Repeat("v", 70<<10)},
	}
	want := http.Header{
		"X-Utf8":     {"é😀 ü"},
		"X-Latin1":   {"caf\uFFFD"},
		"X-Quotes":   {`"a\b" 'c'`},
		"X-Tab":      {"a\tb"},
		"X-Comma":    {"a, b"},
		"X-Empty":    {""},
		"X-Many":     {"1, 2, 3"},
		"Set-Cookie": {"a=1; Path=/", "b=2"},
		"X-Long":     in["X-Long"],
	}
	for _, path := range []string{"/given", "/lazy"} {
		t.Run(path, func(t *testing.T) {
			res, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x.localhost" + path, Header: in})
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range want {
				if got := res.Header[k]; strings.Join(got, "|") != strings.Join(vs, "|") {
					t.Errorf("%s: got %q, want %q", k, got, vs)
				}
			}
		})
	}
}

// TestHeaderValueWithNewlineIsRefused: a value holding CR, LF or NUL is a
// TypeError in JS, as in workerd, so a response head cannot carry one
// into the "name\nvalue" lines it crosses in.
func TestHeaderValueWithNewlineIsRefused(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default {
  fetch(request) {
    const out = [];
    for (const v of ["a\nx-injected: 1", "a\rb", "a\0b"]) {
      try { new Headers({ "x-v": v }); out.push("accepted"); } catch (e) { out.push(e.name); }
      try { new Response("", { headers: [["x-v", v]] }); out.push("accepted"); } catch (e) { out.push(e.name); }
    }
    return new Response(out.join(","));
  },
};`}, nil))
	defer d.Close(context.Background())
	res, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/"})
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSuffix(strings.Repeat("TypeError,", 6), ","); string(res.Body) != want {
		t.Errorf("got %s, want %s", res.Body, want)
	}
}

// TestBodiesAroundTheMailboxSize sends request bodies and byte and text
// response bodies, whole and streamed, that fit the mailbox, fill it, and
// pass it, and checks every byte.
func TestBodiesAroundTheMailboxSize(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default {
  async fetch(request) {
    const mode = new URL(request.url).pathname;
    if (mode === "/text") return new Response(await request.text());
    const b = new Uint8Array(await request.arrayBuffer());
    if (mode === "/bytes") return new Response(b);
    if (mode === "/sync") return new Response(b.subarray(1));
    // Streamed: the body in three chunks of different sizes.
    const cuts = [0, b.length >> 2, b.length >> 1, b.length];
    let i = 0;
    return new Response(new ReadableStream({ pull(c) {
      if (i === 3) { c.close(); return; }
      c.enqueue(b.subarray(cuts[i], cuts[++i]));
    } }));
  },
};`}, nil))
	defer d.Close(context.Background())
	for _, n := range []int{0, 1, 1000, mailboxSize - 1, mailboxSize, mailboxSize + 1, 3 * mailboxSize} {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(i*7 + i>>8)
		}
		text := bytes.Repeat([]byte("é"), n/2)
		for _, mode := range []string{"/bytes", "/stream", "/text", "/sync"} {
			t.Run(mode+"/"+strconv.Itoa(n), func(t *testing.T) {
				in := body
				if mode == "/text" {
					in = text
				}
				res, err := d.Fetch(context.Background(), &Request{Method: "POST", URL: "http://x" + mode, Body: in})
				if err != nil {
					t.Fatal(err)
				}
				want := in
				if mode == "/sync" && len(in) > 0 {
					want = in[1:]
				}
				if !bytes.Equal(res.Body, want) {
					t.Errorf("got %d bytes, want %d (first difference at %d)", len(res.Body), len(want), firstDiff(res.Body, want))
				}
			})
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestHandlerStylesAllFinish serves handlers that answer at once, after
// awaiting, after a timer, by throwing before and after awaiting, and with
// ctx.waitUntil work, on one instance, in turn, twice, so that each path
// of dispatch leaves the instance ready for the next.
func TestHandlerStylesAllFinish(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `let waited = 0;
export default {
  fetch(request, env, ctx) {
    switch (new URL(request.url).pathname) {
    case "/sync": return new Response("sync");
    case "/async": return (async () => { await null; return new Response("async"); })();
    case "/timer": return new Promise((res) => setTimeout(() => res(new Response("timer")), 5));
    case "/throw": throw new Error("boom");
    case "/reject": return (async () => { await null; throw new Error("late boom"); })();
    case "/wait": ctx.waitUntil(new Promise((res) => setTimeout(() => { waited++; res(); }, 5))); return new Response("wait");
    case "/waited": return new Response(String(waited));
    case "/notresponse": return "nope";
    }
  },
};`}, nil))
	defer d.Close(context.Background())
	for round := range 2 {
		for _, tc := range []struct{ path, body, fail string }{
			{"/sync", "sync", ""}, {"/async", "async", ""}, {"/timer", "timer", ""},
			{"/throw", "", "boom"}, {"/reject", "", "late boom"}, {"/wait", "wait", ""},
			{"/waited", strconv.Itoa(round + 1), ""}, {"/notresponse", "", "did not return a Response"},
		} {
			t.Run(tc.path, func(t *testing.T) {
				res, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x" + tc.path})
				if tc.fail != "" {
					if err == nil || !strings.Contains(err.Error(), tc.fail) {
						t.Fatalf("got %v, want an error with %q", err, tc.fail)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if string(res.Body) != tc.body {
					t.Errorf("got %q, want %q", res.Body, tc.body)
				}
			})
		}
	}
}

// TestStatusHeldAsADouble: a status the engine holds as a double (parsed
// from JSON, computed) reaches Go as the integer it is.
func TestStatusHeldAsADouble(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default {
  fetch(request) {
    const s = new URL(request.url).searchParams.get("s");
    const status = { json: JSON.parse('{"s":201}').s, math: Math.floor(202.5), number: Number("203.0"), division: 816 / 4 }[s];
    return new Response("x", { status });
  },
};`}, nil))
	defer d.Close(context.Background())
	for s, want := range map[string]int{"json": 201, "math": 202, "number": 203, "division": 204} {
		t.Run(s, func(t *testing.T) {
			res, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/?s=" + s})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != want {
				t.Errorf("status %d, want %d", res.Status, want)
			}
		})
	}
}

// headWriter records the length a response head announced.
type headWriter struct {
	bufWriter
	length int64
}

func (h *headWriter) WriteHead(status int, hdr http.Header, length int64) {
	h.bufWriter.WriteHead(status, hdr, length)
	h.length = length
}

// TestResponseRebuiltFromABodyIsWhole: new Response(res.body, res), which
// routers such as Hono do to change a finished response's headers, takes
// the text or bytes the untouched body stream stands for, so the response
// goes out whole with its length rather than as a stream; a body stream
// that was read from stays a stream.
func TestResponseRebuiltFromABodyIsWhole(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default {
  async fetch(request) {
    const mode = new URL(request.url).pathname;
    let res = mode === "/bytes" ? new Response(new Uint8Array([104, 105, 33])) : new Response("héllo");
    if (mode === "/read") {
      const reader = res.body.getReader();
      const first = await reader.read();
      reader.releaseLock();
      return new Response(new ReadableStream({ start(c) { c.enqueue(first.value); c.close(); } }), res);
    }
    res = new Response(res.body, res);
    res.headers.set("x-rebuilt", "1");
    const again = new Response(res.body, res);
    return again;
  },
};`}, nil))
	defer d.Close(context.Background())
	for _, tc := range []struct {
		path, body, ctype string
		length            int64
	}{
		{"/text", "héllo", "text/plain;charset=UTF-8", 6},
		{"/bytes", "hi!", "", 3},
		{"/read", "héllo", "text/plain;charset=UTF-8", -1},
	} {
		t.Run(tc.path, func(t *testing.T) {
			var w headWriter
			if _, err := d.Serve(context.Background(), &Request{Method: "GET", URL: "http://x" + tc.path}, &w); err != nil {
				t.Fatal(err)
			}
			if w.length != tc.length || w.body.String() != tc.body || w.header.Get("Content-Type") != tc.ctype {
				t.Errorf("length %d, body %q, type %q; want %d, %q, %q", w.length, w.body.String(), w.header.Get("Content-Type"), tc.length, tc.body, tc.ctype)
			}
			if tc.path != "/read" && w.header.Get("X-Rebuilt") != "1" {
				t.Errorf("headers %v", w.header)
			}
		})
	}
}

// TestForgedBodyStreamSourceIsIgnored: what a body stream stands for is
// private to the shim, so tenant code cannot make a stream that a new
// Response takes as text or bytes it chose (an object posing as bytes
// would have the shim send mailbox bytes it never wrote).
func TestForgedBodyStreamSourceIsIgnored(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default {
  fetch() {
    const s = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("real")); c.close(); } });
    s._src = { length: 40 };
    s._claim = () => ({ length: 40 });
    return new Response(s);
  },
};`}, nil))
	defer d.Close(context.Background())
	var w headWriter
	if _, err := d.Serve(context.Background(), &Request{Method: "GET", URL: "http://x/", Header: http.Header{"X-Secret": {"from the request"}}}, &w); err != nil {
		t.Fatal(err)
	}
	if w.length != -1 || w.body.String() != "real" {
		t.Errorf("length %d, body %q; want the stream's own body, streamed", w.length, w.body.String())
	}
}
