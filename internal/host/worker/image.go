package worker

import (
	"errors"
)

// A Go guest carries about 60,000 active data segments. wazero copies them
// into a fresh linear memory on every instantiation, which costs ~3 ms per
// request and most of its allocations for a Go guest, which has some 60,000
// of them. When every segment is active with a constant offset, the host
// lifts them out at load time: the module is rewritten without its data
// section, and the segments are laid out once into a memory image. Each
// request then starts from a copy-on-write mapping of that image
// (memory_linux.go) instead of copying the data.

const (
	sectionData      = 11
	sectionDataCount = 12
)

// errNoImage means the module's data cannot be lifted into an image; it then
// runs unchanged.
var errNoImage = errors.New("data segments cannot be lifted into an image")

// liftData splits a module into the module without its data section and the
// image of its initial memory, page-aligned. It refuses (errNoImage) when
// a segment is passive, targets another memory or has a non-constant
// offset, when a data count section exists (the code may then refer to
// segments), or when the image would not fit the initial memory.
func liftData(wasm []byte, minMemory uint64) (code, image []byte, err error) {
	sections, err := readSections(wasm)
	if err != nil {
		return nil, nil, err
	}
	var data *wasmSection
	for i := range sections {
		switch sections[i].id {
		case sectionDataCount:
			return nil, nil, errNoImage
		case sectionData:
			data = &sections[i]
		}
	}
	if data == nil {
		return nil, nil, errNoImage
	}

	type segment struct {
		offset uint64
		bytes  []byte
	}
	p := data.payload
	count, n, err := readU32(p)
	if err != nil {
		return nil, nil, err
	}
	p = p[n:]
	if uint64(count) > uint64(len(p)) {
		return nil, nil, errTruncated
	}
	segs := make([]segment, 0, count)
	var end uint64
	for range count {
		flag, n, err := readU32(p)
		if err != nil {
			return nil, nil, err
		}
		if flag != 0 { // passive, or an explicit memory index
			return nil, nil, errNoImage
		}
		p = p[n:]
		// The offset must be exactly "i32.const N; end".
		if len(p) < 1 || p[0] != 0x41 {
			return nil, nil, errNoImage
		}
		off, n, err := readS32(p[1:])
		if err != nil {
			return nil, nil, err
		}
		p = p[1+n:]
		if len(p) < 1 || p[0] != 0x0b {
			return nil, nil, errNoImage
		}
		p = p[1:]
		size, n, err := readU32(p)
		if err != nil {
			return nil, nil, err
		}
		p = p[n:]
		if uint64(size) > uint64(len(p)) {
			return nil, nil, errTruncated
		}
		seg := segment{offset: uint64(uint32(off)), bytes: p[:size]}
		p = p[size:]
		end = max(end, seg.offset+uint64(len(seg.bytes)))
		segs = append(segs, seg)
	}
	if len(p) != 0 {
		return nil, nil, errors.New("trailing bytes in the data section")
	}
	if end > minMemory {
		// Instantiation would fail on an out-of-bounds segment; let wazero
		// report it.
		return nil, nil, errNoImage
	}

	image = make([]byte, (end+wasmPageSize-1)/wasmPageSize*wasmPageSize)
	for _, s := range segs {
		copy(image[s.offset:], s.bytes)
	}
	code = make([]byte, 0, len(wasm)-(data.end-data.start))
	code = append(code, wasm[:data.start]...)
	code = append(code, wasm[data.end:]...)
	return code, image, nil
}

// readS32 decodes a signed LEB128 of at most 5 bytes.
func readS32(p []byte) (int32, int, error) {
	var v int64
	var shift uint
	for i := 0; i < len(p) && i < 5; i++ {
		b := p[i]
		v |= int64(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			if shift < 64 && b&0x40 != 0 {
				v |= -1 << shift
			}
			if v < -1<<31 || v > 1<<31-1 {
				return 0, 0, errors.New("invalid i32 in WebAssembly binary")
			}
			return int32(v), i + 1, nil
		}
	}
	return 0, 0, errTruncated
}
