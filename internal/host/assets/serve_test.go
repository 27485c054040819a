package assets

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// expect is a compact expectation: status, then either the served asset
// path (200/404 with body) or the Location.
type expect struct {
	status   int
	asset    string // served file, checked through its body
	location string
}

func check(t *testing.T, r response, want expect) {
	t.Helper()
	if r.status != want.status {
		t.Fatalf("status = %d, want %d (%s)", r.status, want.status, r)
	}
	if want.asset != "" && r.body != fileBody(want.asset) {
		t.Errorf("body = %q, want asset %s", r.body, want.asset)
	}
	if want.asset == "" && r.body != "" {
		t.Errorf("body = %q, want none", r.body)
	}
	if got := r.header.Get("Location"); got != want.location {
		t.Errorf("Location = %q, want %q", got, want.location)
	}
}

// targetCase is one GET request target and what it must get.
type targetCase struct {
	target string
	want   expect
}

// checkTargets GETs each target from srv, one subtest each.
func checkTargets(t *testing.T, srv *httptest.Server, tests []targetCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			check(t, do(t, srv, "GET", tt.target), tt.want)
		})
	}
}

func TestEncodingExamples(t *testing.T) {
	files := []string{"/index.html", "/[boop].html", "/file", "/a%20b.html", "/%A0", "/caf\u00e9.html", "/a+b$c.txt"}
	tests := []struct {
		html, target string
		want         expect
	}{
		{"", "/[boop]", expect{307, "", "/%5Bboop%5D"}},
		{"", "/%5bboop%5d", expect{307, "", "/%5Bboop%5D"}},
		{"", "/%5Bboop%5D", expect{200, "/[boop].html", ""}},
		{"", "/fil%65", expect{307, "", "/file"}},
		{"", "//file", expect{307, "", "/file"}},
		{"", "/%2ffile", expect{307, "", "/file"}},
		{"", "/%2Ffile?x=1", expect{307, "", "/file?x=1"}},
		{"", "/a%2520b", expect{200, "/a%20b.html", ""}},
		{"", "/a%20b", expect{404, "", ""}},
		{"", "/%A0", expect{307, "", "/%25A0"}},
		{"", "/%25A0", expect{200, "/%A0", ""}},
		{"", "/blog/../file", expect{200, "/file", ""}},
		{"", "/blog/%2E%2E/file", expect{200, "/file", ""}},
		{"", "/blog/.%2e/file", expect{200, "/file", ""}},
		{"", "/./file", expect{200, "/file", ""}},
		{"", `/blog\..\file`, expect{200, "/file", ""}},
		{"", "/caf%C3%A9", expect{200, "/caf\u00e9.html", ""}},
		{"", "/caf\u00e9", expect{200, "/caf\u00e9.html", ""}},
		{"", "/caf%c3%a9", expect{307, "", "/caf%C3%A9"}},
		{"", "/a+b$c.txt", expect{307, "", "/a%2Bb%24c.txt"}},
		{"", "/a%2Bb%24c.txt", expect{200, "/a+b$c.txt", ""}},
		{"", "/file?", expect{200, "/file", ""}},
		{rules.HTMLHandlingNone, "/[boop].html", expect{307, "", "/%5Bboop%5D.html"}},
		{rules.HTMLHandlingNone, "/%5Bboop%5D.html", expect{200, "/[boop].html", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.html+tt.target, func(t *testing.T) {
			site, _, _ := build(t, siteSpec{files: files, html: tt.html})
			check(t, do(t, serveSite(t, site), "GET", tt.target), tt.want)
		})
	}
}

func TestRedirects(t *testing.T) {
	const rules = `
# static rules
/old /new 301
/temp /new
/see /new 303
/tmp7 /new 307
/perm /new 308
/ext https://example.org/a#h
/same https://site.test/x
/q /dest?from=rule
/frag /dest#top
/go //evil.example/x
/x.js /shadowed 302
/rewrite /file 200
/rewrite-html /file.html 200
/rewrite-folder /folder 200
/rewrite-miss /missing 200
/caf%C3%A9 /cafe 301
# dynamic rules
/blog/* /posts/:splat 301
/users/:id /u/:id
/p:x /q/:x
/files/* /:splat
/dyn-rewrite/:name /:name 200
/static-after-dynamic /late 301
/two/* /first
/two/*/x /second
`
	site, _, _ := build(t, siteSpec{files: []string{"/index.html", "/file.html", "/folder/index.html", "/x.js"}, redirects: rules})
	srv := serveSite(t, site)
	tests := []struct {
		method, target string
		headers        []string
		want           expect
	}{
		{"GET", "/old", nil, expect{301, "", "/new"}},
		{"GET", "/old?x=1", nil, expect{301, "", "/new?x=1"}},
		{"POST", "/old", nil, expect{301, "", "/new"}},
		{"DELETE", "/temp", nil, expect{302, "", "/new"}},
		{"GET", "/see", nil, expect{303, "", "/new"}},
		{"GET", "/tmp7", nil, expect{307, "", "/new"}},
		{"GET", "/perm", nil, expect{308, "", "/new"}},
		{"GET", "/ext?q=1", nil, expect{302, "", "https://example.org/a?q=1#h"}},
		{"GET", "/ext", nil, expect{302, "", "https://example.org/a#h"}},
		{"GET", "/same?k=v", nil, expect{302, "", "https://site.test/x?k=v"}}, // http request: other origin
		{"GET", "/q", nil, expect{302, "", "/dest?from=rule"}},
		{"GET", "/q?mine=1", nil, expect{302, "", "/dest?from=rule"}},
		{"GET", "/frag?x=1", nil, expect{302, "", "/dest?x=1#top"}},
		{"GET", "/go", nil, expect{302, "", "http://evil.example/x"}},
		{"GET", "/x.js", nil, expect{302, "", "/shadowed"}},
		{"GET", "/caf\u00e9", nil, expect{301, "", "/cafe"}},
		{"GET", "/blog/", nil, expect{301, "", "/posts/"}},
		{"GET", "/blog/a/b?p=2", nil, expect{301, "", "/posts/a/b?p=2"}},
		{"GET", "/blog", nil, expect{404, "", ""}},
		{"GET", "/users/42", nil, expect{302, "", "/u/42"}},
		{"GET", "/users/42/", nil, expect{404, "", ""}},
		{"GET", "/pfoo", nil, expect{302, "", "/q/foo"}},
		{"GET", "/files//evil.com", nil, expect{302, "", "/evil.com"}},
		{"GET", "/static-after-dynamic", nil, expect{301, "", "/late"}},
		{"GET", "/two/a/x", nil, expect{302, "", "/first"}},
		{"GET", "/rewrite", nil, expect{200, "/file.html", ""}},
		{"GET", "/rewrite?s=1", nil, expect{200, "/file.html", ""}},
		{"POST", "/rewrite", nil, expect{405, "", ""}},
		{"GET", "/rewrite-html?s=1", nil, expect{307, "", "/file?s=1"}},
		{"GET", "/rewrite-folder", nil, expect{307, "", "/folder/"}},
		{"GET", "/rewrite-miss", nil, expect{404, "", ""}},
		{"GET", "/dyn-rewrite/file", nil, expect{200, "/file.html", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			check(t, do(t, srv, tt.method, tt.target, tt.headers...), tt.want)
		})
	}
	t.Run("same origin over https is relative", func(t *testing.T) {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/same?k=v", nil)
		site.Serve(rec, r, Request{Pathname: "/same", Search: "?k=v", Host: "SITE.test:443", Scheme: "https"})
		if loc := rec.Header().Get("Location"); loc != "/x?k=v" {
			t.Errorf("Location = %q, want /x?k=v", loc)
		}
	})
}

func TestHeadersRules(t *testing.T) {
	const headers = `
/*
  X-Frame-Options: DENY
  X-All: yes
/secure/*
  X-Frame-Options: SAMEORIGIN
/special
  ! X-All
/nocache/*
  Cache-Control: no-store
  ETag: "custom"
  ! Content-Type
/cookies
  Set-Cookie: a=1
  Set-Cookie: b=2
/cookies*
  Set-Cookie: c=3
/users/:id
  X-User: user-:id
/static/*
  X-Splat: [:splat]
https://:sub.site.test/*
  X-Sub: :sub
/r
  X-Orig: yes
/file
  X-Target: yes
/dup
  X-Dup: first
/dup
  X-Dup: second
`
	site, _, _ := build(t, siteSpec{
		files:     []string{"/index.html", "/file.html", "/secure/page.html", "/nocache/a.css", "/static/js/app.js", "/special.html"},
		headers:   headers,
		redirects: "/r /file 200\n/moved /file 301\n",
	})
	srv := serveSite(t, site)
	tests := []struct {
		method, target string
		reqHeaders     []string
		status         int
		want           map[string][]string // nil value: header must be absent
	}{
		{"GET", "/secure/page", nil, 200, map[string][]string{"X-Frame-Options": {"DENY, SAMEORIGIN"}, "X-All": {"yes"}}},
		{"GET", "/special", nil, 200, map[string][]string{"X-All": nil, "X-Frame-Options": {"DENY"}}},
		{"GET", "/nocache/a.css", nil, 200, map[string][]string{"Cache-Control": {"no-store"}, "Etag": {`"custom"`}, "Content-Type": nil}},
		{"GET", "/cookies", nil, 404, map[string][]string{"Set-Cookie": {"a=1, b=2", "c=3"}}},
		{"GET", "/users/42", nil, 404, map[string][]string{"X-User": {"user-42"}}},
		{"GET", "/static/js/app.js", nil, 200, map[string][]string{"X-Splat": {"[js/app.js]"}}},
		{"GET", "/file", []string{"Host: api.site.test:8080"}, 200, map[string][]string{"X-Sub": {"api"}, "X-Target": {"yes"}}},
		{"GET", "/file", []string{"Host: a.b.site.test"}, 200, map[string][]string{"X-Sub": nil}},
		{"GET", "/r", nil, 200, map[string][]string{"X-Orig": {"yes"}, "X-Target": nil}},
		{"GET", "/moved", nil, 301, map[string][]string{"X-All": {"yes"}}},
		{"GET", "/file.html", nil, 307, map[string][]string{"X-All": {"yes"}}},
		{"POST", "/file", nil, 405, map[string][]string{"X-All": {"yes"}}},
		{"GET", "/missing", nil, 404, map[string][]string{"X-All": {"yes"}}},
		{"GET", "/dup", nil, 404, map[string][]string{"X-Dup": {"second"}}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			r := do(t, srv, tt.method, tt.target, tt.reqHeaders...)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d (%s)", r.status, tt.status, r)
			}
			for k, want := range tt.want {
				got := r.header.Values(k)
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
	t.Run("304 gets _headers", func(t *testing.T) {
		first := do(t, srv, "GET", "/file")
		r := do(t, srv, "GET", "/file", "If-None-Match: "+first.header.Get("Etag"))
		if r.status != 304 || r.header.Get("X-All") != "yes" {
			t.Errorf("got %s, want 304 with X-All", r)
		}
	})
}

func TestResponses(t *testing.T) {
	site, _, _ := build(t, siteSpec{
		files:    []string{"/index.html", "/app.js", "/LICENSE", "/404.html", "/a.ts"},
		notFound: rules.NotFoundPage,
	})
	srv := serveSite(t, site)
	app := do(t, srv, "GET", "/app.js")
	etag := app.header.Get("Etag")
	hash32 := sha([]byte(fileBody("/app.js")))[:32]

	t.Run("asset headers", func(t *testing.T) {
		if etag != `"`+hash32+`"` {
			t.Errorf("ETag = %q, want the first 32 hex of the SHA-256, quoted", etag)
		}
		want := map[string]string{
			"Content-Type":   "text/javascript; charset=utf-8",
			"Cache-Control":  "public, max-age=0, must-revalidate",
			"Content-Length": strconv.Itoa(len(fileBody("/app.js"))),
		}
		for k, v := range want {
			if got := app.header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		for _, k := range []string{"Accept-Ranges", "Last-Modified", "Vary", "Content-Encoding"} {
			if v, ok := app.header[k]; ok {
				t.Errorf("unexpected %s: %q", k, v)
			}
		}
	})
	t.Run("no content type for an unknown extension", func(t *testing.T) {
		r := do(t, srv, "GET", "/LICENSE")
		if r.status != 200 || r.body != fileBody("/LICENSE") {
			t.Fatalf("got %s", r)
		}
		if v, ok := r.header["Content-Type"]; ok {
			t.Errorf("Content-Type = %q, want none", v)
		}
	})
	t.Run("ts is video/mp2t", func(t *testing.T) {
		if ct := do(t, srv, "GET", "/a.ts").header.Get("Content-Type"); ct != "video/mp2t" {
			t.Errorf("Content-Type = %q", ct)
		}
	})
	conditional := []struct {
		name, inm string
		status    int
	}{
		{"strong", `"` + hash32 + `"`, 304},
		{"weak", `W/"` + hash32 + `"`, 304},
		{"list", `"` + hash32 + `", "x"`, 200},
		{"star", `*`, 200},
		{"other", `"0123"`, 200},
		{"unquoted", hash32, 200},
	}
	for _, c := range conditional {
		t.Run("If-None-Match "+c.name, func(t *testing.T) {
			r := do(t, srv, "GET", "/app.js", "If-None-Match: "+c.inm)
			if r.status != c.status {
				t.Fatalf("status = %d, want %d", r.status, c.status)
			}
			if c.status == 304 {
				if r.body != "" || r.header.Get("Etag") != etag || r.header.Get("Cache-Control") == "" {
					t.Errorf("304 = %s, want no body, the ETag and Cache-Control", r)
				}
			}
		})
	}
	t.Run("If-Modified-Since is ignored", func(t *testing.T) {
		if r := do(t, srv, "GET", "/app.js", "If-Modified-Since: Mon, 01 Jan 2090 00:00:00 GMT"); r.status != 200 {
			t.Errorf("status = %d", r.status)
		}
	})
	t.Run("404 page can be 304", func(t *testing.T) {
		nf := do(t, srv, "GET", "/nope")
		if nf.status != 404 || nf.body != fileBody("/404.html") {
			t.Fatalf("got %s", nf)
		}
		if r := do(t, srv, "GET", "/nope", "If-None-Match: "+nf.header.Get("Etag")); r.status != 304 {
			t.Errorf("status = %d, want 304", r.status)
		}
	})
	t.Run("Authorization drops Cache-Control", func(t *testing.T) {
		r := do(t, srv, "GET", "/app.js", "Authorization: Bearer x")
		if r.status != 200 || r.header.Get("Cache-Control") != "" {
			t.Errorf("got %s", r)
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		r := do(t, srv, "HEAD", "/app.js")
		if r.status != 200 || r.body != "" || r.header.Get("Content-Length") != app.header.Get("Content-Length") || r.header.Get("Etag") != etag {
			t.Errorf("got %s", r)
		}
	})
	t.Run("405 without Allow for an existing asset", func(t *testing.T) {
		for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
			r := do(t, srv, m, "/app.js")
			if r.status != 405 || r.body != "" || r.header.Get("Allow") != "" {
				t.Errorf("%s = %s, want a bare 405", m, r)
			}
		}
	})
	t.Run("405 beats the canonical redirect", func(t *testing.T) {
		if r := do(t, srv, "POST", "/index.html"); r.status != 405 {
			t.Errorf("status = %d, want 405", r.status)
		}
	})
}

func TestRange(t *testing.T) {
	body := strings.Repeat("0123456789", 10)
	site, _, _ := build(t, siteSpec{contents: map[string]string{"/data.bin": body}, files: []string{"/404.html"}, notFound: rules.NotFoundPage, compressed: []string{"/data.bin"}})
	srv := serveSite(t, site)
	etag := `"` + sha([]byte(body))[:32] + `"`
	tests := []struct {
		name    string
		headers []string
		status  int
		body    string
		crange  string
	}{
		{"first bytes", []string{"Range: bytes=0-3"}, 206, "0123", "bytes 0-3/100"},
		{"open end", []string{"Range: bytes=95-"}, 206, "56789", "bytes 95-99/100"},
		{"suffix", []string{"Range: bytes=-3"}, 206, "789", "bytes 97-99/100"},
		{"suffix longer than body", []string{"Range: bytes=-500"}, 206, body, "bytes 0-99/100"},
		{"end past the body", []string{"Range: bytes=98-1000"}, 206, "89", "bytes 98-99/100"},
		{"unsatisfiable", []string{"Range: bytes=100-"}, 416, "", "bytes */100"},
		{"zero suffix", []string{"Range: bytes=-0"}, 416, "", "bytes */100"},
		{"several ranges serve everything", []string{"Range: bytes=0-1,5-6"}, 200, body, ""},
		{"other unit", []string{"Range: items=0-1"}, 200, body, ""},
		{"malformed", []string{"Range: bytes=5-2"}, 200, body, ""},
		{"If-Range matching", []string{"Range: bytes=0-1", "If-Range: " + etag}, 206, "01", "bytes 0-1/100"},
		{"If-Range stale", []string{"Range: bytes=0-1", `If-Range: "other"`}, 200, body, ""},
		{"If-Range date", []string{"Range: bytes=0-1", "If-Range: Mon, 01 Jan 2024 00:00:00 GMT"}, 200, body, ""},
		{"identity even when compression is accepted", []string{"Range: bytes=0-1", "Accept-Encoding: gzip, br"}, 206, "01", "bytes 0-1/100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, srv, "GET", "/data.bin", tt.headers...)
			if r.status != tt.status || r.body != tt.body || r.header.Get("Content-Range") != tt.crange {
				t.Fatalf("got %s, want %d %q Content-Range %q", r, tt.status, tt.body, tt.crange)
			}
			if r.header.Get("Cache-Control") != "" {
				t.Errorf("Cache-Control %q on a Range request", r.header.Get("Cache-Control"))
			}
			if r.header.Get("Content-Encoding") != "" {
				t.Errorf("Content-Encoding %q on a Range request", r.header.Get("Content-Encoding"))
			}
		})
	}
	t.Run("HEAD range", func(t *testing.T) {
		r := do(t, srv, "HEAD", "/data.bin", "Range: bytes=0-9")
		if r.status != 206 || r.body != "" || r.header.Get("Content-Length") != "10" {
			t.Errorf("got %s", r)
		}
	})
	t.Run("404 page ignores Range", func(t *testing.T) {
		r := do(t, srv, "GET", "/missing", "Range: bytes=0-1")
		if r.status != 404 || r.body != fileBody("/404.html") {
			t.Errorf("got %s", r)
		}
	})
}

func TestCompressedVariants(t *testing.T) {
	big := strings.Repeat("console.log('hello, world');\n", 200)
	site, blobs, cache := build(t, siteSpec{
		contents:   map[string]string{"/app.js": big, "/plain.js": big + "//"},
		compressed: []string{"/app.js"},
	})
	srv := serveSite(t, site)
	hash := sha([]byte(big))
	h32 := hash[:32]
	tests := []struct {
		acceptEncoding string
		encoding       string
	}{
		{"", ""},
		{"gzip", "gzip"},
		{"br", "br"},
		{"gzip, deflate, br", "br"},
		{"br;q=0.5, gzip;q=0.8", "gzip"},
		{"br;q=0, gzip", "gzip"},
		{"gzip;q=0, br;q=0", ""},
		{"*", "br"},
		{"*;q=0.5, br;q=0", "gzip"},
		{"identity", ""},
		{"x-gzip", "gzip"},
		{"BR", "br"},
	}
	for _, tt := range tests {
		t.Run("Accept-Encoding "+tt.acceptEncoding, func(t *testing.T) {
			var hdr []string
			if tt.acceptEncoding != "" {
				hdr = append(hdr, "Accept-Encoding: "+tt.acceptEncoding)
			}
			r := do(t, srv, "GET", "/app.js", hdr...)
			if r.status != 200 || r.header.Get("Content-Encoding") != tt.encoding || r.header.Get("Vary") != "Accept-Encoding" {
				t.Fatalf("got %d Content-Encoding %q Vary %q, want %q", r.status, r.header.Get("Content-Encoding"), r.header.Get("Vary"), tt.encoding)
			}
			wantETag := `"` + h32 + `"`
			if tt.encoding != "" {
				wantETag = `"` + h32 + "-" + tt.encoding + `"`
			}
			if r.header.Get("Etag") != wantETag {
				t.Errorf("ETag = %q, want %q", r.header.Get("Etag"), wantETag)
			}
			if got := decode(t, tt.encoding, r.body); got != big {
				t.Errorf("decoded body differs (%d bytes)", len(got))
			}
			if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(r.body)) {
				t.Errorf("Content-Length = %s, body has %d", cl, len(r.body))
			}
		})
	}
	t.Run("If-None-Match with a variant ETag", func(t *testing.T) {
		for _, inm := range []string{`"` + h32 + `-br"`, `W/"` + h32 + `-gzip"`, `"` + h32 + `"`} {
			r := do(t, srv, "GET", "/app.js", "Accept-Encoding: br", "If-None-Match: "+inm)
			if r.status != 304 || r.header.Get("Etag") != strings.TrimPrefix(inm, "W/") || r.header.Get("Vary") != "Accept-Encoding" {
				t.Errorf("If-None-Match %s: got %s", inm, r)
			}
		}
		if r := do(t, srv, "GET", "/app.js", "If-None-Match: \""+h32+"-zstd\""); r.status != 200 {
			t.Errorf("unknown variant suffix matched: %d", r.status)
		}
	})
	t.Run("no Vary without variants", func(t *testing.T) {
		r := do(t, srv, "GET", "/plain.js", "Accept-Encoding: gzip, br")
		if r.status != 200 || r.header.Get("Vary") != "" || r.header.Get("Content-Encoding") != "" {
			t.Errorf("got %s", r.header)
		}
	})
	t.Run("a variant added later shows after Invalidate", func(t *testing.T) {
		plain := sha([]byte(big + "//"))
		blobs.put(plain, "br", brotliBytes(t, []byte(big+"//")))
		if r := do(t, srv, "GET", "/plain.js", "Accept-Encoding: br"); r.header.Get("Content-Encoding") != "" {
			t.Fatalf("the cache should still know the variant as missing, got %q", r.header.Get("Content-Encoding"))
		}
		cache.Invalidate(plain)
		r := do(t, srv, "GET", "/plain.js", "Accept-Encoding: br")
		if r.header.Get("Content-Encoding") != "br" || decode(t, "br", r.body) != big+"//" {
			t.Errorf("after Invalidate: %s", r.header)
		}
	})
	_ = hash
}

func decode(t *testing.T, encoding, body string) string {
	t.Helper()
	var rd io.Reader = strings.NewReader(body)
	switch encoding {
	case "gzip":
		zr, err := gzip.NewReader(rd)
		if err != nil {
			t.Fatal(err)
		}
		rd = zr
	case "br":
		rd = brotli.NewReader(rd)
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPathModePrefix(t *testing.T) {
	site, _, _ := build(t, siteSpec{
		files:     []string{"/index.html", "/foo.html"},
		redirects: "/old /new 301\n/away https://example.org/x 302\n/moved /elsewhere 301\n",
		headers:   "/moved\n  Location: /new\n",
	})
	srv := serveSite(t, site)
	tests := []targetCase{
		{"/__project/p1", expect{200, "/index.html", ""}},
		{"/__project/p1/", expect{200, "/index.html", ""}},
		{"/__project/p1/foo", expect{200, "/foo.html", ""}},
		{"/__project/p1/foo.html?x=1", expect{307, "", "/__project/p1/foo?x=1"}},
		{"/__project/p1/[a]", expect{404, "", ""}},
		{"/__project/p1/old", expect{301, "", "/__project/p1/new"}},
		{"/__project/p1/away", expect{302, "", "https://example.org/x"}},
		// Path mode (docs/asset-serving.md#routing-a-request-to-a-project):
		// every Location the project returns that is a path gets the prefix,
		// one set by _headers too.
		{"/__project/p1/moved", expect{301, "", "/__project/p1/new"}},
	}
	checkTargets(t, srv, tests)
}

func TestMissingBlobIs500(t *testing.T) {
	site, _, _ := build(t, siteSpec{files: []string{"/index.html", "/gone.css"}, skipBlobFor: "/gone.css", headers: "/*\n  X-A: 1\n"})
	r := do(t, serveSite(t, site), "GET", "/gone.css")
	if r.status != 500 || r.body != "" {
		t.Errorf("got %s, want an empty 500", r)
	}
}

func TestLargeBlobsStream(t *testing.T) {
	big := bytes.Repeat([]byte("abcdefghijklmnop"), 8192) // 128 KiB
	site, blobs, cache := build(t, siteSpec{contents: map[string]string{"/big.bin": string(big), "/small.txt": "hi"}, budget: 64 << 10})
	srv := serveSite(t, site)
	for i := 0; i < 3; i++ {
		r := do(t, srv, "GET", "/big.bin")
		if r.status != 200 || r.body != string(big) {
			t.Fatalf("GET /big.bin: status %d, %d bytes", r.status, len(r.body))
		}
	}
	if used := cache.Used(); used > 64<<10 {
		t.Errorf("cache holds %d bytes, over its budget", used)
	}
	before := blobs.opens.Load()
	do(t, srv, "GET", "/big.bin")
	if blobs.opens.Load() == before {
		t.Errorf("a large blob was served without reading the store: it is being held in memory")
	}
	r := do(t, srv, "GET", "/big.bin", "Range: bytes=16-31")
	if r.status != 206 || r.body != "abcdefghijklmnop" {
		t.Errorf("range of a streamed blob: %s", r)
	}
	do(t, srv, "GET", "/small.txt")
	before = blobs.opens.Load()
	do(t, srv, "GET", "/small.txt")
	if n := blobs.opens.Load() - before; n != 0 {
		t.Errorf("a cached small blob cost %d store reads", n)
	}
}

// If-None-Match gives 304 only when it is exactly one of the asset's ETags
// (docs/asset-serving.md#responses-etag-and-304). An asset without compressed
// variants never sent a "-gzip"/"-br" ETag, so those values must not
// revalidate it.
func TestVariantETagRevalidatesOnlyAStoredVariant(t *testing.T) {
	site, _, _ := build(t, siteSpec{files: []string{"/app.js"}})
	srv := serveSite(t, site)
	h32 := sha([]byte(fileBody("/app.js")))[:32]
	for _, inm := range []string{`"` + h32 + `-gzip"`, `W/"` + h32 + `-br"`} {
		r := do(t, srv, "GET", "/app.js", "If-None-Match: "+inm)
		if r.status != 200 {
			t.Errorf("If-None-Match %s on an asset with no variants = %d, want 200", inm, r.status)
		}
	}
}

// Beyond Cloudflare (docs/asset-serving.md#precompressed-variants), a
// response chosen by Accept-Encoding says so in Vary. _headers may replace or
// remove Vary (docs/asset-serving.md#_headers), but not drop Accept-Encoding
// from it, or shared caches would hand br bytes to clients that never
// accepted them.
func TestHeadersRulesKeepVaryAcceptEncoding(t *testing.T) {
	big := strings.Repeat("console.log('hello, world');\n", 200)
	tests := []struct{ rule, want string }{
		{"Vary: Origin", "Origin, Accept-Encoding"},
		{"Vary: origin, accept-encoding", "origin, accept-encoding"},
		{"Vary: *", "*"},
		{"! Vary", "Accept-Encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			site, _, _ := build(t, siteSpec{
				contents:   map[string]string{"/app.js": big},
				compressed: []string{"/app.js"},
				headers:    "/*\n  " + tt.rule + "\n",
			})
			srv := serveSite(t, site)
			r := do(t, srv, "GET", "/app.js", "Accept-Encoding: br")
			if r.status != 200 || r.header.Get("Content-Encoding") != "br" {
				t.Fatalf("got %d Content-Encoding %q, want 200 br", r.status, r.header.Get("Content-Encoding"))
			}
			if got := strings.Join(r.header.Values("Vary"), ", "); got != tt.want {
				t.Errorf("Vary = %q, want %q", got, tt.want)
			}
			r = do(t, srv, "GET", "/app.js", "Accept-Encoding: br", "If-None-Match: "+r.header.Get("Etag"))
			if got := strings.Join(r.header.Values("Vary"), ", "); r.status != 304 || got != tt.want {
				t.Errorf("revalidated: %d Vary %q, want 304 %q", r.status, got, tt.want)
			}
		})
	}
}

// A not-found fallback is an ordinary file response in every other way: an
// ETag, 304 on a match, the canonical-form 307 of its path
// (docs/asset-serving.md#not-found-handling).
func TestNotFoundPageBehavesLikeAnAsset(t *testing.T) {
	site, _, _ := build(t, siteSpec{files: []string{"/404.html", "/a/404.html"}, notFound: rules.NotFoundPage})
	srv := serveSite(t, site)
	r := do(t, srv, "GET", "/a/[x]?q=1")
	if r.status != 307 || r.header.Get("Location") != "/a/%5Bx%5D?q=1" || r.body != "" {
		t.Errorf("GET /a/[x]?q=1 = %s, want 307 /a/%%5Bx%%5D?q=1", r)
	}
	r = do(t, srv, "GET", "/a/%5Bx%5D")
	if r.status != 404 || r.body != fileBody("/a/404.html") {
		t.Fatalf("GET /a/%%5Bx%%5D = %s", r)
	}
	h32 := sha([]byte(fileBody("/a/404.html")))[:32]
	for k, v := range map[string]string{
		"Etag":          `"` + h32 + `"`,
		"Content-Type":  "text/html; charset=utf-8",
		"Cache-Control": "public, max-age=0, must-revalidate",
	} {
		if got := r.header.Get(k); got != v {
			t.Errorf("404 page %s = %q, want %q", k, got, v)
		}
	}
}

// The _redirects rules of docs/asset-serving.md#_redirects: a 200 rewrite
// discards the target's query and keeps the request's search; the rewritten
// path still goes through html_handling, and a miss gets not_found_handling
// (SPA here). Matching is case-sensitive, for _redirects and _headers. In
// path mode a same-origin absolute target becomes a relative Location and
// keeps the /__project/<id> prefix. A rule with two "*" never matches, and
// later rules still do. Placeholders substitute into the target's query too.
func TestRedirectRuleDetails(t *testing.T) {
	site, _, _ := build(t, siteSpec{
		files:    []string{"/index.html", "/file.html"},
		notFound: rules.SinglePageApplication,
		redirects: `
/rq /file.html?t=1 200
/rw-miss /nothing 200
/old /new 301
/same https://site.test/x 302
/a/*/b/* /two-stars
/a/* /one-star
/s/:q /find?q=:q 302
`,
		headers: "/old\n  X-Lower: yes\n",
	})
	srv := serveSite(t, site)
	tests := []targetCase{
		{"/rq?y=2", expect{307, "", "/file?y=2"}},
		{"/rw-miss", expect{200, "/index.html", ""}},
		{"/OLD", expect{200, "/index.html", ""}},
		{"/a/1/b/2", expect{302, "", "/one-star"}},
		{"/s/abc?x=1", expect{302, "", "/find?q=abc"}},
	}
	checkTargets(t, srv, tests)
	if r := do(t, srv, "GET", "/OLD"); r.header.Get("X-Lower") != "" {
		t.Errorf("_headers /old matched /OLD")
	}
	rec := httptest.NewRecorder()
	site.Serve(rec, httptest.NewRequest("GET", "/__project/p1/same?k=v", nil),
		Request{Pathname: "/same", Search: "?k=v", Host: "site.test", Scheme: "https", Prefix: "/__project/p1"})
	if loc := rec.Header().Get("Location"); rec.Code != 302 || loc != "/__project/p1/x?k=v" {
		t.Errorf("path mode, same-origin absolute target: %d Location %q, want 302 /__project/p1/x?k=v", rec.Code, loc)
	}
}
