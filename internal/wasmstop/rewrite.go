package wasmstop

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Version names the rewrite: caches of compiled rewritten modules include
// it in their keys, so that a changed rewrite never meets code compiled
// from an older one.
const Version = "wasmstop-2"

// StopExport is the name under which a rewritten module exports its stop
// global: an i32 that Go sets to non-zero to make the instance trap.
const StopExport = "cfhost.stop"

// FuelExport is the name of the exported fuel global, the probes'
// countdown: Stop empties it too, so that the very next probe checks the
// stop (code that mostly waits in host calls may run few probes).
const FuelExport = "cfhost.fuel"

// FuelPerYield is how many probes (function entries and loop iterations)
// run between two visits to Go. Each visit costs about as much as a
// hundred probes; the gap bounds how long the goroutine cannot be
// preempted and how long a stopped instance runs on (a fraction of a
// millisecond for ordinary code).
const FuelPerYield = 10000

// Section ids.
const (
	secCustom   = 0
	secType     = 1
	secImport   = 2
	secFunction = 3
	secTable    = 4
	secMemory   = 5
	secGlobal   = 6
	secExport   = 7
	secCode     = 10
	secTag      = 13
)

// order is a section's place in a module (custom sections have none).
func order(id byte) int {
	switch id {
	case secTag: // between memory and global
		return 55
	case 12: // data count: between element and code
		return 95
	}
	return int(id) * 10
}

type section struct {
	id   byte
	body []byte
}

