package assets

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseTarget(t *testing.T) {
	tests := []struct{ target, pathname, search string }{
		{"/", "/", ""},
		{"/a/b?x=1", "/a/b", "?x=1"},
		{"/x?", "/x", ""},
		{"/x?#f", "/x", ""},
		{"/x#frag", "/x", ""},
		{"/blog/../file", "/file", ""},
		{"/blog/%2E%2E/file", "/file", ""},
		{"/blog/%2e./file", "/file", ""},
		{"/a/./b/.", "/a/b/", ""},
		{"/a/..", "/", ""},
		{"/..", "/", ""},
		{"/a/%2e", "/a/", ""},
		{"/a/.%2E/", "/", ""},
		{"/..a/.b", "/..a/.b", ""},
		{`/a\b\..\c`, "/a/c", ""},
		{"//file", "//file", ""},
		{"/a b", "/a%20b", ""},
		{"/caf\u00e9", "/caf%C3%A9", ""},
		{"/\"<>`{}", "/%22%3C%3E%60%7B%7D", ""},
		{"/[]|^$&+,;=:@!'()*", "/[]|^$&+,;=:@!'()*", ""},
		{"/%zz/%2f/%7e", "/%zz/%2f/%7e", ""},
		{"/q?a b'c\"", "/q", "?a%20b%27c%22"},
		{"/q?a=/b?c", "/q", "?a=/b?c"},
		{"http://example.com/p?q=1", "/p", "?q=1"},
		{"https://example.com", "/", ""},
		{"/a\tb\n", "/ab", ""},
		{"*", "/*", ""},
	}
	for _, tt := range tests {
		p, s := ParseTarget(tt.target)
		if p != tt.pathname || s != tt.search {
			t.Errorf("ParseTarget(%q) = %q, %q; want %q, %q", tt.target, p, s, tt.pathname, tt.search)
		}
	}
}

func TestParseTargetDoesNotAllocateWhenNormal(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		ParseTarget("/assets/app.min.js?v=123")
	})
	if allocs != 0 {
		t.Errorf("ParseTarget allocated %v times for a normal target", allocs)
	}
}

func TestDecodePath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/plain", "/plain"},
		{"/a%20b", "/a b"},
		{"/%2ffile", "/file"},
		{"/a%2Fb", "/a/b"},
		{"/a%252F", "/a%2F"},
		{"/%3F+", "/?+"},
		{"/%A0", "/%A0"},                   // lone continuation byte
		{"/%C0%AF", "/%C0%AF"},             // overlong "/"
		{"/%ED%A0%80", "/%ED%A0%80"},       // surrogate
		{"/%E2%82", "/%E2%82"},             // truncated
		{"/%zz/%41", "/%zz/A"},             // bad segment kept, good one decoded
		{"/100%/a%2", "/100%/a%2"},         // malformed escapes
		{"/caf%C3%A9", "/caf\u00e9"},       // strict UTF-8 decoded
		{"//a///b//", "/a/b/"},             // runs of slashes collapse
		{"/%2F%2F/x", "/x"},                // also decoded ones
		{"/a%2f..%2fb", "/a/../b"},         // decoded dot segments stay (never found)
		{"/f%F0%9F%98%80", "/f\U0001F600"}, // four-byte
	}
	for _, tt := range tests {
		if got := decodePath(tt.in); got != tt.want {
			t.Errorf("decodePath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCanonical(t *testing.T) {
	tests := []struct{ d, want string }{
		{"/file", "/file"},
		{"/[boop]", "/%5Bboop%5D"},
		{"/a b/c+d", "/a%20b/c%2Bd"},
		{"/-_.!~*'()", "/-_.!~*'()"},
		{"/$&,;=:@", "/%24%26%2C%3B%3D%3A%40"},
		{"/caf\u00e9", "/caf%C3%A9"},
		{"/%A0", "/%25A0"},
	}
	for _, tt := range tests {
		if got := string(appendCanonical(nil, tt.d)); got != tt.want {
			t.Errorf("encode(%q) = %q, want %q", tt.d, got, tt.want)
		}
		if !isCanonical(tt.d, tt.want) {
			t.Errorf("isCanonical(%q, %q) = false", tt.d, tt.want)
		}
		if tt.d != tt.want && isCanonical(tt.d, tt.d) {
			t.Errorf("isCanonical(%q, itself) = true", tt.d)
		}
	}
}

func TestIsSafeKey(t *testing.T) {
	for _, k := range []string{"/", "/a", "/a/b.html", "/.well-known/x", "/..a", "/a..", "/a/...", "/.a./"} {
		if !isSafeKey(k) {
			t.Errorf("isSafeKey(%q) = false", k)
		}
	}
	for _, k := range []string{"", "a", "/.", "/..", "/a/../b", "/a/./b", "/a/..", "/./", "/../x"} {
		if isSafeKey(k) {
			t.Errorf("isSafeKey(%q) = true", k)
		}
	}
}

// hasDotSegment reports whether p has a "." or ".." segment; an
// independent, slow restatement of what isSafeKey refuses.
func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// FuzzPath checks the request path handling end to end: no panic, a
// pathname WHATWG would accept as normal (no dot segments, ASCII only, a
// fixed point), and lookup keys that never carry a dot segment.
func FuzzPath(f *testing.F) {
	for _, s := range []string{
		"/", "/a/../b", "/%2e%2E/x", `/a\..\b`, "//x", "/%2f..%2fetc/passwd", "/%C0%AE%C0%AE/",
		"/caf\u00e9?q=\u00e9", "/a%2f..%2f..%2fb", "/%", "/%%32%65", "http://h/x/../y", "/.%2e", "/x?#",
	} {
		f.Add(s)
	}
	site, _, _ := build(f, siteSpec{files: []string{"/index.html", "/a/b.html", "/404.html", "/a/404.html"}, notFound: "404-page"})
	f.Fuzz(func(t *testing.T, target string) {
		p, s := ParseTarget(target)
		if p == "" || p[0] != '/' {
			t.Fatalf("pathname %q does not start with /", p)
		}
		if hasDotSegment(p) {
			t.Fatalf("pathname %q keeps a dot segment", p)
		}
		for i := 0; i < len(p); i++ {
			if p[i] <= ' ' || p[i] >= 0x7f || p[i] == '\\' {
				t.Fatalf("pathname %q has raw byte %#x", p, p[i])
			}
		}
		if p2, _ := ParseTarget(p); p2 != p {
			t.Fatalf("ParseTarget not idempotent: %q -> %q -> %q", target, p, p2)
		}
		if s != "" && s[0] != '?' {
			t.Fatalf("search %q", s)
		}
		d := decodePath(p)
		if strings.Contains(d, "//") {
			t.Fatalf("decoded %q keeps a run of slashes", d)
		}
		if isSafeKey(d) == hasDotSegment(d) && d != "" && d[0] == '/' {
			t.Fatalf("isSafeKey(%q) = %v disagrees with hasDotSegment", d, isSafeKey(d))
		}
		if utf8.ValidString(d) {
			if got := decodePath(string(appendCanonical(nil, d))); got != d {
				t.Fatalf("decode(encode(%q)) = %q", d, got)
			}
		}
		// Whatever the site resolves to is one of its own assets.
		in := site.resolve(d, true, site.notFound)
		if in.kind == intentServe && site.assets[in.asset.path] != in.asset {
			t.Fatalf("resolved to a foreign asset %q", in.asset.path)
		}
		if in.kind == intentRedirect && hasDotSegment(in.to) {
			t.Fatalf("redirect target %q has a dot segment", in.to)
		}
	})
}
