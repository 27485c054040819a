package rules

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// regexpMatch is how patterns used to match, and how upstream matches: one
// anchored regular expression with a group per capture. Go's regexp picks
// the same submatches as a backtracking engine (leftmost-first, greedy), so
// it is the reference the linear matcher must agree with.
func regexpMatch(t testing.TB, rule, s string) ([]string, bool) {
	t.Helper()
	var expr strings.Builder
	expr.WriteString("^")
	for _, pc := range splitRule(rule) {
		switch {
		case pc.name == "":
			expr.WriteString(regexp.QuoteMeta(pc.lit))
		case pc.class == "":
			expr.WriteString("(.*)")
		default:
			expr.WriteString("(" + pc.class + ")")
		}
	}
	expr.WriteString("$")
	re := regexp.MustCompile(expr.String())
	m := re.FindStringSubmatch(s)
	if m == nil {
		return nil, false
	}
	return m[1:], true
}

// checkAgainstRegexp compares Match with the regular expression on one
// pattern and subject.
func checkAgainstRegexp(t testing.TB, rule, s string) {
	t.Helper()
	p, err := CompilePattern(rule)
	if err != nil {
		return
	}
	got, ok := p.Match(s, nil)
	want, wantOK := regexpMatch(t, rule, s)
	if ok != wantOK || ok && strings.Join(got, "\x00") != strings.Join(want, "\x00") {
		t.Fatalf("%q on %q = %v %q, the regular expression gives %v %q", rule, s, ok, got, wantOK, want)
	}
}

// The linear matcher captures exactly what the regular expression does,
// on random patterns and subjects over a small alphabet that makes
// literals, slashes and dots collide often.
func TestPatternAgreesWithRegexp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ruleParts := []string{"/", "/", "a", "b", ".", "ab", "-", ":x", ":y", ":z", "*"}
	hostParts := []string{"a", ".", "-", ":h", ":i", "*", "b.", ":j:k"}
	subjParts := []string{"/", "a", "b", ".", "ab", "-", "ba"}
	n := 200000
	if testing.Short() {
		n = 20000
	}
	type pair struct{ rule, subject string }
	cases := make([]pair, 0, n)
	for range n {
		var rule strings.Builder
		if rng.IntN(4) == 0 {
			rule.WriteString("https://")
			for range rng.IntN(5) {
				rule.WriteString(hostParts[rng.IntN(len(hostParts))])
			}
		}
		rule.WriteString("/")
		for range rng.IntN(8) {
			rule.WriteString(ruleParts[rng.IntN(len(ruleParts))])
		}
		var subj strings.Builder
		if strings.HasPrefix(rule.String(), "https://") {
			subj.WriteString("https://")
			for range rng.IntN(6) {
				subj.WriteString([]string{"a", "b", ".", "-", "ab."}[rng.IntN(5)])
			}
		}
		subj.WriteString("/")
		for range rng.IntN(12) {
			subj.WriteString(subjParts[rng.IntN(len(subjParts))])
		}
		cases = append(cases, pair{rule.String(), subj.String()})
	}
	// The cases are drawn in one sequence and checked in parallel shards:
	// under the race detector the checks take half a minute of CPU.
	const shards = 4
	for i := range shards {
		t.Run(fmt.Sprint("shard ", i), func(t *testing.T) {
			t.Parallel()
			for j := i; j < len(cases); j += shards {
				checkAgainstRegexp(t, cases[j].rule, cases[j].subject)
			}
		})
	}
}

func FuzzPatternAgreesWithRegexp(f *testing.F) {
	f.Add("/:a/:b/*", "/1/2/3/4")
	f.Add("/*.js", "/a/b.js")
	f.Add("https://:sub.example.com/*", "https://api.example.com/x")
	f.Add("/:a-:b.:c", "/x-y-z.w.v")
	f.Fuzz(func(t *testing.T, rule, s string) {
		if len(rule) > 200 || len(s) > 300 || !strings.HasPrefix(rule, "/") && !strings.HasPrefix(rule, "https://") {
			return
		}
		// Subjects are printable ASCII: pathnames are percent-encoded and
		// Go's server refuses other bytes in a Host.
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] >= 0x7f {
				return
			}
		}
		checkAgainstRegexp(t, rule, s)
	})
}

// Hand-picked cases where greedy captures and slashes interact.
func TestPatternGreedyCaptures(t *testing.T) {
	tests := []struct {
		pattern, subject string
		match            bool
		caps             string
	}{
		{"/:a:b", "/abc", true, "ab c"},
		{"/:a-:b", "/x-y-z", true, "x-y z"},
		{"/:a-:b-", "/x-y-z-", true, "x-y z"},
		{"/*-:b", "/x-y/z-w", true, "x-y/z w"},
		{"/*-:b", "/x-y/z-w/", false, ""},
		{"/a:x*b:y", "/aQQbRRbSS", true, "QQbRR  SS"},
		{"/:a/*/:b", "/1/2/3/4", true, "1 2/3 4"},
		{"/:a*", "/abc/d", true, "abc /d"},
		{"/x:a*:b/y", "/xab/cd/y", true, "ab /c d"},
		{"https://:a.:b.com/*", "https://x.y.com/p", true, "x y p"},
		{"https://:a:b.com/", "https://x.y.z.com/", true, "x.y. z"},
		{"https://*.:a.com/", "https://x.y.z.com/", true, "x.y z"},
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
		checkAgainstRegexp(t, tt.pattern, tt.subject)
	}
}

