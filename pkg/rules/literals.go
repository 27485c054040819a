package rules

import (
	"math/bits"
	"strings"
)

// literalSet finds, in one pass over a text, where each of a set of short
// literals occurs: an Aho–Corasick automaton, a trie of the literals whose
// every state also knows the longest proper suffix of its string that is a
// state too (its failure link). After reading a text up to some byte, the
// automaton is in the state spelling the longest suffix of what it read
// that starts a literal; the literals ending at that byte are the ones
// spelt by that state and by the states on its failure chain.
//
// States are numbered in preorder of the failure tree (each state's parent
// is its failure link), so the states whose failure chain passes through s
// — those spelling a text that ends with s's string — are exactly
// s ≤ t < end[s]. A literal with state s ends at a byte when the state
// after that byte is in that interval: one comparison, whatever the set.
//
// Size: one state per distinct non-empty prefix of the literals, so at most
// one plus their total length; each state costs a few int32s, and the dense
// transition table (the fast path) is built only when it has at most
// maxDenseTransitions entries. A PatternSet's literals are the ones its
// patterns search for, at most MaxRulePlaceholders of at most
// MaxRuleInnerLiteral bytes per pattern (see maxSearchedBytes).
type literalSet struct {
	lits  []string // by id
	state []int32  // literal id → the state spelling it
	end   []int32  // state → end of its failure subtree
	// out is the longest literal spelt by a state or a state on its failure
	// chain, -1 for none; nextOut, per literal, the next shorter literal
	// that is a suffix of it.
	out, nextOut []int32
	fail         []int32
	// Sparse transitions: the children of state s are edges
	// first[s] … first[s+1]-1; the root's are also in rootNext.
	first    []int32
	edgeByte []byte
	edgeTo   []int32
	rootNext [256]int32
	// Dense transitions, when small enough: from state s on byte c, to
	// delta[s<<shift+class[c]]. States in the table, and the ones scan
	// stores, are shifted left by shift, which keeps a multiplication out
	// of the loop, and have hasOut set when some literal ends there (see
	// stateOf); shift is 0 without a table.
	class [256]uint8
	shift uint
	delta []int32
	// maxLen is the longest literal's length: the state after a byte
	// depends only on the maxLen bytes up to it.
	maxLen int
}

// maxDenseTransitions bounds the dense transition table (4 bytes each); a
// larger automaton steps through the sparse one, following failure links,
// some two to three times slower.
const maxDenseTransitions = 1 << 16

// maxSearchedBytes bounds the literal bytes one pattern searches for: the
// text between two captures of a segment, at most MaxRuleInnerLiteral bytes
// (RuleCostProblem), and fewer such gaps than captures.
const maxSearchedBytes = MaxRulePlaceholders * MaxRuleInnerLiteral

