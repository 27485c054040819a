package jsrt

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestBridgeShortcutsMatchTheParser checks the per-request shortcuts of the
// bridge against the slow paths they skip: a URL Go marks canonical is what
// the shim's URL parser makes of it, the request's headers are what the
// Headers constructor makes of them, and text crosses both ways intact,
// non-ASCII and lone surrogates included.
func TestBridgeShortcutsMatchTheParser(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default {
  async fetch(request) {
    const u = new URL(request.url);
    // A leading space makes the parser take the URL apart itself.
    const parsed = new URL(" " + request.url);
    const parts = (x) => [x.protocol, x.username, x.password, x.hostname, x.port, x.host, x.pathname, x.search, x.hash, x.href];
    const h = new Headers([...request.headers]);
    return Response.json({ url: request.url, href: u.href, origin: u.origin, parts: parts(u), parsedParts: parts(parsed),
      headers: [...request.headers], rebuilt: [...h], body: await request.text(),
      lone: "a\ud800b", astral: "😀é" });
  },
};`}, nil))
	defer d.Close(context.Background())
	urls := []string{
		"http://x.localhost:18181/world", "https://p.example/a/b?c=d&e", "http://p.example/", "http://P.Example/x",
		"http://p.example:80/x", "https://p.example:443/x", "http://p.example:0080/x", "http://p.example/a/../b",
		"http://p.example/a/./b", "http://p.example/.well-known/x", "http://p.example/x?", "http://p.example/x?#y",
		"http://p.example/x#y", "http://user:pw@p.example/x", "http://[::1]:8080/x", "http://p.example/%2e%2e/x",
		"http://p.example//double//slash", "http://p.example/x?q=/../y", "http://p.example/é?ü=1",
	}
	for _, u := range urls {
		t.Run(u, func(t *testing.T) {
			res, err := d.Fetch(context.Background(), &Request{Method: "POST", URL: u, Body: []byte("hé\x00llo"),
				Header: http.Header{"X-One": {"1"}, "X-Many": {"a", "b"}, "Set-Cookie": {"a=1", "b=2"}, "X-Text": {"é😀"}}})
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				URL, Href, Origin, Body, Lone, Astral string
				Headers, Rebuilt                      [][2]string
				Parts, ParsedParts                    []string
			}
			if err := json.Unmarshal(res.Body, &got); err != nil {
				t.Fatalf("%v: %s", err, res.Body)
			}
			if strings.Join(got.Parts, " ") != strings.Join(got.ParsedParts, " ") {
				t.Errorf("new URL(request.url) gives %q, the parser %q", got.Parts, got.ParsedParts)
			}
			if got.URL != got.Href {
				t.Errorf("request.url %q, but new URL(request.url).href is %q", got.URL, got.Href)
			}
			if o := canonicalOrigin(u); o != "" && (o != got.Origin || u != got.URL) {
				t.Errorf("Go took %q as canonical with origin %q; the parser gives %q, origin %q", u, o, got.URL, got.Origin)
			}
			if len(got.Headers) != 5 || len(got.Rebuilt) != 5 {
				t.Errorf("headers %q, rebuilt %q", got.Headers, got.Rebuilt)
			}
			for i := range got.Headers {
				if got.Headers[i] != got.Rebuilt[i] {
					t.Errorf("header %d: %q, rebuilt %q", i, got.Headers[i], got.Rebuilt[i])
				}
			}
			if got.Body != "hé\x00llo" || got.Lone != "a\ufffdb" || got.Astral != "😀é" {
				t.Errorf("body %q lone %q astral %q", got.Body, got.Lone, got.Astral)
			}
		})
	}
}

// TestTextBodyCrossesAsUTF8 sends string bodies Go encodes: a lone
// surrogate becomes U+FFFD as TextEncoder makes it, a NUL goes the byte
// way, and the bytes match TextEncoder's.
func TestTextBodyCrossesAsUTF8(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default {
  fetch(request) {
    const s = new URL(request.url).searchParams.get("s");
    const text = { lone: "x\ud800y\udc00z", nul: "a\u0000b", astral: "é😀", empty: "" }[s];
    const enc = [...new TextEncoder().encode(text)].join(",");
    return new Response(text, { headers: { "x-enc": enc } });
  },
};`}, nil))
	defer d.Close(context.Background())
	for _, s := range []string{"lone", "nul", "astral", "empty"} {
		t.Run(s, func(t *testing.T) {
			res, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/?s=" + s})
			if err != nil {
				t.Fatal(err)
			}
			var ints []int
			if err := json.Unmarshal([]byte("["+res.Header.Get("X-Enc")+"]"), &ints); err != nil {
				t.Fatal(err)
			}
			enc := make([]byte, len(ints))
			for i, b := range ints {
				enc[i] = byte(b)
			}
			if string(res.Body) != string(enc) {
				t.Errorf("body % x, TextEncoder gives % x", res.Body, enc)
			}
		})
	}
}