// A host longer than any DNS name never matches a rule with a placeholder
// that may not span dots; the same rule still matches a real host.
func TestPatternLongHost(t *testing.T) {
	p, err := CompilePattern("https://:sub.example.com/*")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Match("https://api.example.com/x", nil); !ok {
		t.Error("a real host does not match")
	}
	if _, ok := p.Match("https://"+strings.Repeat("a", 300)+".example.com/x", nil); ok {
		t.Error("a 300-byte host label matches")
	}
}

func TestCompilePatternPlaceholderLimit(t *testing.T) {
	rule := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString("/:p" + string(rune('a'+i)))
		}
		return b.String()
	}
	if _, err := CompilePattern(rule(MaxRulePlaceholders)); err != nil {
		t.Errorf("%d placeholders: %v", MaxRulePlaceholders, err)
	}
	if _, err := CompilePattern(rule(MaxRulePlaceholders) + "/*"); err == nil {
		t.Errorf("%d placeholders and a splat compiled", MaxRulePlaceholders)
	}
	if got := CountPlaceholders(rule(4) + "/*"); got != 5 {
		t.Errorf("CountPlaceholders = %d, want 5", got)
	}
}

func TestSubstituteMax(t *testing.T) {
	names, values := []string{"splat"}, []string{strings.Repeat("x", 100)}
	tmpl := strings.Repeat("/:splat", 330)
	if _, ok := SubstituteMax(tmpl, names, values, 16<<10); ok {
		t.Error("a 33 KB substitution fit in 16 KiB")
	}
	got, ok := SubstituteMax("/a/:splat/b", names, values, 200)
	if want := "/a/" + values[0] + "/b"; !ok || got != want {
		t.Errorf("SubstituteMax = %q %v, want %q", got, ok, want)
	}
	if _, ok := SubstituteMax("/a/:splat/b", names, values, 104); ok {
		t.Error("105 bytes fit in 104")
	}
	if _, ok := SubstituteMax("/plain", names, values, 3); ok {
		t.Error("a 6-byte template without placeholders fit in 3")
	}
}

// BenchmarkPatternHostile matches a 60 KB path against 100 rules of the
// most expensive shapes a deployment may have, ten placeholders each; the
// last rule matches. Before the linear matcher, one rule of the first shape
// took seconds on a path a third as long. "set" matches through a
// PatternSet, as the host does; "alone" matches each pattern on its own,
// each searching the path for its literals (tens of milliseconds for the
// worst shapes).
//
//   - placeholders: the shape of the attack, "/:a:b:c…" (with "/"s and
//     literals varied so that no rule matches);
//   - absent-literal: literals between placeholders that the path lacks,
//     so that every rule searches the whole path;
//   - frequent-byte: such literals starting with the byte the path is made
//     of, the slowest case for a forward search of a short literal (a
//     literal after a placeholder starts with a byte that is not a letter,
//     digit or "_", so the path is made of "-");
//   - long-literal: such literals as long as MaxRuleInnerLiteral allows
//     (longer ones, which Go searches without vector instructions, took
//     15 ms here and are refused at deploy);
//   - literal-elsewhere: such literals, all present in the path, but in
//     another segment than the one searched;
//   - splat: such literals next to a "*", before it or after it;
//   - host: _headers rules with placeholders in the host (which may not
//     span a dot, matched by dynamic programming), their literals all in a
//     250-byte host but none where it would match.
func BenchmarkPatternHostile(b *testing.B) {
	dashes := "/" + strings.Repeat("-", 60<<10)
	tag := func(i int) string { return string(rune('A' + i%26)) }
	long := func(i int) string { return strings.Repeat("-", MaxRuleInnerLiteral-2) + "~" + tag(i) }
	var all, tags strings.Builder
	for i := range 26 {
		all.WriteString(long(i))
		tags.WriteString("-~" + tag(i))
	}
	host := "https://" + tags.String() + "." + strings.Repeat("-", 250-tags.Len()-5) + ".com"
	shapes := []struct {
		name, path, last string
		rule             func(i int) string
	}{
		{"placeholders", dashes, "", func(i int) string {
			return []string{"/:a:b:c:d:e:f:g:h:i:j/", "/:a/:b/:c/:d/:e/:f/:g/:h/:i/:j", "/:a:b:c:d:e:f:g:h:i:j~" + tag(i), "/x:a:b:c:d:e:f:g:h:i:j"}[i%4]
		}},
		{"absent-literal", dashes, "", func(i int) string { return "/:a~" + tag(i) + ":b:c:d:e:f:g:h:i~" + tag(i) + ":j" }},
		{"frequent-byte", dashes, "", func(i int) string { return "/:a:b:c:d:e:f:g:h:i-~" + tag(i) + ":j" }},
		{"long-literal", dashes, "", func(i int) string { return "/:a:b:c:d:e:f:g:h:i" + long(i) + ":j" }},
		{"literal-elsewhere", dashes + "/" + all.String(), "/:a:b:c:d:e:f:g:h:i/:j", func(i int) string {
			return "/:a:b:c:d:e:f:g:h" + long(i) + ":i/:j"
		}},
		{"splat", dashes, "", func(i int) string {
			if i%2 == 0 {
				return "/:a:b:c:d:e:f:g:h:i" + long(i) + "*"
			}
			return "/*" + long(i) + ":a:b:c:d:e:f:g:h:i"
		}},
		{"host", host + dashes, "https://*", func(i int) string {
			return []string{"https://:a:b:c:d:e:f:g:h-~", "https://:a-:b-:c-:d-:e-:f-:g-:h-~"}[i%2] + tag(i) + ":i.com/*"
		}},
	}
	for _, shape := range shapes {
		var pats []*Pattern
		for i := range 99 {
			p, err := CompilePattern(shape.rule(i))
			if err != nil {
				b.Fatal(err)
			}
			pats = append(pats, p)
		}
		last, err := CompilePattern(cmp.Or(shape.last, "/:a:b:c:d:e:f:g:h:i:j"))
		if err != nil {
			b.Fatal(err)
		}
		pats = append(pats, last)
		ps := NewPatternSet(pats)
		var buf [MaxRulePlaceholders]string
		for _, how := range []string{"set", "alone"} {
			b.Run(shape.name+"/"+how, func(b *testing.B) {
				b.SetBytes(int64(len(shape.path)))
				b.ReportAllocs()
				for b.Loop() {
					matched := 0
					sub := NewSubject(shape.path)
					for i, p := range pats {
						var ok bool
						if how == "set" {
							_, ok = ps.MatchSubject(i, &sub, buf[:0])
						} else {
							_, ok = p.MatchSubject(&sub, buf[:0])
						}
						if ok {
							matched++
						}
					}
					sub.Release()
					if matched != 1 {
						b.Fatalf("%d rules matched, want 1", matched)
					}
				}
			})
		}
	}
}

