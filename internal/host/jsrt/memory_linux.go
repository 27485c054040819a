package jsrt

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

const mmapSupported = true

// mapped is a linear memory in its own anonymous mapping.
type mapped struct {
	buf []byte // the whole reservation
	cap uint64
}

func newMapped(capacity, maxBytes uint64) experimental.LinearMemory {
	size := max(capacity, maxBytes)
	buf, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return &heapMemory{}
	}
	return &mapped{buf: buf, cap: size}
}

func (m *mapped) Reallocate(size uint64) []byte {
	if size > m.cap {
		return nil
	}
	return m.buf[:size:size]
}

// Free does nothing: see withMemory.
func (m *mapped) Free() {}

// release unmaps the memory. No call into its instance may be running.
func (m *mapped) release() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf)
		m.buf = nil
	}
}

// heapMemory is the fallback when the reservation fails.
type heapMemory struct{ buf []byte }

func (h *heapMemory) Reallocate(size uint64) []byte {
	if size <= uint64(cap(h.buf)) {
		h.buf = h.buf[:size]
		return h.buf
	}
	nb := make([]byte, size)
	copy(nb, h.buf)
	h.buf = nb
	return nb
}

func (h *heapMemory) Free() { h.buf = nil }
