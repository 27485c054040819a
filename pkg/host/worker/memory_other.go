//go:build !linux

package worker

// region is a linear memory on the Go heap, grown by copying. It is used
// where the mmap pool of memory_linux.go is not available.
type region struct {
	limit uint64
	mem   *[]byte
}

func newRegion(limit uint64) region {
	b := []byte(nil)
	return region{limit: limit, mem: &b}
}

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
