//go:build !linux

package worker

import "errors"

// imagesSupported is false: without mmap and memfd, modules keep their data
// segments and wazero copies them on each instantiation.
const imagesSupported = false

type memImage struct{}

func newMemImage([]byte) (*memImage, error) {
	return nil, errors.New("memory images need Linux")
}

func (*memImage) close() {}

// region is a linear memory on the Go heap, grown by copying. It is used
// where the mmap pool of memory_linux.go is not available.
type region struct {
	limit uint64
	mem   *[]byte
}

func newRegion(limit uint64, _ *memImage) region {
	b := []byte(nil)
	return region{limit: limit, mem: &b}
}

func (r region) ok() bool { return true }

func (r region) grow(size uint64) []byte {
	if size > r.limit {
		return nil
	}
	b := *r.mem
	if uint64(len(b)) < size {
		nb := make([]byte, size)
		copy(nb, b)
		*r.mem = nb
		b = nb
	}
	return b[:size:size]
}

// reset reports false: heap memories are not reused, the garbage collector
// takes them.
func (r region) reset(uint64) bool { return false }

func (r region) release() { *r.mem = nil }
