package worker

import (
	"bytes"
	"errors"
	"fmt"
)

// This file reads just enough of the WebAssembly binary format to judge a
// module before wazero compiles it: the header and the import section.
// wazero's CompiledModule lists imported functions and memories but not
// imported tables, globals or tags, and a module must import nothing but
// WASI preview1 functions.

var (
	wasmMagic          = []byte("\x00asm")
	wasmCoreVersion    = []byte{1, 0, 0, 0}
	errNotWasm         = errors.New("not a WebAssembly module (no \\0asm header)")
	errTruncated       = errors.New("truncated WebAssembly binary")
	wasmComponentLayer = []byte{0x0d, 0x00, 0x01, 0x00}
)

const (
	sectionImport = 2
	sectionMemory = 5
)

// wasmImport is one entry of the import section.
type wasmImport struct {
	module, name string
	kind         byte // 0 func, 1 table, 2 memory, 3 global, 4 tag
}

var importKindNames = [...]string{"function", "table", "memory", "global", "tag"}

func (im wasmImport) kindName() string {
	if int(im.kind) < len(importKindNames) {
		return importKindNames[im.kind]
	}
	return fmt.Sprintf("kind %d", im.kind)
}

// wasmSection is one top-level section of a module.
type wasmSection struct {
	id      byte
	start   int // offset of the id byte in the module
	end     int // offset just past the payload
	payload []byte
}

// checkHeader tells a core module from other binaries, with a specific
// message for a component (wasm32-wasip2 output), which wazero cannot run.
func checkHeader(b []byte) error {
	if len(b) < 8 || !bytes.Equal(b[:4], wasmMagic) {
		return errNotWasm
	}
	if bytes.Equal(b[4:8], wasmComponentLayer) {
		return errors.New("this is a WebAssembly component (WASI preview 2); build a core module for WASI preview 1 (e.g. GOOS=wasip1 or --target=wasm32-wasip1)")
	}
	if !bytes.Equal(b[4:8], wasmCoreVersion) {
		return fmt.Errorf("unsupported WebAssembly version % x", b[4:8])
	}
	return nil
}

// readSections splits a module after its header into sections.
func readSections(b []byte) ([]wasmSection, error) {
	var out []wasmSection
	off := 8
	for off < len(b) {
		start := off
		id := b[off]
		off++
		size, n, err := readU32(b[off:])
		if err != nil {
			return nil, err
		}
		off += n
		if uint64(off)+uint64(size) > uint64(len(b)) {
			return nil, errTruncated
		}
		off += int(size)
		out = append(out, wasmSection{id: id, start: start, end: off, payload: b[off-int(size) : off]})
	}
	return out, nil
}

// readImports decodes an import section payload.
func readImports(p []byte) ([]wasmImport, error) {
	count, n, err := readU32(p)
	if err != nil {
		return nil, err
	}
	p = p[n:]
	// Each import takes at least 4 bytes, which bounds the allocation.
	if uint64(count) > uint64(len(p)) {
		return nil, errTruncated
	}
	out := make([]wasmImport, 0, count)
	for range count {
		var im wasmImport
		if im.module, p, err = readName(p); err != nil {
			return nil, err
		}
		if im.name, p, err = readName(p); err != nil {
			return nil, err
		}
		if len(p) == 0 {
			return nil, errTruncated
		}
		im.kind = p[0]
		p = p[1:]
		// Skip the import's type; only its kind matters here.
		switch im.kind {
		case 0: // function: type index
			_, n, err = readU32(p)
		case 1: // table: reftype + limits
			if len(p) < 1 {
				return nil, errTruncated
			}
			n, err = limitsLen(p[1:])
			n++
		case 2: // memory: limits
			n, err = limitsLen(p)
		case 3: // global: valtype + mut
			n = 2
			if len(p) < 2 {
				err = errTruncated
			}
		case 4: // tag: attribute + type index
			if len(p) < 1 {
				return nil, errTruncated
			}
			_, n, err = readU32(p[1:])
			n++
		default:
			return nil, fmt.Errorf("unknown import kind %d", im.kind)
		}
		if err != nil {
			return nil, err
		}
		p = p[n:]
		out = append(out, im)
	}
	return out, nil
}

// limitsLen returns the encoded length of a limits structure.
func limitsLen(p []byte) (int, error) {
	if len(p) < 1 {
		return 0, errTruncated
	}
	flags := p[0]
	off := 1
	_, n, err := readU64(p[off:])
	if err != nil {
		return 0, err
	}
	off += n
	if flags&1 != 0 {
		_, n, err = readU64(p[off:])
		if err != nil {
			return 0, err
		}
		off += n
	}
	return off, nil
}

func readName(p []byte) (string, []byte, error) {
	l, n, err := readU32(p)
	if err != nil {
		return "", nil, err
	}
	p = p[n:]
	if uint64(l) > uint64(len(p)) {
		return "", nil, errTruncated
	}
	return string(p[:l]), p[l:], nil
}

// readU32 decodes an unsigned LEB128 of at most 5 bytes.
func readU32(p []byte) (uint32, int, error) {
	v, n, err := readU64(p)
	if err != nil {
		return 0, 0, err
	}
	if v > 0xffffffff || n > 5 {
		return 0, 0, errors.New("invalid u32 in WebAssembly binary")
	}
	return uint32(v), n, nil
}

// readU64 decodes an unsigned LEB128 of at most 10 bytes.
func readU64(p []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < len(p) && i < 10; i++ {
		b := p[i]
		v |= uint64(b&0x7f) << (7 * uint(i))
		if b&0x80 == 0 {
			return v, i + 1, nil
		}
	}
	return 0, 0, errTruncated
}

// initialMemory returns the initial size in bytes of the module's own
// memory, from its memory section; ok is false when it has none or the
// section cannot be read.
func initialMemory(wasm []byte) (bytes uint64, ok bool) {
	sections, err := readSections(wasm)
	if err != nil {
		return 0, false
	}
	for _, s := range sections {
		if s.id != sectionMemory {
			continue
		}
		p := s.payload
		count, n, err := readU32(p)
		if err != nil || count == 0 || len(p) < n+1 {
			return 0, false
		}
		if p[n]&^1 != 0 { // only plain 32-bit, unshared limits
			return 0, false
		}
		min, _, err := readU32(p[n+1:])
		if err != nil {
			return 0, false
		}
		return uint64(min) * wasmPageSize, true
	}
	return 0, false
}
