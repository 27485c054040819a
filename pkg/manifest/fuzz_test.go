package manifest

import (
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzValidatePath checks that every path ValidatePath accepts is one that
// can never leave the deployment or mean two things: absolute, already
// clean (so no "." or ".." segment and no "//"), valid UTF-8 without control
// characters, and within the length limit. And whatever the input, it
// answers without panicking.
func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{"/", "/index.html", "/a/b/c.js", "/../etc/passwd", "/a/./b", "/a//b", "a", "",
		"/%2e%2e/x", "/a\\..\\b", "/\x00", "/é/ü.html", "/a/", "/\xff", "/" + strings.Repeat("a", 1100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if ValidatePath(p) != nil {
			return
		}
		switch {
		case !strings.HasPrefix(p, "/"):
			t.Fatalf("accepted %q, which is not absolute", p)
		case len(p) > MaxPathLength:
			t.Fatalf("accepted a %d-byte path", len(p))
		case !utf8.ValidString(p):
			t.Fatalf("accepted invalid UTF-8 %q", p)
		case strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			t.Fatalf("accepted a control character in %q", p)
		case p != "/" && path.Clean(p) != p:
			t.Fatalf("accepted %q, which cleans to %q", p, path.Clean(p))
		}
		for seg := range strings.SplitSeq(p[1:], "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("accepted a %q segment in %q", seg, p)
			}
		}
	})
}

// FuzzValidateHash checks that only 64 lowercase hex digits pass.
func FuzzValidateHash(f *testing.F) {
	f.Add(strings.Repeat("a", 64))
	f.Add(strings.Repeat("A", 64))
	f.Add("../../etc/passwd")
	f.Add(strings.Repeat("0", 63) + "g")
	f.Fuzz(func(t *testing.T, h string) {
		ok := len(h) == 64 && strings.Trim(h, "0123456789abcdef") == ""
		if err := ValidateHash(h); (err == nil) != ok {
			t.Fatalf("ValidateHash(%q) = %v", h, err)
		}
	})
}

// FuzzValidate feeds the manifest validator a file list made from
// newline-separated paths with sizes, and checks it against the rules one
// by one: it passes exactly the lists within the limits whose every path
// is valid.
func FuzzValidate(f *testing.F) {
	f.Add("/index.html\n/app.js", int64(10), 3)
	f.Add("/a\n/../b", int64(1), 10)
	f.Add("/big", int64(1<<40), 10)
	f.Add("/a\n/b\n/c", int64(0), 2)
	f.Fuzz(func(t *testing.T, list string, size int64, maxFiles int) {
		lim := Limits{MaxFileSize: 1 << 20, MaxFiles: maxFiles, MaxBodyBytes: 1 << 20}
		var files []File
		want := maxFiles <= 0 || strings.Count(list, "\n")+1 <= maxFiles
		for i, p := range strings.Split(list, "\n") {
			s := size + int64(i)
			files = append(files, File{Path: p, Size: s})
			if ValidatePath(p) != nil || s > lim.MaxFileSize {
				want = false
			}
		}
		err := Validate(files, lim)
		if (err == nil) != want {
			t.Fatalf("Validate(%q, size %d, max %d files) = %v", list, size, maxFiles, err)
		}
	})
}
