package jsrt

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
)

// A new instance starts from a copy of an engine's memory taken once per
// Runtime right after the shim was evaluated, instead of creating the QuickJS
// runtime and context and evaluating the shim again: that evaluation is most
// of the cost of a new instance, and of the first request after a deploy.
// The copy is taken before any tenant module runs, so it holds nothing of
// any project. The engine's only mutable global, the C stack pointer, is the
// same in every engine at rest, so memory is all there is to copy; the
// instance is instantiated and its constructors run first (instantiation
// writes the data segments, which the shim may since have changed), then the
// image is written over it. Math.random's state, which the copy would
// otherwise share with every instance, gets a fresh seed.

// imagePageSize is the granularity of the image: only pages that are not
// zero in it, or not zero in a newly started engine, are written.
const imagePageSize = 4 << 10

// shimImage is the memory of an engine with the shim evaluated, and where
// in it the instance's handles are.
type shimImage struct {
	size  uint32 // memory size in bytes
	pages []imagePage

	rt, ctx, undefined, jobCtx, mailbox, tick uint32
	// random is where Math.random's 64-bit state is, from ctx.
	random uint32
}

type imagePage struct {
	at   uint32
	data []byte
}

// nonZeroPages lists the pages of mem that hold anything but zeros.
func nonZeroPages(mem []byte) map[uint32]bool {
	out := map[uint32]bool{}
	var zero [imagePageSize]byte
	for at := 0; at < len(mem); at += imagePageSize {
		if !bytes.Equal(mem[at:min(at+imagePageSize, len(mem))], zero[:min(imagePageSize, len(mem)-at)]) {
			out[uint32(at)] = true
		}
	}
	return out
}

// captureImage copies in's memory, which must hold only the shim's state,
// keeping the pages that are not zero or that started (the set fresh) as
// not zero.
func (in *instance) captureImage(fresh map[uint32]bool) *shimImage {
	size := in.mem.Size()
	mem, ok := in.mem.Read(0, size)
	if !ok {
		return nil
	}
	img := &shimImage{size: size, rt: in.rt, ctx: in.ctx, undefined: in.undefined, jobCtx: in.jobCtx, mailbox: in.mailbox, tick: in.tick}
	dirty := nonZeroPages(mem)
	for at := range fresh {
		dirty[at] = true
	}
	for at := uint32(0); at < size; at += imagePageSize {
		if dirty[at] {
			img.pages = append(img.pages, imagePage{at: at, data: append([]byte(nil), mem[at:min(at+imagePageSize, size)]...)})
		}
	}
	return img
}

// restore writes img over the memory of a newly started instance and takes
// its handles; false when the memory cannot hold it.
func (in *instance) restore(img *shimImage) bool {
	if cur := in.mem.Size(); cur < img.size {
		if _, ok := in.mem.Grow((img.size - cur + wasmPage - 1) / wasmPage); !ok {
			return false
		}
	}
	for _, p := range img.pages {
		if !in.mem.Write(p.at, p.data) {
			return false
		}
	}
	in.rt, in.ctx, in.undefined, in.jobCtx, in.mailbox, in.tick = img.rt, img.ctx, img.undefined, img.jobCtx, img.mailbox, img.tick
	seed := rand.Uint64() | 1 // xorshift's state must not be zero
	return in.mem.WriteUint64Le(img.ctx+img.random, seed)
}

// xorshift64star advances Math.random's state as QuickJS does.
func xorshift64star(x uint64) uint64 {
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	return x
}

// findRandomState finds Math.random's state in the JSContext at ctx: the
// 64-bit field that a call of Math.random advances by one xorshift64* step.
// It reads the context before and after; ok is false when no field, or
// more than one, did so.
func findRandomState(before, after []byte) (offset uint32, ok bool) {
	found := 0
	for o := 0; o+8 <= min(len(before), len(after)); o += 8 {
		b, a := binary.LittleEndian.Uint64(before[o:]), binary.LittleEndian.Uint64(after[o:])
		if b != 0 && a == xorshift64star(b) {
			offset = uint32(o)
			found++
		}
	}
	return offset, found == 1
}
