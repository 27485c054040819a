package wasmstop

import (
	"errors"
	"fmt"
)

// Opcodes the rewrite looks at or emits.
const (
	opUnreachable = 0x00
	opBlock       = 0x02
	opLoop        = 0x03
	opIf          = 0x04
	opElse        = 0x05
	opTry         = 0x06 // legacy exception handling
	opCatch       = 0x07
	opEnd         = 0x0b
	opDelegate    = 0x18
	opCatchAll    = 0x19
	opTryTable    = 0x1f
	opCall        = 0x10
	opDrop        = 0x1a
	opGlobalGet   = 0x23
	opGlobalSet   = 0x24
	opMemoryGrow  = 0x40
	opI32Const    = 0x41
	opI32Eqz      = 0x45
	opI32LeS      = 0x4c
	opI32Sub      = 0x6b

	blockEmpty = 0x40
)

// reader decodes immediates from a function body.
type reader struct {
	p   []byte
	pos int
}

// errShort is a section or body that ends before what it holds (see
// errLEB).
var errShort = fmt.Errorf("%w: unexpected end", errMalformed)

func (r *reader) byte() (byte, error) {
	if r.pos >= len(r.p) {
		return 0, errShort
	}
	b := r.p[r.pos]
	r.pos++
	return b, nil
}

func (r *reader) leb() error {
	n, err := skipLEB(r.p[r.pos:])
	r.pos += n
	return err
}

func (r *reader) u32() (uint32, error) {
	v, n, err := uleb32(r.p[r.pos:])
	r.pos += n
	return v, err
}

func (r *reader) skip(n int) error {
	if len(r.p)-r.pos < n {
		return errShort
	}
	r.pos += n
	return nil
}

// heapRef reports whether b starts a two-part reference type:
// (ref null ht) or (ref ht), followed by a heap type.
func heapRef(b byte) bool { return b == 0x63 || b == 0x64 }

// valType skips a value type, a block type or a heap type: one signed
// LEB128, preceded by 0x63/0x64 for a typed reference.
func (r *reader) valType() error {
	if r.pos < len(r.p) && heapRef(r.p[r.pos]) {
		r.pos++
	}
	return r.leb()
}

// memarg skips a memory access's alignment (with a memory index when its
// bit 6 is set) and offset.
func (r *reader) memarg() error {
	align, err := r.u32()
	if err != nil {
		return err
	}
	if align&0x40 != 0 {
		if err := r.leb(); err != nil {
			return err
		}
	}
	return r.leb()
}

// lebs skips n LEB128 immediates.
func (r *reader) lebs(n int) error {
	for range n {
		if err := r.leb(); err != nil {
			return err
		}
	}
	return nil
}

// instr decodes the instruction at r.pos and returns its opcode, leaving
// r.pos after its immediates.
func (r *reader) instr() (byte, error) {
	op, err := r.byte()
	if err != nil {
		return 0, err
	}
	switch {
	case op == opBlock || op == opLoop || op == opIf || op == opTry:
		err = r.valType()
	case op == opTryTable:
		if err = r.valType(); err != nil {
			break
		}
		var n uint32
		if n, err = r.u32(); err != nil {
			break
		}
		for range n {
			var kind byte
			if kind, err = r.byte(); err != nil {
				break
			}
			switch kind {
			case 0, 1: // catch / catch_ref: tag, label
				err = r.lebs(2)
			case 2, 3: // catch_all / catch_all_ref: label
				err = r.leb()
			default:
				err = fmt.Errorf("catch clause kind %#x", kind)
			}
			if err != nil {
				break
			}
		}
	case op <= 0x01, op == opElse, op == 0x0a, op == opEnd, op == 0x0f, op == opCatchAll,
		op == opDrop, op == 0x1b, op >= 0x45 && op <= 0xc4, op == 0xd1, op == 0xd3, op == 0xd5:
		// no immediate
	case op == opCatch, op == 0x08, op == 0x09, op == 0x0c, op == 0x0d, op == opCall, op == 0x12,
		op == 0x14, op == 0x15, op == opDelegate, op >= 0x20 && op <= 0x26, op == 0x3f, op == opMemoryGrow,
		op == opI32Const, op == 0x42, op == 0xd2, op == 0xd4, op == 0xd6:
		err = r.leb()
	case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect: type, table
		err = r.lebs(2)
	case op == 0x0e: // br_table
		var n uint32
		if n, err = r.u32(); err == nil {
			err = r.lebs(int(n) + 1)
		}
	case op == 0x1c: // select with types
		var n uint32
		if n, err = r.u32(); err == nil {
			for range n {
				if err = r.valType(); err != nil {
					break
				}
			}
		}
	case op >= 0x28 && op <= 0x3e:
		err = r.memarg()
	case op == 0x43:
		err = r.skip(4)
	case op == 0x44:
		err = r.skip(8)
	case op == 0xd0: // ref.null
		err = r.valType()
	case op == 0xfc:
		err = r.miscOp()
	case op == 0xfd:
		err = r.vectorOp()
	case op == 0xfe:
		err = r.atomicOp()
	default:
		err = fmt.Errorf("unknown opcode %#x", op)
	}
	if err != nil {
		return 0, fmt.Errorf("opcode %#x at %d: %w", op, r.pos, err)
	}
	return op, nil
}

