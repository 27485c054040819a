package worker

import "syscall"

// region is address space reserved for one linear memory. Pages are only
// backed by RAM once the guest touches them.
type region struct {
	mem []byte // the whole reservation; nil if mmap failed
}

func newRegion(limit uint64) region {
	if limit == 0 {
		return region{}
	}
	mem, err := syscall.Mmap(-1, 0, int(limit),
		syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return region{}
	}
	return region{mem: mem}
}

// grow returns the first size bytes, or nil when they do not fit.
func (r region) grow(size uint64) []byte {
	if r.mem == nil || size > uint64(len(r.mem)) {
		return nil
	}
	return r.mem[:size:size]
}

// reset zeroes the first used bytes by dropping their pages, and reports
// whether the region can be reused.
func (r region) reset(used uint64) bool {
	if r.mem == nil {
		return false
	}
	if used == 0 {
		return true
	}
	return syscall.Madvise(r.mem[:used], syscall.MADV_DONTNEED) == nil
}

func (r region) release() {
	if r.mem != nil {
		_ = syscall.Munmap(r.mem)
	}
}