// newLiteralSet builds the automaton of lits, which are distinct and not
// empty; literal i gets id i. Its dense transition table has at most
// maxDense entries (tests pass 0 to try the sparse path).
func newLiteralSet(lits []string, maxDense int) *literalSet {
	type edge struct {
		c  byte
		to int32
	}
	// The trie, in the order states are made.
	kids := [][]edge{nil}
	term := []int32{-1}
	child := func(s int32, c byte) int32 {
		for _, e := range kids[s] {
			if e.c == c {
				return e.to
			}
		}
		return -1
	}
	for id, lit := range lits {
		s := int32(0)
		for i := 0; i < len(lit); i++ {
			t := child(s, lit[i])
			if t < 0 {
				t = int32(len(kids))
				kids = append(kids, nil)
				term = append(term, -1)
				kids[s] = append(kids[s], edge{lit[i], t})
			}
			s = t
		}
		term[s] = int32(id)
	}
	n := len(kids)
	// Failure links, breadth first: a state's link is shallower than it.
	fail := make([]int32, n)
	bfs := make([]int32, 1, n)
	for q := 0; q < len(bfs); q++ {
		u := bfs[q]
		for _, e := range kids[u] {
			bfs = append(bfs, e.to)
			if u == 0 {
				continue
			}
			f := fail[u]
			for {
				if t := child(f, e.c); t >= 0 {
					fail[e.to] = t
					break
				}
				if f == 0 {
					break
				}
				f = fail[f]
			}
		}
	}
	// Preorder of the failure tree.
	ftFirst := make([]int32, n+1)
	for v := 1; v < n; v++ {
		ftFirst[fail[v]+1]++
	}
	for v := 1; v <= n; v++ {
		ftFirst[v] += ftFirst[v-1]
	}
	ftKids := make([]int32, n)
	fill := append([]int32(nil), ftFirst[:n]...)
	for v := 1; v < n; v++ {
		ftKids[fill[fail[v]]] = int32(v)
		fill[fail[v]]++
	}
	num := make([]int32, n) // old state → new number
	size := make([]int32, n)
	next := int32(0)
	stack := []int32{0}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		num[v] = next
		next++
		stack = append(stack, ftKids[ftFirst[v]:ftFirst[v+1]]...)
	}
	// Subtree sizes, deepest first (reverse breadth-first order).
	for q := n - 1; q >= 0; q-- {
		v := bfs[q]
		size[v]++
		if v != 0 {
			size[fail[v]] += size[v]
		}
	}
	a := &literalSet{
		lits:    lits,
		state:   make([]int32, len(lits)),
		end:     make([]int32, n),
		out:     make([]int32, n),
		nextOut: make([]int32, len(lits)),
		fail:    make([]int32, n),
		first:   make([]int32, n+1),
	}
	for v := range n {
		a.end[num[v]] = num[v] + size[v]
		a.fail[num[v]] = num[fail[v]]
		if term[v] >= 0 {
			a.state[term[v]] = num[v]
		}
	}
	for _, v := range bfs {
		switch {
		case term[v] >= 0:
			a.out[num[v]] = term[v]
		case v == 0:
			a.out[0] = -1
		default:
			a.out[num[v]] = a.out[num[fail[v]]]
		}
	}
	for id, s := range a.state {
		a.nextOut[id] = -1
		if s != 0 {
			a.nextOut[id] = a.out[a.fail[s]]
		}
	}
	// Sparse transitions in the new numbering.
	old := make([]int32, n)
	for v := range n {
		old[num[v]] = int32(v)
	}
	for s := range n {
		a.first[s+1] = a.first[s] + int32(len(kids[old[s]]))
		for _, e := range kids[old[s]] {
			a.edgeByte = append(a.edgeByte, e.c)
			a.edgeTo = append(a.edgeTo, num[e.to])
		}
	}
	for _, e := range kids[0] {
		a.rootNext[e.c] = num[e.to]
	}
	// Dense transitions over the classes of bytes the literals use (class
	// 0: every other byte, which always leads back to the root).
	classes := 1
	var rep [256]byte
	for _, lit := range lits {
		a.maxLen = max(a.maxLen, len(lit))
		for i := 0; i < len(lit); i++ {
			if a.class[lit[i]] == 0 {
				a.class[lit[i]] = uint8(classes)
				rep[classes] = lit[i]
				classes++
			}
		}
	}
	shift := uint(bits.Len(uint(classes - 1)))
	if n<<shift > maxDense {
		return a
	}
	a.shift = shift
	a.delta = make([]int32, n<<shift)
	for _, v := range bfs {
		s := int(num[v])
		for c := 1; c < classes; c++ {
			var t int32
			if k := a.child(int32(s), rep[c]); k >= 0 {
				t = k << shift
				if a.out[k] >= 0 {
					t |= hasOut
				}
			} else if s != 0 {
				t = a.delta[int(a.fail[s])<<shift+c]
			}
			a.delta[s<<shift+c] = t
		}
	}
	return a
}

// maxProbes bounds the bytes absentFrom looks for.
const maxProbes = 8

