package rules

import (
	"strings"
	"sync"
)

// PatternSet is the patterns of one rules file, matched in turn against
// the same subject (a request's path). Each pattern alone searches the
// subject for its literals, so a long subject was read again for every
// rule: with 100 rules and a 60 KB path that took milliseconds. A set finds
// every pattern's literals in one pass over the subject instead (see
// literalSet and occurrences), the first time a long subject needs it, and
// each pattern then looks its literals up; matches and captures are the
// same as Pattern.MatchSubject's.
//
// A set holds its patterns and an automaton of at most maxSearchedBytes
// states per pattern. It is immutable and safe for concurrent use.
type PatternSet struct {
	pats []*Pattern
	// ids[i][slot] is the literal id of a slot of pattern i, -1 for a slot
	// not searched; nil when pattern i searches for nothing.
	ids  [][]int32
	lits *literalSet
	// indexFrom is the shortest subject searched through the index; shorter
	// ones are searched with the strings package, faster at that size.
	indexFrom int
}

// indexFrom is PatternSet.indexFrom's value.
const indexFrom = 256

// NewPatternSet builds the set of pats, which it keeps; pattern i of the
// set is pats[i].
func NewPatternSet(pats []*Pattern) *PatternSet {
	return newPatternSet(pats, indexFrom, maxDenseTransitions)
}

// newPatternSet is NewPatternSet with the thresholds tests vary.
func newPatternSet(pats []*Pattern, indexFrom, maxDense int) *PatternSet {
	ps := &PatternSet{pats: pats, ids: make([][]int32, len(pats)), indexFrom: indexFrom}
	byText := map[string]int32{}
	var lits []string
	for i, p := range pats {
		var ids []int32
		p.searched(func(slot int, lit string) {
			if lit == "" {
				return // found everywhere; no index needed
			}
			if ids == nil {
				ids = make([]int32, p.slots)
				for j := range ids {
					ids[j] = -1
				}
			}
			id, ok := byText[lit]
			if !ok {
				id = int32(len(lits))
				byText[lit] = id
				lits = append(lits, lit)
			}
			ids[slot] = id
		})
		ps.ids[i] = ids
	}
	if len(lits) > 0 {
		ps.lits = newLiteralSet(lits, maxDense)
	}
	return ps
}

// Len returns how many patterns the set has.
func (ps *PatternSet) Len() int { return len(ps.pats) }

// MatchSubject is ps's pattern i's MatchSubject. Call sub.Release when
// done with sub.
func (ps *PatternSet) MatchSubject(i int, sub *Subject, dst []string) ([]string, bool) {
	var f finder
	if p := ps.pats[i]; p.kind == patternSegments && len(sub.s) >= ps.indexFrom {
		f.slashes = sub.slashList()
		if ids := ps.ids[i]; ids != nil {
			f.occ, f.ids = sub.index(ps.lits), ids
		}
	}
	return ps.pats[i].matchSubject(sub, dst, f)
}

// index returns the occurrences of set's literals in the subject, building
// them the first time.
func (sub *Subject) index(set *literalSet) *occurrences {
	if sub.occ == nil || sub.occ.set != set {
		sub.Release()
		sub.occ = indexOccurrences(set, sub.s)
	}
	return sub.occ
}

var slashPool = sync.Pool{New: func() any { return new([]int32) }}

// slashList returns where the subject has a "/", in order.
func (sub *Subject) slashList() []int32 {
	if sub.slashPos == nil {
		sub.slashPos = slashPool.Get().(*[]int32)
		list := (*sub.slashPos)[:0]
		for i := 0; ; {
			k := strings.IndexByte(sub.s[i:], '/')
			if k < 0 {
				break
			}
			list = append(list, int32(i+k))
			i += k + 1
		}
		*sub.slashPos = list
	}
	return *sub.slashPos
}

// Release gives back the memory of what PatternSets worked out about the
// subject, for reuse by other subjects. The subject stays usable.
func (sub *Subject) Release() {
	if sub.occ != nil {
		sub.occ.release()
		sub.occ = nil
	}
	if sub.slashPos != nil {
		if cap(*sub.slashPos) <= maxPooledOccurrences {
			slashPool.Put(sub.slashPos)
		}
		sub.slashPos = nil
	}
}