// A rule path with more captures than MaxRulePlaceholders, or with more
// than MaxRuleInnerLiteral bytes between two captures of a segment, refuses
// the deployment, naming the file's line, in both rule files; the other
// rules are kept.
func TestRuleCostLimits(t *testing.T) {
	many := "/:a:b:c:d:e:f:g:h:i:j:k"
	enough := "/:a/:b/:c/:d/:e/:f/:g/:h/:i/*"
	literal := strings.Repeat("-", MaxRuleInnerLiteral)
	tests := []struct {
		name, file, text string
		wantLine         int // 0: accepted
		wantRules        int
	}{
		{"redirect at the limit", "_redirects", "/x /y\n" + enough + " /z", 0, 2},
		{"redirect over the limit", "_redirects", "/x /y\n" + many + " /z 301\n/p/* /q", 2, 2},
		{"redirect splat counts", "_redirects", enough + ":z /q", 1, 0},
		{"header at the limit", "_headers", enough + "\n  X-A: 1", 0, 1},
		{"header over the limit", "_headers", "/a\n  X-A: 1\n" + many + "\n  X-B: 2\n/b\n  X-C: 3", 3, 2},
		{"redirect literal at the limit", "_redirects", "/:a" + literal + ":b /z", 0, 1},
		{"redirect literal over the limit", "_redirects", "/x /y\n/:a-" + literal + ":b /z", 2, 1},
		{"redirect literal before the splat", "_redirects", "/:a-" + literal + "* /z", 1, 0},
		{"header literal over the limit", "_headers", "/*-" + literal + ":a\n  X-A: 1\n/b\n  X-C: 3", 1, 1},
		{"literal around one capture", "_headers", "/" + literal + literal + ":a" + literal + literal + "\n  X-A: 1", 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			var warns []api.Warning
			var rules int
			if tt.file == "_redirects" {
				var r *Redirects
				r, warns, err = ParseRedirects(tt.text, HTMLHandlingNone)
				rules = len(r.Rules)
			} else {
				var h *Headers
				h, warns, err = ParseHeaders(tt.text)
				rules = len(h.Rules)
			}
			if rules != tt.wantRules {
				t.Errorf("%d rules kept, want %d", rules, tt.wantRules)
			}
			if tt.wantLine == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			want := fmt.Sprintf("line %d: ", tt.wantLine)
			if err == nil || api.ErrorCode(err) != api.CodeInvalid || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "placeholders") {
				t.Fatalf("err = %v, want an invalid-request error starting %q", err, want)
			}
			if len(warns) != 1 || warns[0].Line != tt.wantLine || warns[0].File != tt.file {
				t.Errorf("warnings = %+v, want one for %s line %d", warns, tt.file, tt.wantLine)
			}
		})
	}
}