// miscOp skips a 0xfc instruction: saturating truncation, bulk memory and
// table operations.
func (r *reader) miscOp() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 7: // trunc_sat
		return nil
	case sub == 9 || sub == 11 || sub == 13 || sub >= 15 && sub <= 17:
		return r.leb() // data.drop, memory.fill, elem.drop, table.grow/size/fill
	case sub == 8 || sub == 10 || sub == 12 || sub == 14:
		return r.lebs(2) // memory.init, memory.copy, table.init, table.copy
	}
	return fmt.Errorf("unknown 0xfc instruction %d", sub)
}

// vectorOp skips a 0xfd (SIMD) instruction.
func (r *reader) vectorOp() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 11 || sub == 92 || sub == 93: // loads and stores
		return r.memarg()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		return r.skip(16)
	case sub >= 21 && sub <= 34: // extract and replace lane
		return r.skip(1)
	case sub >= 84 && sub <= 91: // load and store lane
		if err := r.memarg(); err != nil {
			return err
		}
		return r.skip(1)
	case sub <= 0x113: // every other one, relaxed SIMD included, has none
		return nil
	}
	return fmt.Errorf("unknown 0xfd instruction %d", sub)
}

// atomicOp skips a 0xfe (threads) instruction.
func (r *reader) atomicOp() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub == 3: // atomic.fence
		return r.skip(1)
	case sub <= 2 || sub >= 0x10 && sub <= 0x4e:
		return r.memarg()
	}
	return fmt.Errorf("unknown 0xfe instruction %d", sub)
}

// skipLocals skips a function body's local declarations, refusing more
// than maxLocals locals.
func (r *reader) skipLocals() error {
	n, err := r.u32()
	if err != nil {
		return fmt.Errorf("locals: %w", err)
	}
	var sum uint64
	for range n {
		k, err := r.u32()
		if err != nil {
			return fmt.Errorf("locals: %w", err)
		}
		if sum += uint64(k); sum > maxLocals {
			return fmt.Errorf("%w: over %d locals", errMalformed, maxLocals)
		}
		if err := r.valType(); err != nil {
			return fmt.Errorf("locals: %w", err)
		}
	}
	return nil
}

// walkBody decodes a function body (locals and code) and calls fn with the
// offset after the locals (op 0, start of the code) and after every loop
// header (op opLoop, its block type included). The code must close its
// blocks exactly at the end of the body, and name no global from globals
// on: those are the rewrite's, which the module's code must not reach (it
// could keep the stop unset and the fuel full).
func walkBody(body []byte, globals uint32, fn func(op byte, at int)) error {
	r := &reader{p: body}
	if err := r.skipLocals(); err != nil {
		return err
	}
	fn(0, r.pos)
	depth := 1 // the function's own block
	for r.pos < len(body) {
		if depth == 0 {
			return fmt.Errorf("code after the function's end at %d", r.pos)
		}
		start := r.pos
		op, err := r.instr()
		if err != nil {
			return err
		}
		switch op {
		case opBlock, opLoop, opIf, opTry, opTryTable:
			depth++
		case opEnd, opDelegate:
			depth--
		case opGlobalGet, opGlobalSet:
			if g, _, err := uleb32(body[start+1:]); err != nil || g >= globals {
				return fmt.Errorf("global %d at %d: the module has %d globals", g, start, globals)
			}
		}
		if op == opLoop {
			fn(op, r.pos)
		}
	}
	if depth != 0 {
		return errors.New("function body ends inside a block")
	}
	return nil
}
