package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

func TestParseRedirectsLines(t *testing.T) {
	tests := []struct {
		name string
		line string
		want *RedirectRule // nil: skipped with a warning
	}{
		{"default status", "/a /b", &RedirectRule{From: "/a", To: "/b", Status: 302, Static: true}},
		{"explicit status", "/a /b 301", &RedirectRule{From: "/a", To: "/b", Status: 301, Static: true}},
		{"rewrite", "/a /b 200", &RedirectRule{From: "/a", To: "/b", Status: 200, Static: true}},
		{"JS Number decimal", "/a /b 301.0", &RedirectRule{From: "/a", To: "/b", Status: 301, Static: true}},
		{"JS Number hex", "/a /b 0x12D", &RedirectRule{From: "/a", To: "/b", Status: 301, Static: true}},
		{"JS Number exponent", "/a /b 3.07e2", &RedirectRule{From: "/a", To: "/b", Status: 307, Static: true}},
		{"status not permitted", "/a /b 404", nil},
		{"status not a number", "/a /b abc", nil},
		{"one token", "/a", nil},
		{"four tokens", "/a /b 301 extra", nil},
		{"inline comment", "/a /b 301 # moved", &RedirectRule{From: "/a", To: "/b", Status: 301, Static: true}},
		{"bare inline comment", "/a /b #", &RedirectRule{From: "/a", To: "/b", Status: 302, Static: true}},
		{"fragment is not a comment", "/a /b#frag", &RedirectRule{From: "/a", To: "/b#frag", Status: 302, Static: true}},
		{"comment of several words", "/a /b #moved in 2024", &RedirectRule{From: "/a", To: "/b", Status: 302, Static: true}},
		{"comment after a tab", "/a\t/b\t#c", &RedirectRule{From: "/a", To: "/b", Status: 302, Static: true}},
		{"comment after JS white space", "/a /b\u00a0#c", &RedirectRule{From: "/a", To: "/b", Status: 302, Static: true}},
		{"comment leaves only from", "/x/* #note", nil},
		{"comment before the target", "/a #b /c", nil},
		{"tabs and CR", "\t/a\t\t/b\t308\r", &RedirectRule{From: "/a", To: "/b", Status: 308, Static: true}},
		{"from without slash gets one", "yeah.com /b", &RedirectRule{From: "/yeah.com", To: "/b", Status: 302, Static: true}},
		{"absolute from", "https://x.com/a /b", nil},
		{"from loses query and fragment", "/q?a=1#x /b", &RedirectRule{From: "/q", To: "/b", Status: 302, Static: true}},
		{"from normalised", "/a/../caf\u00e9/x%20y /b", &RedirectRule{From: "/caf%C3%A9/x%20y", To: "/b", Status: 302, Static: true}},
		{"to keeps query and fragment", "/a /b?c=1#d", &RedirectRule{From: "/a", To: "/b?c=1#d", Status: 302, Static: true}},
		{"to absolute", "/a https://Example.com", &RedirectRule{From: "/a", To: "https://Example.com/", Status: 302, Static: true}},
		{"to absolute with port", "/a https://example.com:8443/x", &RedirectRule{From: "/a", To: "https://example.com:8443/x", Status: 302, Static: true}},
		{"to http rejected", "/a http://example.com/", nil},
		{"to relative without slash rejected", "/a b", nil},
		{"rewrite to another host rejected", "/a https://example.com/ 200", nil},
		{"splat to index loops", "/* /index.html 200", nil},
		{"splat to index loops, any character for the dot", "/app/* /indexXhtml", nil},
		{"root to index loops", "/ /index 301", nil},
		{"root to absolute index is fine", "/ https://x.com/index", &RedirectRule{From: "/", To: "https://x.com/index", Status: 302, Static: true}},
		{"splat", "/blog/* /p/:splat 301", &RedirectRule{From: "/blog/*", To: "/p/:splat", Status: 301}},
		{"placeholder", "/u/:id /users/:id", &RedirectRule{From: "/u/:id", To: "/users/:id", Status: 302}},
		{"long line", "/a /" + strings.Repeat("b", MaxRuleLineLength), nil},
		{"line length in characters, not bytes", "/a /" + strings.Repeat("\u00e9", MaxRuleLineLength-4),
			&RedirectRule{From: "/a", To: "/" + strings.Repeat("%C3%A9", MaxRuleLineLength-4), Status: 302, Static: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, warns, err := ParseRedirects(tt.line, AutoTrailingSlash)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if len(r.Rules) != 0 || len(warns) != 1 || warns[0].Line != 1 || warns[0].File != "_redirects" {
					t.Fatalf("rules %+v, warnings %+v; want one warning and no rule", r.Rules, warns)
				}
				return
			}
			want := *tt.want
			want.Line = 1
			if len(r.Rules) != 1 || r.Rules[0] != want || len(warns) != 0 {
				t.Fatalf("rules %+v, warnings %+v; want %+v", r.Rules, warns, want)
			}
		})
	}
}

