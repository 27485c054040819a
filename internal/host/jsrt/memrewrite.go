package jsrt

import (
	"bytes"
	"errors"
	"fmt"
)

// defineMemory rewrites the engine's imported memory into a memory the
// module defines itself, with maxPages as its maximum. wazero's host modules
// cannot export a memory, and a defined memory lets the wasm maximum be the
// hard cap on what a tenant's JS can allocate.
func defineMemory(wasm []byte, maxPages uint32) ([]byte, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, errors.New("engine: not a wasm module")
	}
	out := append([]byte(nil), wasm[:8]...)
	p := wasm[8:]
	var minPages uint32
	found, placed := false, false
	for len(p) > 0 {
		id := p[0]
		size, n, err := uleb(p[1:])
		if err != nil {
			return nil, fmt.Errorf("engine: section size: %w", err)
		}
		start := 1 + n
		if uint64(len(p)-start) < uint64(size) {
			return nil, errors.New("engine: section past the end")
		}
		body := p[start : start+int(size)]
		p = p[start+int(size):]
		// The memory section goes after the table section (4) and before
		// every later section (custom sections, 0, keep their place).
		if found && !placed && id != 0 && id != 3 && id != 4 {
			out = appendSection(out, 5, memorySection(minPages, maxPages))
			placed = true
		}
		if id == 2 {
			nb, min, ok, err := dropMemoryImport(body)
			if err != nil {
				return nil, err
			}
			if ok {
				found, minPages, body = true, min, nb
			}
		}
		out = appendSection(out, id, body)
	}
	if !found {
		return nil, errors.New("engine: no imported memory")
	}
	if !placed {
		out = appendSection(out, 5, memorySection(minPages, maxPages))
	}
	return out, nil
}

func memorySection(min, max uint32) []byte {
	if max < min {
		max = min
	}
	b := []byte{1, 1} // one memory, limits with a maximum
	b = appendUleb(b, min)
	return appendUleb(b, max)
}

// dropMemoryImport removes the memory entry from an import section.
func dropMemoryImport(body []byte) (nb []byte, minPages uint32, ok bool, err error) {
	count, n, err := uleb(body)
	if err != nil {
		return nil, 0, false, err
	}
	p := body[n:]
	var kept [][]byte
	for i := uint32(0); i < count; i++ {
		entry := p
		for range 2 { // module and field names
			l, n, err := uleb(p)
			if err != nil || uint64(len(p)-n) < uint64(l) {
				return nil, 0, false, errors.New("engine: bad import name")
			}
			p = p[n+int(l):]
		}
		if len(p) == 0 {
			return nil, 0, false, errors.New("engine: truncated import")
		}
		kind := p[0]
		p = p[1:]
		var mem bool
		switch kind {
		case 0: // function: type index
			_, n, err = uleb(p)
			p = p[n:]
		case 1: // table: reftype + limits
			p = p[1:]
			p, _, err = skipLimits(p)
		case 2: // memory: limits
			mem = true
			p, minPages, err = skipLimits(p)
		case 3: // global: valtype + mutability
			p = p[2:]
		default:
			err = fmt.Errorf("engine: import kind %d", kind)
		}
		if err != nil {
			return nil, 0, false, err
		}
		if mem {
			ok = true
			continue
		}
		kept = append(kept, entry[:len(entry)-len(p)])
	}
	nb = appendUleb(nil, uint32(len(kept)))
	for _, e := range kept {
		nb = append(nb, e...)
	}
	return nb, minPages, ok, nil
}

func skipLimits(p []byte) ([]byte, uint32, error) {
	if len(p) == 0 {
		return nil, 0, errors.New("engine: truncated limits")
	}
	flag := p[0]
	min, n, err := uleb(p[1:])
	if err != nil {
		return nil, 0, err
	}
	p = p[1+n:]
	if flag&1 != 0 {
		_, n, err := uleb(p)
		if err != nil {
			return nil, 0, err
		}
		p = p[n:]
	}
	return p, min, nil
}

func appendSection(out []byte, id byte, body []byte) []byte {
	out = append(out, id)
	out = appendUleb(out, uint32(len(body)))
	return append(out, body...)
}

func uleb(p []byte) (uint32, int, error) {
	var v uint32
	for i := 0; i < 5 && i < len(p); i++ {
		v |= uint32(p[i]&0x7f) << (7 * i)
		if p[i]&0x80 == 0 {
			return v, i + 1, nil
		}
	}
	return 0, 0, errors.New("bad LEB128")
}

func appendUleb(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}
