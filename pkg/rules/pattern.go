package rules

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxRulePlaceholders is the most captures (":name" placeholders and the
// "*" splat together) one _redirects or _headers path may have. Cloudflare
// sets no limit; cfhost refuses more at deploy time, because every capture
// is work done on every request and ten cover any real URL scheme.
const MaxRulePlaceholders = 10

// MaxRuleInnerLiteral is the longest literal text a _redirects or _headers
// path may have between two captures of one path segment (as "-to-" in
// "/:from-to-:to"). Matching searches the request path for such text, and
// Go searches texts up to this long with vector instructions (amd64 with
// AVX2, arm64), longer ones a byte at a time, some twenty times slower:
// with 200 rules and a long path that was tens of milliseconds per request.
// It also bounds the size of a PatternSet's automaton, which holds these
// texts. Cloudflare sets no limit; cfhost refuses longer ones at deploy
// time.
const MaxRuleInnerLiteral = 32

// maxDotSegment is the longest subject segment matched against a host
// segment whose placeholders may not span dots (see Pattern). No DNS name is
// longer than 253 bytes; a longer Host never matches such a rule, which
// keeps that (quadratic) case small.
const maxDotSegment = 255

// Pattern is a compiled _redirects or _headers "from" path
// (docs/asset-serving.md#_redirects): everything is literal except "*", which
// matches any text (greedy) as the "splat" capture, and ":name", which
// matches one or more characters other than "/" (other than "/" and "."
// inside the host of an https rule). Matching is anchored at both ends and
// case-sensitive, and captures what upstream's backtracking regular
// expression captures: each capture, from the left, as long as the rest still
// matches. Patterns that upstream's regular expression could not compile (two
// "*", a placeholder name used twice, ":splat" together with "*") and
// patterns over the limits of RuleCostProblem are reported by
// CompilePattern as errors; such rules never match.
//
// Match runs in time linear in the subject, whatever the pattern: no
// capture can hold a "/" except the splat, so the subject's slashes line up
// with the pattern's and each segment is matched on its own, with one
// right-to-left pass of substring searches.
type Pattern struct {
	names []string
	kind  patternKind
	// lit is the whole pattern (literal kind) or the text before the splat
	// (prefix kind); suffix is the text after the splat.
	lit, suffix string
	// Segments kind: without a splat, head is every segment and tail is
	// empty; with one, head ends with the segment part before the splat
	// and tail starts with the part after it.
	head, tail []segment
	splat      bool
	slots      int // literals in head and tail
}

// segment is the part of a pattern between two "/" (or an end, or the
// splat): literal text around placeholders, lits[0] caps[0] lits[1] …
// caps[k-1] lits[k]. No literal contains "/".
type segment struct {
	lits []string
	// noDot[i] is true when placeholder i may not span a "." (a host
	// placeholder); dots is true when any is.
	noDot []bool
	dots  bool
	// slot numbers lits[0] among all the literals of the pattern, so that
	// a PatternSet can name each literal it indexes.
	slot int
}

// patternPiece is one part of a rule path: literal text, the splat, or a
// placeholder with the character class it matches.
type patternPiece struct {
	lit   string
	name  string // capture name; "" for literal text
	class string // regexp class of a placeholder; "" for the splat
}

type patternKind uint8

const (
	patternLiteral  patternKind = iota // no captures: string equality
	patternPrefix                      // lit + (.*) + suffix
	patternSegments                    // anything with placeholders
)

// Names returns the capture names in the order Match reports their values.
func (p *Pattern) Names() []string { return p.names }

// CountPlaceholders returns how many captures a normalised rule path has:
// its ":name" placeholders and "*" splats.
func CountPlaceholders(rule string) int {
	n := 0
	for _, pc := range splitRule(rule) {
		if pc.name != "" {
			n++
		}
	}
	return n
}

// RuleCostProblem says why a normalised rule path would cost too much to
// match on every request (too many captures, too long a literal between
// two of them), or returns "" when it is within the limits.
func RuleCostProblem(rule string) string {
	pieces := splitRule(rule)
	n, longest := 0, ""
	for i, pc := range pieces {
		if pc.name != "" {
			n++
			continue
		}
		// Text between two captures of one segment, as the matcher searches
		// for it.
		if i > 0 && i+1 < len(pieces) && pieces[i-1].name != "" && pieces[i+1].name != "" &&
			!strings.Contains(pc.lit, "/") && len(pc.lit) > len(longest) {
			longest = pc.lit
		}
	}
	switch {
	case n > MaxRulePlaceholders:
		return fmt.Sprintf("%.60s has %d placeholders, more than the limit of %d", rule, n, MaxRulePlaceholders)
	case len(longest) > MaxRuleInnerLiteral:
		return fmt.Sprintf("%.60s has %d bytes of text between two placeholders (%.20q…), more than the limit of %d", rule, len(longest), longest, MaxRuleInnerLiteral)
	}
	return ""
}

// splitRule cuts a rule path into literal text, placeholders and splats.
func splitRule(rule string) []patternPiece {
	var pieces []patternPiece
	hostEnd := -1
	if rest, ok := strings.CutPrefix(rule, "https://"); ok {
		hostEnd = len(rule)
		if k := strings.IndexByte(rest, '/'); k >= 0 {
			hostEnd = len("https://") + k
		}
	}
	litStart := 0
	flush := func(i int) {
		if i > litStart {
			pieces = append(pieces, patternPiece{lit: rule[litStart:i]})
		}
	}
	for i := 0; i < len(rule); {
		c := rule[i]
		switch {
		case c == '*':
			flush(i)
			pieces = append(pieces, patternPiece{name: "splat"})
			i++
			litStart = i
		case c == ':' && i+1 < len(rule) && isASCIILetter(rule[i+1]):
			flush(i)
			j := i + 2
			for j < len(rule) && isWordByte(rule[j]) {
				j++
			}
			class := "[^/]+"
			// Upstream's host placeholder: inside the host of an https rule
			// and directly followed by a character its escaping protects.
			if i < hostEnd && j < len(rule) && strings.IndexByte(`-/\^$+?.()|[]{}`, rule[j]) >= 0 {
				class = "[^/.]+"
			}
			pieces = append(pieces, patternPiece{name: rule[i+1 : j], class: class})
			i = j
			litStart = i
		default:
			i++
		}
	}
	flush(len(rule))
	return pieces
}

// CompilePattern compiles a rule path. The rule is expected in its
// normalised form (as ParseRedirects and ParseHeaders store it).
//
// Matching compares bytes: subjects are ASCII (pathnames are
// percent-encoded, and Go's server refuses other bytes in a Host). A rule
// that is not valid UTF-8 (only the host of an https rule can hold raw
// bytes) is an error, as it was for the regular expression upstream builds.
func CompilePattern(rule string) (*Pattern, error) {
	if !utf8.ValidString(rule) {
		return nil, fmt.Errorf("pattern %q is not valid UTF-8", rule)
	}
	pieces := splitRule(rule)
	p := &Pattern{}
	seen := map[string]bool{}
	for _, pc := range pieces {
		if pc.name == "" {
			continue
		}
		if seen[pc.name] {
			if pc.name == "splat" {
				return nil, fmt.Errorf("pattern %q captures the splat twice", rule)
			}
			return nil, fmt.Errorf("pattern %q uses the placeholder :%s twice", rule, pc.name)
		}
		seen[pc.name] = true
		p.names = append(p.names, pc.name)
	}
	if msg := RuleCostProblem(rule); msg != "" {
		return nil, fmt.Errorf("pattern %s", msg)
	}
	switch {
	case len(p.names) == 0:
		p.kind, p.lit = patternLiteral, rule
		return p, nil
	case len(p.names) == 1 && onlyStarSplat(pieces):
		p.kind = patternPrefix
		before := true
		for _, pc := range pieces {
			switch {
			case pc.name != "":
				before = false
			case before:
				p.lit = pc.lit
			default:
				p.suffix = pc.lit
			}
		}
		return p, nil
	}
	p.kind = patternSegments
	segs := []segment{{lits: []string{""}}}
	for _, pc := range pieces {
		cur := &segs[len(segs)-1]
		switch {
		case pc.name == "":
			parts := strings.Split(pc.lit, "/")
			cur.lits[len(cur.lits)-1] += parts[0]
			for _, part := range parts[1:] {
				segs = append(segs, segment{lits: []string{part}})
			}
		case pc.class == "":
			p.splat = true
			p.head = segs
			segs = []segment{{lits: []string{""}}}
		default:
			nd := pc.class == "[^/.]+"
			cur.noDot = append(cur.noDot, nd)
			cur.dots = cur.dots || nd
			cur.lits = append(cur.lits, "")
		}
	}
	if p.splat {
		p.tail = segs
	} else {
		p.head = segs
	}
	slot := 0
	for _, g := range [][]segment{p.head, p.tail} {
		for i := range g {
			g[i].slot = slot
			slot += len(g[i].lits)
		}
	}
	p.slots = slot
	return p, nil
}

// searched calls fn with the slot and text of every literal the matcher
// looks for in the subject (rather than comparing at a fixed place): those
// between two captures of a segment, hence at most MaxRuleInnerLiteral
// bytes each. Segments matched by dynamic programming search nothing.
func (p *Pattern) searched(fn func(slot int, lit string)) {
	if p.kind != patternSegments {
		return
	}
	each := func(g *segment, from, to int) {
		if g.dots {
			return
		}
		for i := from; i <= to; i++ {
			fn(g.slot+i, g.lits[i])
		}
	}
	for i := range p.head {
		g := &p.head[i]
		k := len(g.lits) - 1
		if p.splat && i == len(p.head)-1 {
			each(g, 1, k) // matchFront searches for lits[k] too
		} else {
			each(g, 1, k-1)
		}
	}
	for i := range p.tail {
		g := &p.tail[i]
		k := len(g.lits) - 1
		if i == 0 && k > 0 {
			each(g, 0, k-1) // matchLatest searches for lits[0] too
		} else {
			each(g, 1, k-1)
		}
	}
}

// onlyStarSplat reports whether the only capture among pieces is a "*".
func onlyStarSplat(pieces []patternPiece) bool {
	for _, pc := range pieces {
		if pc.name != "" && pc.class != "" {
			return false
		}
	}
	return true
}

// Subject is a string to match against many patterns: what every pattern
// needs to know about it is worked out once, however many patterns look.
// The zero value is not ready; use NewSubject.
type Subject struct {
	s       string
	slashes int // count of "/" in s, -1 until needed
	// occ is where the literals of a PatternSet occur in s, built the first
	// time that set needs it (see PatternSet.MatchSubject), and slashPos
	// where s has a "/" (nil until needed).
	occ      *occurrences
	slashPos *[]int32
}

// NewSubject prepares s for matching.
func NewSubject(s string) Subject { return Subject{s: s, slashes: -1} }

// String returns the subject's text.
func (sub *Subject) String() string { return sub.s }

func (sub *Subject) slashCount() int {
	if sub.slashes < 0 {
		sub.slashes = strings.Count(sub.s, "/")
	}
	return sub.slashes
}

// Match reports whether s matches the pattern and appends the captured
// values to dst in Names order. Literal and single-splat patterns match
// without allocating. To match one string against many patterns, use
// MatchSubject.
func (p *Pattern) Match(s string, dst []string) ([]string, bool) {
	sub := NewSubject(s)
	return p.MatchSubject(&sub, dst)
}

// MatchSubject is Match for a prepared subject.
func (p *Pattern) MatchSubject(sub *Subject, dst []string) ([]string, bool) {
	return p.matchSubject(sub, dst, finder{})
}

// matchSubject matches, searching for literals with f.
func (p *Pattern) matchSubject(sub *Subject, dst []string, f finder) ([]string, bool) {
	s := sub.s
	switch p.kind {
	case patternLiteral:
		return dst, s == p.lit
	case patternPrefix:
		if len(s) < len(p.lit)+len(p.suffix) || !strings.HasPrefix(s, p.lit) || !strings.HasSuffix(s, p.suffix) {
			return dst, false
		}
		return append(dst, s[len(p.lit):len(s)-len(p.suffix)]), true
	}
	n0 := len(dst)
	var ok bool
	if p.splat {
		if sub.slashCount() < len(p.head)+len(p.tail)-2 {
			return dst, false
		}
		dst, ok = p.matchSplat(s, dst, f)
	} else {
		if sub.slashCount() != len(p.head)-1 {
			return dst, false
		}
		dst, ok = p.matchSegments(s, dst, f)
	}
	if !ok {
		return dst[:n0], false
	}
	return dst, true
}

// matchSegments matches a pattern without a splat: the subject has exactly
// as many "/" as the pattern, and each segment matches its own.
func (p *Pattern) matchSegments(s string, dst []string, f finder) ([]string, bool) {
	ok := true
	for i := range p.head {
		end := len(s)
		if i < len(p.head)-1 {
			end = f.indexSlash(s, 0)
		}
		if dst, ok = p.head[i].matchWhole(s[:end], dst, f); !ok {
			return dst, false
		}
		if end < len(s) {
			s = s[end+1:]
			f.off += end + 1
		}
	}
	return dst, true
}

// matchSplat matches head + "*" + tail. The whole segments of head line up
// with the subject's first segments and those of tail with its last ones;
// in between, tail's first part takes the shortest end of the rest that it
// matches (the splat is greedy), head's last part the longest start before
// that, and the splat what lies between them.
func (p *Pattern) matchSplat(s string, dst []string, f finder) ([]string, bool) {
	var ok bool
	// Head's whole segments, from the front.
	aStart := 0
	for _, g := range p.head[:len(p.head)-1] {
		k := f.indexSlash(s, aStart) - aStart
		if k < 0 {
			return dst, false
		}
		if dst, ok = g.matchWhole(s[aStart:aStart+k], dst, f.at(aStart)); !ok {
			return dst, false
		}
		aStart += k + 1
	}
	// Tail's whole segments, from the back: bounds only, matched below in
	// order so captures come out in Names order.
	var boundsBuf [8]int
	bounds := boundsBuf[:0]
	bEnd := len(s)
	for range p.tail[1:] {
		k := f.lastIndexSlash(s, bEnd) - aStart
		if k < 0 {
			return dst, false
		}
		bounds = append(bounds, bEnd)
		bEnd = aStart + k
	}
	// Tail's first part: the latest start q it matches from.
	var bCapsBuf [MaxRulePlaceholders]string
	bt := p.tail[0]
	q, bCaps, ok := bt.matchLatest(s[aStart:bEnd], bCapsBuf[:0], f.at(aStart))
	if !ok {
		return dst, false
	}
	q += aStart
	// Head's last part: from aStart, not past q nor past a "/".
	bound := bEnd
	if k := f.indexSlash(s[:bEnd], aStart) - aStart; k >= 0 {
		bound = aStart + k
	}
	bound = min(bound, q)
	at := p.head[len(p.head)-1]
	e, dst, ok := at.matchFront(s[aStart:bound], dst, f.at(aStart))
	if !ok {
		return dst, false
	}
	dst = append(dst, s[aStart+e:q])
	dst = append(dst, bCaps...)
	for i, g := range p.tail[1:] {
		end := bounds[len(bounds)-1-i]
		start := bEnd + 1
		if i > 0 {
			start = bounds[len(bounds)-i] + 1
		}
		if dst, ok = g.matchWhole(s[start:end], dst, f.at(start)); !ok {
			return dst, false
		}
	}
	return dst, true
}

// matchWhole matches a segment against all of t, which holds no "/".
func (g *segment) matchWhole(t string, dst []string, f finder) ([]string, bool) {
	k := len(g.lits) - 1
	if k == 0 {
		return dst, t == g.lits[0]
	}
	if g.dots {
		_, _, dst, ok := g.matchDP(t, true, true, dst)
		return dst, ok
	}
	first, last := g.lits[0], g.lits[k]
	if !strings.HasPrefix(t, first) || !strings.HasSuffix(t, last) {
		return dst, false
	}
	var m [MaxRulePlaceholders + 1]int
	m[k] = len(t) - len(last)
	if !f.indexed() && !g.fits(t, len(first), m[k]) || !g.fitMiddle(t, &m, len(first)+1, f) {
		return dst, false
	}
	return g.captures(t, &m, len(first), dst), true
}

// matchFront matches a segment against the longest start of t it can
// (captures greedy from the left), t holding no "/". It returns where the
// match ends.
func (g *segment) matchFront(t string, dst []string, f finder) (int, []string, bool) {
	k := len(g.lits) - 1
	first := g.lits[0]
	if !strings.HasPrefix(t, first) {
		return 0, dst, false
	}
	if k == 0 {
		return len(first), dst, true
	}
	if g.dots {
		_, end, dst, ok := g.matchDP(t, true, false, dst)
		return end, dst, ok
	}
	lo := len(first) + 1
	if lo > len(t) {
		return 0, dst, false
	}
	if !f.indexed() && !g.fits(t, len(first), -1) {
		return 0, dst, false
	}
	var m [MaxRulePlaceholders + 1]int
	j := f.last(t, lo, len(t), g, k)
	if j < 0 {
		return 0, dst, false
	}
	m[k] = j
	if !g.fitMiddle(t, &m, lo, f) {
		return 0, dst, false
	}
	return m[k] + len(g.lits[k]), g.captures(t, &m, len(first), dst), true
}

// matchLatest matches a segment against the shortest end of t it can, t
// possibly holding "/" before that end. It returns where the match starts;
// the captures are those of matching exactly from there.
func (g *segment) matchLatest(t string, dst []string, f finder) (int, []string, bool) {
	k := len(g.lits) - 1
	last := g.lits[k]
	if !strings.HasSuffix(t, last) {
		return 0, dst, false
	}
	if k == 0 {
		return len(t) - len(last), dst, true
	}
	if g.dots {
		// Only the last segment of t can hold the match.
		off := f.lastIndexSlash(t, len(t)) + 1
		start, _, dst, ok := g.matchDP(t[off:], false, true, dst)
		return off + start, dst, ok
	}
	var m [MaxRulePlaceholders + 1]int
	m[k] = len(t) - len(last)
	if !f.indexed() && !g.fitsAnywhere(t, m[k]) || !g.fitMiddle(t, &m, 1, f) {
		return 0, dst, false
	}
	hi := m[1] - 1
	if hi < 0 {
		return 0, dst, false
	}
	start := f.last(t, 0, hi, g, 0)
	if start < 0 || f.indexSlash(t, start) >= 0 {
		// A capture would span a "/": searching only the last segment of t
		// would have found nothing either.
		return 0, dst, false
	}
	return start, g.captures(t, &m, start+len(g.lits[0]), dst), true
}

// fitMiddle places lits[k-1] … lits[1], right to left, each as late as it
// can go before the next (leaving at least one byte for the placeholder
// between), with m[k] already placed and nothing starting before lo. m[i]
// is where lits[i] starts. Each search ends where the previous one found
// its literal, so the searches scan t at most once in all.
func (g *segment) fitMiddle(t string, m *[MaxRulePlaceholders + 1]int, lo int, f finder) bool {
	k := len(g.lits) - 1
	if m[k] < lo {
		return false
	}
	for i := k - 1; i >= 1; i-- {
		hi := m[i+1] - 1
		if hi < lo {
			return false
		}
		j := f.last(t, lo, hi, g, i)
		if j < 0 {
			return false
		}
		m[i] = j
	}
	return true
}

// fits reports whether lits[1] … lits[k-1] (and lits[k], when end < 0)
// can be placed in order after position p with a byte between each, and
// before end (when end >= 0, where lits[k] starts). It places each
// literal as early as it can with forward searches, which are much faster
// than the backward ones of fitMiddle: a rule that cannot match is turned
// away at that speed, and only a match pays for the backward pass.
func (g *segment) fits(t string, p, end int) bool {
	k := len(g.lits) - 1
	upto := k - 1
	if end < 0 {
		upto, end = k, len(t)
	}
	for i := 1; i <= upto; i++ {
		p++ // the placeholder before lits[i] takes a byte at least
		if p > end {
			return false
		}
		j := strings.Index(t[p:end], g.lits[i])
		if j < 0 {
			return false
		}
		p += j + len(g.lits[i])
	}
	return p < end || upto == k && p <= end
}

// fitsAnywhere is fits for a segment that may start anywhere in t: lits[0]
// first, as early as it occurs.
func (g *segment) fitsAnywhere(t string, end int) bool {
	j := strings.Index(t, g.lits[0])
	return j >= 0 && g.fits(t, j+len(g.lits[0]), end)
}

// finder searches a segment's text t for its literals: with the strings
// package, or, for a pattern of a PatternSet and a long subject, in the
// index of the set's literals in the subject (t starting at subject offset
// off).
type finder struct {
	occ *occurrences
	ids []int32 // the literal id in occ of each of the pattern's slots, -1: none
	// slashes are where the subject has a "/", in order, or nil.
	slashes []int32
	off     int
}

// indexSlash returns the index of the first "/" in t at or after from, or
// -1: with the subject's list of slashes, when it has one, a binary search
// rather than a scan of what may be the whole subject, for every pattern.
func (f finder) indexSlash(t string, from int) int {
	if f.slashes == nil {
		if k := strings.IndexByte(t[from:], '/'); k >= 0 {
			return from + k
		}
		return -1
	}
	i, _ := slices.BinarySearch(f.slashes, int32(f.off+from))
	if i < len(f.slashes) && int(f.slashes[i]) < f.off+len(t) {
		return int(f.slashes[i]) - f.off
	}
	return -1
}

// lastIndexSlash returns the index of the last "/" in t before to, or -1.
func (f finder) lastIndexSlash(t string, to int) int {
	if f.slashes == nil {
		return strings.LastIndexByte(t[:to], '/')
	}
	i, _ := slices.BinarySearch(f.slashes, int32(f.off+to))
	if i > 0 && int(f.slashes[i-1]) >= f.off {
		return int(f.slashes[i-1]) - f.off
	}
	return -1
}

// at is f for a text starting at offset off of the current one.
func (f finder) at(off int) finder {
	f.off += off
	return f
}

// indexed reports whether searches use the index, which makes the forward
// pre-checks (fits) pointless: a search there costs no more than a check.
func (f finder) indexed() bool { return f.ids != nil }

// last returns where literal i of g last starts in t[lo:hi], as an index
// into t, or -1.
func (f finder) last(t string, lo, hi int, g *segment, i int) int {
	lit := g.lits[i]
	if f.ids == nil || lit == "" || f.ids[g.slot+i] < 0 {
		if j := lastIndex(t[lo:hi], lit); j >= 0 {
			return lo + j
		}
		return -1
	}
	if j := f.occ.last(f.ids[g.slot+i], f.off+lo, f.off+hi); j >= 0 {
		return j - f.off
	}
	return -1
}

// lastIndex is strings.LastIndex, faster on long texts: it looks for the
// last block of t holding sub with forward searches, which run many bytes
// per instruction, and searches backwards in that block only.
func lastIndex(t, sub string) int {
	block := max(1024, 4*len(sub))
	hi := len(t) - len(sub) + 1 // occurrences start before hi
	for hi > 0 {
		lo := max(0, hi-block)
		end := hi + len(sub) - 1
		if lo == 0 || strings.Index(t[lo:end], sub) >= 0 {
			if j := strings.LastIndex(t[lo:end], sub); j >= 0 {
				return lo + j
			}
			if lo == 0 {
				return -1
			}
		}
		hi = lo
	}
	return -1
}

// captures appends the placeholder values of a fitted segment: the first
// starts at p, and placeholder i ends where lits[i+1] starts.
func (g *segment) captures(t string, m *[MaxRulePlaceholders + 1]int, p int, dst []string) []string {
	for i := 1; i < len(g.lits); i++ {
		dst = append(dst, t[p:m[i]])
		p = m[i] + len(g.lits[i])
	}
	return dst
}

// matchDP matches a segment some of whose placeholders may not span "."
// against t (no "/"), anchored at the left, the right, or both, by dynamic
// programming over (placeholder, position): time O(len(t) × placeholders),
// hence the maxDotSegment bound. Unanchored on the left, it takes the
// latest start; on the right, the longest captures.
func (g *segment) matchDP(t string, leftAnchored, rightAnchored bool, dst []string) (start, end int, _ []string, ok bool) {
	n := len(t)
	if n > maxDotSegment {
		return 0, 0, dst, false
	}
	k := len(g.lits) - 1
	// Each literal must occur somewhere: a few vectorised searches turn
	// most rules that cannot match away before the quadratic work.
	for _, l := range g.lits {
		if !strings.Contains(t, l) {
			return 0, 0, dst, false
		}
	}
	// nextDot[x]: the first "." at or after x, or n.
	var nextDot [maxDotSegment + 1]int16
	nextDot[n] = int16(n)
	for x := n - 1; x >= 0; x-- {
		nextDot[x] = nextDot[x+1]
		if t[x] == '.' {
			nextDot[x] = int16(x)
		}
	}
	// last[i][x]: the latest b <= x from which lits[i] and everything
	// after it match, or -1.
	var last [MaxRulePlaceholders + 1][maxDotSegment + 1]int16
	limit := func(i, e int) int { // how far placeholder i may reach from e
		if g.noDot[i-1] {
			return int(nextDot[e])
		}
		return n
	}
	for i := k; i >= 0; i-- {
		l := g.lits[i]
		prev := int16(-1)
		row := &last[i]
		var next *[maxDotSegment + 1]int16
		noDot := false
		if i < k {
			next, noDot = &last[i+1], g.noDot[i]
		}
		if i < k && l == "" && !noDot {
			// Two placeholders side by side, the second free to span dots:
			// valid from every b up to one before the latest start of the
			// rest, so the row needs no test per position.
			lim := max(int(next[n])-1, -1)
			for b := 0; b <= n; b++ {
				row[b] = int16(min(b, lim))
			}
			continue
		}
		for b := 0; b <= n; b++ {
			e := b + len(l)
			ok := e <= n && (l == "" || t[b] == l[0] && (len(l) == 1 || t[b:e] == l))
			switch {
			case !ok:
			case i == k:
				ok = !rightAnchored || e == n
			case e >= n:
				ok = false
			default:
				reach := n // how far placeholder i+1 may reach from e
				if noDot {
					reach = int(nextDot[e])
				}
				ok = int(next[reach]) >= e+1
			}
			if ok {
				prev = int16(b)
			}
			row[b] = prev
		}
	}
	if leftAnchored {
		if last[0][0] != 0 {
			return 0, 0, dst, false
		}
		start = 0
	} else {
		if start = int(last[0][n]); start < 0 {
			return 0, 0, dst, false
		}
	}
	p := start + len(g.lits[0])
	for i := 1; i <= k; i++ {
		b := int(last[i][limit(i, p)])
		dst = append(dst, t[p:b])
		p = b + len(g.lits[i])
	}
	return start, p, dst, true
}

// Substitute replaces every ":name" in template whose name is one of names
// with the matching value, in a single pass, the way upstream does: a
// placeholder is the longest run of word characters after the colon, so
// ":id" never eats into ":id_2", and unknown placeholders stay as written.
func Substitute(template string, names, values []string) string {
	out, _ := SubstituteMax(template, names, values, -1)
	return out
}

// SubstituteMax is Substitute that gives up, returning false, when the
// result would be longer than max bytes (max < 0: no limit). The length is
// worked out before anything is built, so a template repeating a long
// capture costs no memory.
func SubstituteMax(template string, names, values []string, max int) (string, bool) {
	if len(names) == 0 || strings.IndexByte(template, ':') < 0 {
		return template, max < 0 || len(template) <= max
	}
	size, last := 0, 0
	for {
		i, j, k := nextPlaceholder(template, last, names)
		if k < 0 {
			break
		}
		size += i - last + len(values[k])
		last = j
	}
	if last == 0 {
		return template, max < 0 || len(template) <= max
	}
	size += len(template) - last
	if max >= 0 && size > max {
		return "", false
	}
	var b strings.Builder
	b.Grow(size)
	last = 0
	for {
		i, j, k := nextPlaceholder(template, last, names)
		if k < 0 {
			break
		}
		b.WriteString(template[last:i])
		b.WriteString(values[k])
		last = j
	}
	b.WriteString(template[last:])
	return b.String(), true
}

// HasSubstitution reports whether Substitute could change template for a
// pattern with these capture names, so callers can precompute the rest.
func HasSubstitution(template string, names []string) bool {
	_, _, k := nextPlaceholder(template, 0, names)
	return k >= 0
}

// nextPlaceholder finds the first placeholder at or after from whose name
// is one of names, and returns its bounds in template and the index of the
// name; k is -1 when there is none.
func nextPlaceholder(template string, from int, names []string) (start, end, k int) {
	for i := from; i+1 < len(template); i++ {
		if template[i] != ':' || !isASCIILetter(template[i+1]) {
			continue
		}
		j := i + 2
		for j < len(template) && isWordByte(template[j]) {
			j++
		}
		if k := slices.Index(names, template[i+1:j]); k >= 0 {
			return i, j, k
		}
		i = j - 1
	}
	return 0, 0, -1
}