func TestParseRedirectsFile(t *testing.T) {
	text := strings.Join([]string{
		"# comment",
		"",
		"/a /b",
		"/a /c",        // duplicate: ignored
		"/d/* /e",      // first dynamic rule
		"/static /f",   // static in form, dynamic by position
		"/ /index 301", // loop only when html handling is on
	}, "\n")
	r, warns, err := ParseRedirects(text, AutoTrailingSlash)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rule := range r.Rules {
		got = append(got, fmt.Sprintf("%d:%s:%v", rule.Line, rule.From, rule.Static))
	}
	if want := "3:/a:true 5:/d/*:false 6:/static:false"; strings.Join(got, " ") != want {
		t.Errorf("rules = %s, want %s", strings.Join(got, " "), want)
	}
	if len(warns) != 2 || warns[0].Line != 4 || warns[1].Line != 7 {
		t.Errorf("warnings = %+v, want lines 4 and 7", warns)
	}
	r, _, _ = ParseRedirects(text, HTMLHandlingNone)
	if n := len(r.Rules); n != 4 {
		t.Errorf("with html_handling none, %d rules, want 4 (the / → /index rule is allowed)", n)
	}
	// The parsed form survives JSON, so the host may store it.
	b, _ := json.Marshal(r)
	var back Redirects
	if err := json.Unmarshal(b, &back); err != nil || fmt.Sprint(back) != fmt.Sprint(*r) {
		t.Errorf("JSON round trip: %v, %+v", err, back)
	}
}

// A line counts toward the limits, and a dynamic "from" makes every later
// rule dynamic, as soon as its "from" is valid, whatever is wrong with the
// rest of it, as upstream. An inline comment is cut before that, so "/x/*
// #note" has no target and does not count.
func TestParseRedirectsInvalidLineCounts(t *testing.T) {
	tests := []struct {
		name, line string
		static     bool
	}{
		{"comment leaves one token", "/x/* #note", true},
		{"comment before the target", "/x/* #b /c", true},
		{"invalid target", "/x/* b", false},
		{"invalid status", "/x/* /y 404", false},
		{"loop", "/x/* /index", false},
		{"rewrite to another host", "/x/* https://example.com/ 200", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, warns, err := ParseRedirects(tt.line+"\n/b /c", AutoTrailingSlash)
			if err != nil {
				t.Fatal(err)
			}
			want := RedirectRule{From: "/b", To: "/c", Status: 302, Line: 2, Static: tt.static}
			if len(r.Rules) != 1 || r.Rules[0] != want {
				t.Errorf("rules %+v, want %+v", r.Rules, want)
			}
			if len(warns) != 1 || warns[0].Line != 1 {
				t.Errorf("warnings %+v, want one for line 1", warns)
			}
		})
	}
}

func TestParseRedirectsLimits(t *testing.T) {
	lines := func(n int, format string) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, format+"\n", i)
		}
		return b.String()
	}
	tests := []struct {
		name      string
		text      string
		rules     int
		warnings  int
		overLimit bool
	}{
		{"static", lines(MaxStaticRedirects+3, "/s%d /t"), MaxStaticRedirects, 3, true},
		{"dynamic: parsing stops at the 101st", lines(MaxDynamicRedirects+5, "/d%d/* /t") + "/after /t\n", MaxDynamicRedirects, 1, true},
		// An invalid line with a valid "from" still counts, as upstream.
		{"invalid static lines", lines(MaxStaticRedirects, "/s%d /t 999") + "/last /t\n", 0, MaxStaticRedirects + 1, true},
		{"invalid dynamic line", lines(MaxDynamicRedirects, "/d%d/* /t") + "/bad/* /t 999\n", MaxDynamicRedirects, 1, true},
		// The comment is cut first, so this line has no target and counts
		// for nothing: the 100 rules after it stay static.
		{"commented-out target before static rules", "/legacy/* #removed\n" + lines(MaxDynamicRedirects, "/s%d /t 301"), MaxDynamicRedirects, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, warns, err := ParseRedirects(tt.text, AutoTrailingSlash)
			if len(r.Rules) != tt.rules || len(warns) != tt.warnings {
				t.Errorf("%d rules, %d warnings; want %d, %d", len(r.Rules), len(warns), tt.rules, tt.warnings)
			}
			if got := api.ErrorCode(err) == api.CodeInvalid; got != tt.overLimit || !got && err != nil {
				t.Errorf("err = %v, want over the limit: %v", err, tt.overLimit)
			}
		})
	}

	if _, _, err := ParseRedirects(strings.Repeat("#", MaxRulesFileBytes+1), AutoTrailingSlash); api.ErrorCode(err) != api.CodeInvalid {
		t.Errorf("oversized text: err %v", err)
	}
}