// Rewrite returns wasm with a probe at every function entry and loop header
// and a global exported as StopExport that makes the instance trap (see the
// package documentation). Its tables get a maximum (capTables). A module
// that is not well formed, or uses an instruction the decoder does not
// know, is an error; so is one already rewritten.
func Rewrite(wasm []byte) ([]byte, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	var m module
	for _, s := range secs {
		if err := m.count(s); err != nil {
			return nil, err
		}
	}
	if m.exported[StopExport] || m.exported[FuelExport] {
		return nil, fmt.Errorf("module already exports %q or %q", StopExport, FuelExport)
	}
	if m.funcs != m.bodies {
		return nil, fmt.Errorf("%d functions declared but %d bodies", m.funcs, m.bodies)
	}
	yieldType := m.types
	fuel := m.globals
	stop := fuel + 1
	yield := m.importedFuncs + m.funcs

	// fuel -= 1; if fuel <= 0 { yield() }. One load feeds both the store
	// and the test: were the fuel read twice, a Stop emptying it in
	// between would leave -1, and an equality test would then let 2^32
	// probes pass. With <= 0, a value from Stop is always seen.
	probe := []byte{opGlobalGet}
	probe = appendULEB(probe, fuel)
	probe = append(probe, opI32Const, 1, opI32Sub, opGlobalSet)
	probe = appendULEB(probe, fuel)
	probe = append(probe, opGlobalGet)
	probe = appendULEB(probe, fuel)
	probe = append(probe, opI32Const, 0, opI32LeS, opIf, blockEmpty, opCall)
	probe = appendULEB(probe, yield)
	probe = append(probe, opEnd)

	edits := map[byte]func([]byte) ([]byte, error){
		secType: func(b []byte) ([]byte, error) {
			return appendVec(b, 1, []byte{0x60, 0, 0}) // func [] -> []
		},
		secFunction: func(b []byte) ([]byte, error) {
			return appendVec(b, 1, appendULEB(nil, yieldType))
		},
		secTable: capTables,
		secGlobal: func(b []byte) ([]byte, error) {
			g := []byte{0x7f, 1, opI32Const} // mutable i32 fuel
			g = appendSLEB(g, FuelPerYield)
			g = append(g, opEnd, 0x7f, 1, opI32Const, 0, opEnd) // mutable i32 stop = 0
			return appendVec(b, 2, g)
		},
		secExport: func(b []byte) ([]byte, error) {
			var e []byte
			for _, x := range []struct {
				name   string
				global uint32
			}{{StopExport, stop}, {FuelExport, fuel}} {
				e = appendULEB(e, uint32(len(x.name)))
				e = append(e, x.name...)
				e = append(e, 3) // global
				e = appendULEB(e, x.global)
			}
			return appendVec(b, 2, e)
		},
		secCode: func(b []byte) ([]byte, error) {
			return rewriteCode(b, m.globals, probe, yieldBody(fuel, stop))
		},
	}
	if !m.memory {
		// memory.grow needs a memory: an empty one that cannot grow
		// (replacing a memory section without memories, if any).
		edits[secMemory] = func([]byte) ([]byte, error) { return []byte{1, 1, 0, 0}, nil }
	}

	var out []byte
	out = append(out, wasm[:8]...)
	emit := func(id byte, body []byte) error {
		if edit, ok := edits[id]; ok {
			delete(edits, id)
			if body == nil {
				body = []byte{0}
			}
			nb, err := edit(body)
			if err != nil {
				return err
			}
			body = nb
		}
		out = append(out, id)
		out = appendULEB(out, uint32(len(body)))
		out = append(out, body...)
		return nil
	}
	// flush emits the missing sections that go before a section of rank.
	flush := func(rank int) error {
		for _, id := range []byte{secType, secFunction, secMemory, secGlobal, secExport, secCode} {
			if _, ok := edits[id]; ok && order(id) < rank {
				if err := emit(id, nil); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, s := range secs {
		if s.id == secCustom {
			if staleDebugInfo(s.body) {
				continue // code offsets changed
			}
			out = appendSection(out, s)
			continue
		}
		if err := flush(order(s.id)); err != nil {
			return nil, err
		}
		if err := emit(s.id, s.body); err != nil {
			return nil, err
		}
	}
	if err := flush(1 << 30); err != nil {
		return nil, err
	}
	return out, nil
}

func appendSection(out []byte, s section) []byte {
	out = append(out, s.id)
	out = appendULEB(out, uint32(len(s.body)))
	return append(out, s.body...)
}

// staleDebugInfo reports whether a custom section is DWARF, whose code
// offsets the rewrite invalidates.
func staleDebugInfo(body []byte) bool {
	n, k, err := uleb32(body)
	if err != nil || uint64(len(body)-k) < uint64(n) {
		return false
	}
	return strings.HasPrefix(string(body[k:k+int(n)]), ".debug_")
}

// sections splits a module into its sections.
func sections(wasm []byte) ([]section, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, errors.New("not a wasm module")
	}
	if !bytes.Equal(wasm[4:8], []byte{1, 0, 0, 0}) {
		return nil, fmt.Errorf("wasm binary version %x", wasm[4:8])
	}
	var secs []section
	for p := wasm[8:]; len(p) > 0; {
		id := p[0]
		size, n, err := uleb32(p[1:])
		if err != nil {
			return nil, fmt.Errorf("%w: section %d size: %w", errMalformed, id, err)
		}
		p = p[1+n:]
		if uint64(len(p)) < uint64(size) {
			return nil, fmt.Errorf("%w: section %d runs past the end", errMalformed, id)
		}
		secs = append(secs, section{id, p[:size]})
		p = p[size:]
	}
	return secs, nil
}

// module is what the rewrite needs to know about a module's index spaces.
type module struct {
	types, funcs, bodies, globals uint32
	importedFuncs                 uint32
	memory                        bool
	exported                      map[string]bool
}

func (m *module) count(s section) error {
	if err := plausibleCount(s); err != nil {
		return err
	}
	if err := plausibleNested(s); err != nil {
		return err
	}
	var err error
	switch s.id {
	case secType:
		m.types, _, err = uleb32(s.body)
	case secImport:
		err = m.imports(s.body)
	case secFunction:
		m.funcs, _, err = uleb32(s.body)
	case secMemory:
		var n uint32
		n, _, err = uleb32(s.body)
		m.memory = m.memory || n > 0
	case secGlobal:
		var n uint32
		n, _, err = uleb32(s.body)
		m.globals += n
	case secExport:
		err = m.exports(s.body)
	case secCode:
		m.bodies, _, err = uleb32(s.body)
	}
	if err != nil {
		return fmt.Errorf("section %d: %w", s.id, err)
	}
	return nil
}

// errMalformed is a section that wazero might still accept, or choke on:
// one running past the end of the module, a number or an entry cut by the
// end of its section (errLEB, errShort), a count larger than its section
// could hold (plausibleCount, plausibleNested), a function with more than
// maxLocals locals, or a data count section
// without exactly one number in it (wazero then reads the next section's
// first byte as the count when one follows, and accepts it when none does).
var errMalformed = errors.New("malformed section")

// plausibleCount refuses a vector section that claims more entries than
// it has bytes. Every entry takes at least one byte, and wazero allocates
// for the claimed count before it reads a single entry: a module of a few
// bytes claiming 2^32 globals makes it ask for tens of GiB, and a failed
// allocation ends the whole process.
func plausibleCount(s section) error {
	switch s.id {
	case secCustom, 8: // custom, start (an index)
		return nil
	case 12: // data count: one number
		if _, k, err := uleb32(s.body); err != nil || k != len(s.body) {
			return fmt.Errorf("%w: data count section of %d bytes", errMalformed, len(s.body))
		}
		return nil
	}
	n, k, err := uleb32(s.body)
	if err != nil {
		return fmt.Errorf("section %d: count: %w", s.id, err)
	}
	if uint64(n) > uint64(len(s.body)-k) {
		return fmt.Errorf("%w: section %d claims %d entries in %d bytes", errMalformed, s.id, n, len(s.body)-k)
	}
	return nil
}

// imports counts the imported functions and globals (they come first in
// their index spaces) and notes an imported memory.
func (m *module) imports(body []byte) error {
	r := &reader{p: body}
	n, err := r.u32()
	if err != nil {
		return err
	}
	for range n {
		for range 2 { // module and field names
			l, err := r.u32()
			if err != nil {
				return err
			}
			if err := r.skip(int(l)); err != nil {
				return err
			}
		}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		switch kind {
		case 0: // function: type index
			m.importedFuncs++
			err = r.leb()
		case 1: // table: reference type, limits
			if err = r.valType(); err == nil {
				err = r.limits()
			}
		case 2: // memory: limits
			m.memory = true
			err = r.limits()
		case 3: // global: value type, mutability
			m.globals++
			if err = r.valType(); err == nil {
				err = r.skip(1)
			}
		case 4: // tag: attribute, type index
			if err = r.skip(1); err == nil {
				err = r.leb()
			}
		default:
			err = fmt.Errorf("import kind %d", kind)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *reader) limits() error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	if flags&1 != 0 {
		return r.lebs(2)
	}
	return r.leb()
}

func (m *module) exports(body []byte) error {
	m.exported = map[string]bool{}
	r := &reader{p: body}
	n, err := r.u32()
	if err != nil {
		return err
	}
	for range n {
		l, err := r.u32()
		if err != nil {
			return err
		}
		start := r.pos
		if err := r.skip(int(l)); err != nil {
			return err
		}
		m.exported[string(body[start:r.pos])] = true
		if err := r.skip(1); err != nil {
			return err
		}
		if err := r.leb(); err != nil {
			return err
		}
	}
	return nil
}

// appendVec appends n encoded items to a vector section body (a count,
// then the items).
func appendVec(body []byte, n uint32, items []byte) ([]byte, error) {
	c, k, err := uleb32(body)
	if err != nil {
		return nil, err
	}
	out := appendULEB(nil, c+n)
	out = append(out, body[k:]...)
	return append(out, items...), nil
}

// yieldBody is the added function the probes call when their fuel runs
// out: refill, visit Go, trap if stopped.
func yieldBody(fuel, stop uint32) []byte {
	b := []byte{0, opI32Const} // no locals
	b = appendSLEB(b, FuelPerYield)
	b = append(b, opGlobalSet)
	b = appendULEB(b, fuel)
	b = append(b, opI32Const, 0, opMemoryGrow, 0, opDrop, opGlobalGet)
	b = appendULEB(b, stop)
	return append(b, opIf, blockEmpty, opUnreachable, opEnd, opEnd)
}

// rewriteCode inserts probe into every function body of a code section
// and appends the yield function's body. globals is the number of the
// module's own globals (imported ones included).
func rewriteCode(body []byte, globals uint32, probe, yield []byte) ([]byte, error) {
	n, k, err := uleb32(body)
	if err != nil {
		return nil, err
	}
	out := appendULEB(nil, n+1)
	p := body[k:]
	var fb []byte
	for i := range n {
		size, k, err := uleb32(p)
		if err != nil || uint64(len(p)-k) < uint64(size) {
			return nil, fmt.Errorf("function body %d: bad size", i)
		}
		f := p[k : k+int(size)]
		p = p[k+int(size):]
		fb = fb[:0]
		last := 0
		err = walkBody(f, globals, func(_ byte, at int) {
			fb = append(fb, f[last:at]...)
			fb = append(fb, probe...)
			last = at
		})
		if err != nil {
			return nil, fmt.Errorf("function body %d: %w", i, err)
		}
		fb = append(fb, f[last:]...)
		out = appendULEB(out, uint32(len(fb)))
		out = append(out, fb...)
	}
	if len(p) != 0 {
		return nil, errors.New("code section: bytes after the last body")
	}
	out = appendULEB(out, uint32(len(yield)))
	return append(out, yield...), nil
}
