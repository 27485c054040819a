package rules

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// summary renders parsed rules compactly: path{name=value,…;!unset…}.
func summary(h *Headers) string {
	var parts []string
	for _, r := range h.Rules {
		var fields []string
		for _, f := range r.Set {
			fields = append(fields, f.Name+"="+f.Value)
		}
		for _, u := range r.Unset {
			fields = append(fields, "!"+u)
		}
		parts = append(parts, r.Path+"{"+strings.Join(fields, ",")+"}")
	}
	return strings.Join(parts, " ")
}

func TestParseHeaders(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		want     string
		warnings []int // lines warned about
	}{
		{"basic", "/a\n  X-A: 1\n  x-b:2", "/a{x-a=1,x-b=2}", nil},
		{"names lower-cased, values trimmed", "/a\nX-Frame-Options:   DENY  ", "/a{x-frame-options=DENY}", nil},
		{"indentation does not matter", "/a\nX: 1\n    /b\n Y: 2", "/a{x=1} /b{y=2}", nil},
		{"repeated name joined into one value", "/a\nSet-Cookie: a=1\nSet-Cookie: b=2", "/a{set-cookie=a=1, b=2}", nil},
		{"value keeps later colons", "/a\nLink: <https://x.com/a>; rel=preload", "/a{link=<https://x.com/a>; rel=preload}", nil},
		{"unset", "/a\n! X-Powered-By\nX: 1", "/a{x=1,!X-Powered-By}", nil},
		{"unset without space is invalid", "/a\n!X-Powered-By\nX: 1", "/a{x=1}", []int{2}},
		{"unset with colon is invalid", "/a\n! X: v\nY: 1", "/a{y=1}", []int{2}},
		{"block without headers dropped", "/a\n/b\nX: 1", "/b{x=1}", []int{1}},
		{"header before any path", "X: 1\n/a\nY: 1", "/a{y=1}", []int{1}},
		{"line that is not a header", "/a\nnonsense\nX: 1", "/a{x=1}", []int{2}},
		{"name with space", "/a\nX Y: 1\nZ: 1", "/a{z=1}", []int{2}},
		{"empty value", "/a\nX:\nZ: 1", "/a{z=1}", []int{2}},
		{"empty name", "/a\n: v\nZ: 1", "/a{z=1}", []int{2}},
		{"http rejected, its headers skipped silently", "http://x.com/a\nX: 1\n/b\nY: 1", "/b{y=1}", []int{1}},
		{"port rejected", "https://x.com:8443/a\nX: 1", "", []int{1}},
		{"https normalised", "https://example.com\nX: 1", "https://example.com/{x=1}", nil},
		{"path normalised", "/a b/../c\nX: 1", "/c{x=1}", nil},
		{"two stars rejected", "/*/*\nX: 1", "", []int{1}},
		{"star with :splat rejected", "/*/:splat\nX: 1", "", []int{1}},
		{"value with :// read as a path line", "/a\nX: 1\nAccess-Control-Allow-Origin:https://x.com\nY: 2", "/a{x=1}", []int{3}},
		{"repeated path replaces, keeps position", "/a\nX: 1\n/b\nY: 1\n/a\nZ: 1", "/a{z=1} /b{y=1}", nil},
		{"comments and blank lines", "# c\n\n/a\n# X: 1\nY: 1", "/a{y=1}", nil},
		{"invalid token name", "/a\nX(1): v\nY: 1", "/a{y=1}", []int{2}},
		{"framing header refused", "/a\nContent-Length: 5\nY: 1", "/a{y=1}", []int{2}},
		{"control character in value", "/a\nX: a\x00b\nY: 1", "/a{y=1}", []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, warns, err := ParseHeaders(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(h); got != tt.want {
				t.Errorf("rules = %s, want %s", got, tt.want)
			}
			var lines []int
			for _, w := range warns {
				if w.File != "_headers" {
					t.Errorf("warning for file %q", w.File)
				}
				lines = append(lines, w.Line)
			}
			if fmt.Sprint(lines) != fmt.Sprint(tt.warnings) {
				t.Errorf("warnings on lines %v (%+v), want %v", lines, warns, tt.warnings)
			}
		})
	}
}

func TestParseHeadersLimit(t *testing.T) {
	var b strings.Builder
	for i := 0; i < MaxHeaderRules+1; i++ {
		fmt.Fprintf(&b, "/p%d\n  X: %d\n", i, i)
	}
	h, _, err := ParseHeaders(b.String())
	if err != nil || len(h.Rules) != MaxHeaderRules+1 {
		t.Fatalf("%d rules, err %v: upstream keeps %d", len(h.Rules), err, MaxHeaderRules+1)
	}
	b.WriteString("/one-more\n  X: 1\n/and-another\n  X: 1\n")
	h, warns, err := ParseHeaders(b.String())
	if len(h.Rules) != MaxHeaderRules+1 || len(warns) != 1 || api.ErrorCode(err) != api.CodeInvalid {
		t.Errorf("%d rules, %d warnings, err %v", len(h.Rules), len(warns), err)
	}
}

func FuzzParseHeaders(f *testing.F) {
	for _, s := range []string{
		"/*\n  X-Frame-Options: DENY\n/secure/*\n  X-Frame-Options: SAMEORIGIN\n",
		"https://:sub.example.com/*\n  X-Sub: :sub\n! X\n",
		"/a\nSet-Cookie: a=1\nSet-Cookie: b=2\nA:https://x\n",
		"/*/*\nX: 1\nhttp://x/\nY: 2\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		h, _, _ := ParseHeaders(text)
		paths := map[string]bool{}
		for _, r := range h.Rules {
			if paths[r.Path] {
				t.Fatalf("path %q appears twice", r.Path)
			}
			paths[r.Path] = true
			if len(r.Set) == 0 && len(r.Unset) == 0 {
				t.Fatalf("empty rule %q kept", r.Path)
			}
			if _, err := CompilePattern(r.Path); err != nil {
				t.Fatalf("kept a rule that cannot compile: %v", err)
			}
			for _, f := range r.Set {
				if !isToken(f.Name) || f.Name != strings.ToLower(f.Name) || f.Value == "" || strings.ContainsAny(f.Value, "\r\n\x00") {
					t.Fatalf("bad field %q: %q", f.Name, f.Value)
				}
			}
		}
		if len(h.Rules) > MaxHeaderRules+1 {
			t.Fatalf("%d rules", len(h.Rules))
		}
	})
}