// Both rule files share the line limit (docs/asset-serving.md#limits):
// characters as JavaScript counts them, after trimming; comment lines of any
// length are exempt.
func TestRuleFilesLineLength(t *testing.T) {
	parse := map[string]func(string) (int, []api.Warning, error){
		"_redirects": func(s string) (int, []api.Warning, error) {
			r, warns, err := ParseRedirects(s, AutoTrailingSlash)
			return len(r.Rules), warns, err
		},
		"_headers": func(s string) (int, []api.Warning, error) {
			h, warns, err := ParseHeaders(s)
			return len(h.Rules), warns, err
		},
	}
	// header is a "X: …" line of n characters.
	header := func(n int, c string) string { return "X: " + strings.Repeat(c, n-len("X: ")) }
	longComment := "#" + strings.Repeat("c", 3*MaxRuleLineLength)
	tests := []struct {
		name, file, text string
		rules            int
		warned           []int // lines
	}{
		{"redirect at the limit", "_redirects", "/a /" + strings.Repeat("b", MaxRuleLineLength-4), 1, nil},
		{"redirect over the limit", "_redirects", "/a /" + strings.Repeat("b", MaxRuleLineLength-3) + "\n/c /d", 1, []int{1}},
		{"redirect long comment", "_redirects", longComment + "\n/a /b", 1, nil},
		{"header at the limit", "_headers", "/a\n" + header(MaxRuleLineLength, "v"), 1, nil},
		{"header over the limit", "_headers", "/a\n" + header(MaxRuleLineLength+1, "v") + "\nY: 1", 1, []int{2}},
		{"header in characters, not bytes", "_headers", "/a\n" + header(MaxRuleLineLength, "\u00e9"), 1, nil},
		{"header long comment", "_headers", longComment + "\n/a\nX: 1", 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules, warns, err := parse[tt.file](tt.text)
			if err != nil {
				t.Fatal(err)
			}
			var lines []int
			for _, w := range warns {
				lines = append(lines, w.Line)
			}
			if rules != tt.rules || fmt.Sprint(lines) != fmt.Sprint(tt.warned) {
				t.Errorf("%d rules, warnings %+v; want %d rules, warnings on lines %v", rules, warns, tt.rules, tt.warned)
			}
		})
	}
}

