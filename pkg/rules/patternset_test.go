package rules

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// forms are the ways a set can search: through the index with the dense
// and the sparse automaton (at every subject length), and the way
// NewPatternSet does.
var setForms = []struct {
	name                string
	indexFrom, maxDense int
}{
	{"dense", 0, maxDenseTransitions},
	{"sparse", 0, 0},
	{"default", indexFrom, maxDenseTransitions},
}

// checkSetAgrees matches every pattern of rules, through a set of each
// form, against s, and compares with Pattern.Match.
func checkSetAgrees(t testing.TB, rules []string, s string) {
	t.Helper()
	var pats []*Pattern
	for _, r := range rules {
		if p, err := CompilePattern(r); err == nil {
			pats = append(pats, p)
		}
	}
	for _, form := range setForms {
		ps := newPatternSet(pats, form.indexFrom, form.maxDense)
		sub := NewSubject(s)
		for i, p := range pats {
			want, wantOK := p.Match(s, nil)
			got, ok := ps.MatchSubject(i, &sub, nil)
			if ok != wantOK || strings.Join(got, "\x00") != strings.Join(want, "\x00") {
				t.Fatalf("%s set: pattern %q on %q = %v %q, alone %v %q", form.name, p.names, s, ok, got, wantOK, want)
			}
		}
		sub.Release()
	}
}

// randomRule is a rule path over a small alphabet, so that literals,
// slashes and placeholders collide often.
func randomRule(rng *rand.Rand) string {
	parts := []string{"/", "/", "a", "b", "ab", "ba", "-", "aab", ":x", ":y", ":z", ":w", "*"}
	var b strings.Builder
	b.WriteString("/")
	for range rng.IntN(10) {
		b.WriteString(parts[rng.IntN(len(parts))])
	}
	return b.String()
}

func randomSubject(rng *rand.Rand, n int) string {
	parts := []string{"/", "a", "b", "ab", "-", "ba", "aab", "aaa"}
	var b strings.Builder
	b.WriteString("/")
	for b.Len() < n {
		b.WriteString(parts[rng.IntN(len(parts))])
	}
	return b.String()
}

// A set matches and captures exactly what each of its patterns does alone
// (which TestPatternAgreesWithRegexp checks against the regular
// expression), whichever automaton it uses.
func TestPatternSetAgreesWithPatterns(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for range n {
		rules := make([]string, 1+rng.IntN(6))
		for i := range rules {
			rules[i] = randomRule(rng)
		}
		checkSetAgrees(t, rules, randomSubject(rng, rng.IntN(300)))
	}
}

func FuzzPatternSetAgreesWithPatterns(f *testing.F) {
	f.Add("/:a-:b/*", "/*-:a:b-:c", "/x-y/z-w-v")
	f.Add("/:a/:b-x:c", "https://:h.a.com/:p-:q", "/1/2-x3x4")
	f.Add("/:aab:b", "/:a:b", "/aabaab")
	f.Fuzz(func(t *testing.T, r1, r2, s string) {
		if len(r1) > 200 || len(r2) > 200 || len(s) > 1000 {
			return
		}
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] >= 0x7f {
				return
			}
		}
		checkSetAgrees(t, []string{r1, r2}, s)
	})
}

// occurrences.last finds what strings.LastIndex finds, for every literal
// of a set and every window of a text, with both automata.
func TestOccurrencesLast(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	alphabet := "ab-"
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 200 {
		seen := map[string]bool{}
		var lits []string
		for range 1 + rng.IntN(8) {
			l := word(1 + rng.IntN(6))
			if !seen[l] {
				seen[l] = true
				lits = append(lits, l)
			}
		}
		text := word(rng.IntN(400))
		for _, maxDense := range []int{maxDenseTransitions, 0} {
			o := indexOccurrences(newLiteralSet(lits, maxDense), text)
			for range 200 {
				lo := rng.IntN(len(text) + 1)
				hi := lo + rng.IntN(len(text)-lo+1)
				id := rng.IntN(len(lits))
				want := strings.LastIndex(text[lo:hi], lits[id])
				if want >= 0 {
					want += lo
				}
				if got := o.last(int32(id), lo, hi); got != want {
					t.Fatalf("literal %q in %q[%d:%d]: %d, want %d", lits[id], text, lo, hi, got, want)
				}
			}
			o.release()
		}
	}
}

// The automaton of the largest rule files a deployment may have (two of
// them, _redirects and _headers, at their rule limits) stays within a few
// megabytes, whatever the literals: its size grows with the bytes the
// patterns search for, which the rule limits bound.
func TestPatternSetSizeBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const bound = 2 << 20
	for _, alphabet := range []string{"-", "ab", "abcdefghijklmnopqrstuvwxyz0123456789~-._!$&'()+,;=@%"} {
		var pats []*Pattern
		for range MaxDynamicRedirects + MaxHeaderRules + 1 {
			var rule strings.Builder
			rule.WriteString("/:p0")
			for i := 1; i < MaxRulePlaceholders; i++ {
				rule.WriteByte('~') // no placeholder name runs on into the literal
				for range MaxRuleInnerLiteral - 1 {
					rule.WriteByte(alphabet[rng.IntN(len(alphabet))])
				}
				rule.WriteString(":p" + string(rune('0'+i)))
			}
			p, err := CompilePattern(rule.String())
			if err != nil {
				t.Fatal(err)
			}
			pats = append(pats, p)
		}
		ps := NewPatternSet(pats)
		searched := 0
		for _, l := range ps.lits.lits {
			searched += len(l)
		}
		if max := len(pats) * maxSearchedBytes; searched > max {
			t.Errorf("alphabet %q: %d literal bytes searched, more than %d", alphabet, searched, max)
		}
		n := ps.lits.size()
		t.Logf("alphabet %q: %d states, dense %v, %d bytes", alphabet, len(ps.lits.fail), ps.lits.delta != nil, n)
		if n > bound {
			t.Errorf("alphabet %q: the automaton of %d maximal patterns holds %d bytes, more than %d", alphabet, len(pats), n, bound)
		}
	}
}

// A subject lacking a byte of every literal is not scanned at all; one
// holding them all is, and the literals are found.
func TestLiteralsAbsentFrom(t *testing.T) {
	a := newLiteralSet([]string{"--~A", "--~B", "x~C", "mnopqrstuvw"}, maxDenseTransitions)
	tests := []struct {
		s    string
		want bool
	}{
		{"/" + strings.Repeat("-", 1000), true},
		{"/" + strings.Repeat("-", 1000) + "~", true},     // A, B and x are missing
		{"/" + strings.Repeat("-", 1000) + "~ABx", false}, // all there, none occurs: a scan says so
		{"/-~ABxmnopqrstuv", false},                       // over maxProbes
		{"/--~A", false},
		{"/x~C", false},
	}
	for _, tt := range tests {
		if got := a.absentFrom(tt.s); got != tt.want {
			t.Errorf("absentFrom(%.20q…) = %v, want %v", tt.s, got, tt.want)
		}
		o := indexOccurrences(a, tt.s)
		for id, lit := range a.lits {
			if got, want := o.last(int32(id), 0, len(tt.s)), strings.LastIndex(tt.s, lit); got != want {
				t.Errorf("%q in %.20q…: %d, want %d", lit, tt.s, got, want)
			}
		}
		o.release()
	}
}
