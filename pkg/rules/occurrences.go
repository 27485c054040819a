package rules

import (
	"math/bits"
	"sync"
)

// occurrences says where the literals of a literalSet occur in one subject,
// from one pass of the automaton over it, so that many patterns can look
// for their literals without each reading the subject again: each search
// costs at most two blocks of 64 bytes read and a scan of a bitmap, a 64th
// of a bit per subject byte per literal.
//
// It keeps the automaton's state after every byte (a literal ends at a byte
// when that state lies in the literal's failure subtree) and, per literal, a
// bit per 64-byte block of the subject saying whether the literal ends in
// that block. Memory: 4 bytes per subject byte plus len(subject)/512 bytes
// per literal, taken from a pool and given back by Subject.Release.
type occurrences struct {
	set   *literalSet
	st    []int32
	words int // bitmap words per literal
	bits  []uint64
}

// blockShift: a bitmap bit covers 1<<blockShift subject bytes.
const blockShift = 6

// maxPooledOccurrences is the largest index (in elements) kept for reuse,
// so one huge subject does not pin its memory.
const maxPooledOccurrences = 1 << 20

var occurrencePool = sync.Pool{New: func() any { return new(occurrences) }}

// indexOccurrences builds the occurrences of set's literals in s.
func indexOccurrences(set *literalSet, s string) *occurrences {
	o := occurrencePool.Get().(*occurrences)
	o.set = set
	blocks := (len(s) + 1<<blockShift - 1) >> blockShift
	o.words = (blocks + 63) >> 6
	nbits := o.words * len(set.lits)
	if cap(o.bits) < nbits {
		o.bits = make([]uint64, nbits)
	}
	o.bits = o.bits[:nbits]
	clear(o.bits)
	if set.absentFrom(s) {
		o.st = o.st[:0] // no bit set: last never reads it
		return o
	}
	if cap(o.st) < len(s) {
		o.st = make([]int32, len(s))
	}
	o.st = o.st[:len(s)]
	set.scan(s, o.st)
	// Mark the blocks each literal ends in. The literals ending at a byte
	// are a chain (each a suffix of the one before); once one of them is
	// marked in this block, so is the rest of its chain, so each literal is
	// marked once per block however often it occurs.
	out, nextOut, words := set.out, set.nextOut, o.words
	for e, s := range o.st {
		if s >= 0 {
			continue // no literal ends here
		}
		id := out[set.stateOf(s)]
		b := e >> blockShift
		w, bit := b>>6, uint64(1)<<(b&63)
		for id >= 0 {
			p := &o.bits[int(id)*words+w]
			if *p&bit != 0 {
				break
			}
			*p |= bit
			id = nextOut[id]
		}
	}
	return o
}

// release gives o back to the pool.
func (o *occurrences) release() {
	o.set = nil
	if cap(o.st) > maxPooledOccurrences || cap(o.bits) > maxPooledOccurrences {
		return
	}
	occurrencePool.Put(o)
}

// last returns where literal id last starts at or after lo with its end at
// or before hi (positions in the subject), or -1: strings.LastIndex on
// subject[lo:hi], offset by lo.
func (o *occurrences) last(id int32, lo, hi int) int {
	n := len(o.set.lits[id])
	eLo, eHi := lo+n-1, hi-1 // the byte the literal ends at
	if eHi < eLo {
		return -1
	}
	sLo := o.set.state[id]
	sHi := o.set.end[sLo] << o.set.shift
	sLo <<= o.set.shift
	bLo := eLo >> blockShift
	for b := eHi >> blockShift; ; b-- {
		if b = o.prevBlock(id, b); b < bLo {
			return -1
		}
		for e := min(eHi, (b+1)<<blockShift-1); e >= max(eLo, b<<blockShift); e-- {
			if s := o.st[e] &^ hasOut; s >= sLo && s < sHi {
				return e - n + 1
			}
		}
	}
}

// prevBlock returns the last block at or before b in which literal id
// ends, or -1.
func (o *occurrences) prevBlock(id int32, b int) int {
	if b < 0 {
		return -1
	}
	row := o.bits[int(id)*o.words : int(id+1)*o.words]
	w := b >> 6
	word := row[w] & (uint64(2)<<(b&63) - 1)
	for {
		if word != 0 {
			return w<<6 + 63 - bits.LeadingZeros64(word)
		}
		if w--; w < 0 {
			return -1
		}
		word = row[w]
	}
}