func TestCutInlineComment(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/a /b", "/a /b"},
		{"/a /b#frag", "/a /b#frag"},
		{"/a /b 301 #c", "/a /b 301 "},
		{"/x/* #note", "/x/* "},
		{"/a#b #c #d", "/a#b "},
		{"/a\t#c", "/a\t"},
		{"/a\u3000#c", "/a\u3000"},
		{"/a\u00e9#c", "/a\u00e9#c"},
	}
	for _, tt := range tests {
		if got := cutInlineComment(tt.in); got != tt.want {
			t.Errorf("cutInlineComment(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestJSNumber(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"301", 301, true}, {"301.", 301, true}, {".5", 0.5, true}, {"+301", 301, true},
		{"3.01e2", 301, true}, {"0x12D", 301, true}, {"0o455", 301, true}, {"0b100101101", 301, true},
		{"Infinity", math.Inf(1), true}, {"", 0, true}, {"1_0", 0, false}, {"0x", 0, false},
		{"-0x12D", 0, false}, {"3e", 0, false}, {"abc", 0, false}, {"inf", 0, false}, {"0x1p3", 0, false},
		{"++1", 0, false}, {".", 0, false},
	}
	for _, tt := range tests {
		got, ok := jsNumber(tt.in)
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("jsNumber(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNormalizePathname(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "/"},
		{"", "/"},
		{"/a/./b/../c", "/a/c"},
		{"/%2e%2E/x", "/x"},
		{"/a/%2e", "/a/"},
		{`/a\b`, "/a/b"},
		{"/sp ace", "/sp%20ace"},
		{"/\u00e9", "/%C3%A9"},
		{"/%zz", "/%zz"},
		{"//x", "//x"},
		{"/a\x7fb", "/a%7Fb"},
	}
	for _, tt := range tests {
		if got := NormalizePathname(tt.in); got != tt.want {
			t.Errorf("NormalizePathname(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPattern(t *testing.T) {
	tests := []struct {
		pattern, subject string
		match            bool
		caps             string
	}{
		{"/a", "/a", true, ""},
		{"/a", "/a/", false, ""},
		{"/blog/*", "/blog/", true, ""},
		{"/blog/*", "/blog/x/y", true, "x/y"},
		{"/blog/*", "/blog", false, ""},
		{"/*.js", "/a/b.js", true, "a/b"},
		{"/users/:id", "/users/42", true, "42"},
		{"/users/:id", "/users/42/", false, ""},
		{"/users/:id", "/users/", false, ""},
		{"/p:x", "/pfoo", true, "foo"},
		{"/:a/:b/*", "/1/2/3/4", true, "1 2 3/4"},
		{"/a.b", "/aXb", false, ""},
		{"/(x)+", "/(x)+", true, ""},
		{"/p/:id/:id_2", "/p/1/2", true, "1 2"},
		{"https://:sub.example.com/*", "https://api.example.com/x", true, "api x"},
		{"https://:sub.example.com/*", "https://a.b.example.com/x", false, ""},
		{"/:name", "/a.b", true, "a.b"},
	}
	for _, tt := range tests {
		p, err := CompilePattern(tt.pattern)
		if err != nil {
			t.Fatalf("CompilePattern(%q): %v", tt.pattern, err)
		}
		caps, ok := p.Match(tt.subject, nil)
		if ok != tt.match || ok && strings.Join(caps, " ") != tt.caps {
			t.Errorf("%q on %q = %v %q, want %v %q", tt.pattern, tt.subject, ok, caps, tt.match, tt.caps)
		}
	}
	for _, bad := range []string{"/*/*", "/:a/:a", "/:splat/*"} {
		if _, err := CompilePattern(bad); err == nil {
			t.Errorf("CompilePattern(%q) accepted a pattern upstream cannot compile", bad)
		}
	}
}

func TestSubstitute(t *testing.T) {
	tests := []struct {
		template string
		names    []string
		values   []string
		want     string
		has      bool
	}{
		{"/u/:id", []string{"id"}, []string{"42"}, "/u/42", true},
		{"/u/:id/:idx", []string{"id"}, []string{"42"}, "/u/42/:idx", true},
		{"/u/:idx", []string{"id"}, []string{"42"}, "/u/:idx", false},
		{"/:id_2-:id", []string{"id", "id_2"}, []string{"1", "2"}, "/2-1", true},
		{"/:splat", []string{"splat"}, []string{":id"}, "/:id", true},
		{"https://x.com/", []string{"splat"}, []string{"s"}, "https://x.com/", false},
	}
	for _, tt := range tests {
		if got := Substitute(tt.template, tt.names, tt.values); got != tt.want {
			t.Errorf("Substitute(%q) = %q, want %q", tt.template, got, tt.want)
		}
		if got := HasSubstitution(tt.template, tt.names); got != tt.has {
			t.Errorf("HasSubstitution(%q) = %v, want %v", tt.template, got, tt.has)
		}
	}
}

func FuzzParseRedirects(f *testing.F) {
	for _, s := range []string{
		"/a /b 301\n/c/* /d/:splat\n/u/:id /x/:id 200\n",
		"# c\n/a https://x.com/y?q#h 0x12D\n/ /index\n",
		"/a /b\r\n/a /c\n/*/* /x\n/:a/:a /y\n",
		"/caf\u00e9 /\u00e9 3.02e2 # comment\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		r, warns, _ := ParseRedirects(text, AutoTrailingSlash)
		seen := map[string]bool{}
		for _, rule := range r.Rules {
			if !strings.HasPrefix(rule.From, "/") {
				t.Fatalf("from %q is not a path", rule.From)
			}
			if !strings.HasPrefix(rule.To, "/") && !strings.HasPrefix(rule.To, "https://") {
				t.Fatalf("to %q", rule.To)
			}
			if _, ok := redirectStatuses[float64(rule.Status)]; !ok {
				t.Fatalf("status %d", rule.Status)
			}
			if seen[rule.From] {
				t.Fatalf("duplicate from %q kept", rule.From)
			}
			seen[rule.From] = true
			if NormalizePathname(rule.From) != rule.From && !strings.Contains(rule.From, `\`) {
				t.Fatalf("from %q is not normal", rule.From)
			}
			if p, err := CompilePattern(rule.From); err == nil {
				p.Match(rule.From, nil)
			}
		}
		for _, w := range warns {
			if w.Line < 0 || w.File != "_redirects" {
				t.Fatalf("warning %+v", w)
			}
		}
	})
}

func TestRedirectWarningsInLineOrder(t *testing.T) {
	text := "bad line here x y\n/" + strings.Repeat("a", MaxRuleLineLength+1) + " /b\nalso bad x y z\n"
	_, warns, _ := ParseRedirects(text, AutoTrailingSlash)
	if len(warns) != 3 || warns[0].Line != 1 || warns[1].Line != 2 || warns[2].Line != 3 {
		t.Fatalf("warnings %+v", warns)
	}
}