// absentFrom reports whether every literal has a byte that s lacks, so
// none occurs and s need not be scanned. It looks for at most maxProbes
// distinct bytes (each a vectorised search of s, many times faster than
// the scan), in the order the literals use them, and says false when
// that does not settle it.
func (a *literalSet) absentFrom(s string) bool {
	var known [256]int8 // 1: in s, -1: not in s
	probes := 0
	for _, lit := range a.lits {
		found := false
		for i := 0; i < len(lit) && !found; i++ {
			found = known[lit[i]] < 0
		}
		for i := 0; i < len(lit) && !found; i++ {
			c := lit[i]
			if known[c] != 0 {
				continue
			}
			if probes == maxProbes {
				return false
			}
			probes++
			known[c] = 1
			if strings.IndexByte(s, c) < 0 {
				known[c], found = -1, true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// hasOut is set in a state as delta and scan give it when some literal
// ends in that state, so that finding where literals end needs no lookup.
const hasOut = -1 << 31

// stateOf is the state number of a state as delta and scan give it.
func (a *literalSet) stateOf(s int32) int32 { return (s &^ hasOut) >> a.shift }

// child is the sparse transition of state s on c, or -1.
func (a *literalSet) child(s int32, c byte) int32 {
	for e := a.first[s]; e < a.first[s+1]; e++ {
		if a.edgeByte[e] == c {
			return a.edgeTo[e]
		}
	}
	return -1
}

// scan runs the automaton over s and stores in st[i] the state after
// s[i], shifted left by a.shift; st has len(s) elements.
func (a *literalSet) scan(s string, st []int32) {
	st = st[:len(s)]
	if a.delta == nil {
		a.scanSparse(s, st)
		return
	}
	// Each step waits for the one before (a load from the state just
	// computed), so four runs over the four quarters of s, interleaved, go
	// nearly four times as fast. A quarter's run starts from the root
	// maxLen bytes early, which brings it to the right state.
	delta, class := a.delta, &a.class
	q := len(s) / 4
	if q <= a.maxLen {
		cur := int32(0)
		for i := range st {
			cur = delta[int(cur&^hasOut)+int(class[s[i]])]
			st[i] = cur
		}
		return
	}
	var cur [4]int32
	for k := 1; k < 4; k++ {
		for i := k*q - a.maxLen; i < k*q; i++ {
			cur[k] = delta[int(cur[k]&^hasOut)+int(class[s[i]])]
		}
	}
	c0, c1, c2, c3 := cur[0], cur[1], cur[2], cur[3]
	s0, s1, s2, s3 := s[:q], s[q:2*q], s[2*q:3*q], s[3*q:4*q]
	t0, t1, t2, t3 := st[:q], st[q:2*q], st[2*q:3*q], st[3*q:4*q]
	for i := range t0 {
		c0 = delta[int(c0&^hasOut)+int(class[s0[i]])]
		c1 = delta[int(c1&^hasOut)+int(class[s1[i]])]
		c2 = delta[int(c2&^hasOut)+int(class[s2[i]])]
		c3 = delta[int(c3&^hasOut)+int(class[s3[i]])]
		t0[i], t1[i], t2[i], t3[i] = c0, c1, c2, c3
	}
	for i := 4 * q; i < len(s); i++ {
		c3 = delta[int(c3&^hasOut)+int(class[s[i]])]
		st[i] = c3
	}
}

// scanSparse is scan without the dense table: each byte follows failure
// links until a state has a child for it.
func (a *literalSet) scanSparse(s string, st []int32) {
	cur := int32(0)
	for i := range st {
		c := s[i]
		for {
			if cur == 0 {
				cur = a.rootNext[c]
				break
			}
			if t := a.child(cur, c); t >= 0 {
				cur = t
				break
			}
			cur = a.fail[cur]
		}
		st[i] = cur
		if a.out[cur] >= 0 {
			st[i] |= hasOut
		}
	}
}

// size is roughly how many bytes the automaton holds.
func (a *literalSet) size() int {
	n := 0
	for _, l := range a.lits {
		n += len(l) + 16
	}
	return n + 4*(len(a.state)+len(a.end)+len(a.out)+len(a.nextOut)+len(a.fail)+len(a.first)+len(a.edgeTo)+len(a.delta)) +
		len(a.edgeByte) + 4*len(a.rootNext) + len(a.class)
}
