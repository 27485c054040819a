package worker

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// wasmPageSize is the size of a WebAssembly memory page.
const wasmPageSize = 64 << 10

// memoryPool hands out linear memories capped at one byte limit. wazero's
// runtime-wide WithMemoryLimitPages cannot vary per project, so the cap is
// enforced here: growing past the limit returns nil, which makes the
// guest's memory.grow fail (a Go guest then dies with "out of memory",
// exit 2, and the request gets a 502).
//
// On Linux a memory is a region reserved once with mmap(MAP_NORESERVE) and
// reused across requests: growing only reslices (no copy, no Go heap
// garbage), and freeing drops the pages with madvise(MADV_DONTNEED), which
// also scrubs the previous request's data. Elsewhere memories live on the
// Go heap.
type memoryPool struct {
	limit   uint64 // bytes, a multiple of the wasm page size
	maxFree int    // regions kept for reuse

	mu   sync.Mutex
	free []region
}

func newMemoryPool(limit uint64, maxFree int) *memoryPool {
	limit = limit / wasmPageSize * wasmPageSize
	return &memoryPool{limit: limit, maxFree: maxFree}
}

// linearMemory is one guest's memory, taken from a pool.
type linearMemory struct {
	pool  *memoryPool
	reg   region
	used  uint64
	freed bool
}

// requestAllocator is the allocator given to one instantiation. It remembers
// the memory it handed out, so the host can return it to the pool even on
// error paths where wazero does not call Free.
type requestAllocator struct {
	pool *memoryPool
	mem  *linearMemory
}

var _ experimental.MemoryAllocator = (*requestAllocator)(nil)

// Allocate implements experimental.MemoryAllocator.
func (a *requestAllocator) Allocate(_, _ uint64) experimental.LinearMemory {
	m := &linearMemory{pool: a.pool, reg: a.pool.get()}
	a.mem = m
	return m
}

// release returns the memory to the pool if wazero has not done so. It must
// be called only once no guest code can run any more.
func (a *requestAllocator) release() {
	if a.mem != nil {
		a.mem.Free()
		a.mem = nil
	}
}

// Reallocate implements experimental.LinearMemory. It refuses to grow past
// the pool's limit.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if m.freed || size > m.pool.limit {
		return nil
	}
	b := m.reg.grow(size)
	if b == nil {
		return nil
	}
	m.used = max(m.used, size)
	return b
}

// Free implements experimental.LinearMemory. It is idempotent.
func (m *linearMemory) Free() {
	if m.freed {
		return
	}
	m.freed = true
	m.pool.put(m.reg, m.used)
}

func (p *memoryPool) get() region {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		r := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return r
	}
	p.mu.Unlock()
	return newRegion(p.limit)
}

func (p *memoryPool) put(r region, used uint64) {
	if !r.reset(used) {
		r.release()
		return
	}
	p.mu.Lock()
	if len(p.free) < p.maxFree {
		p.free = append(p.free, r)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	r.release()
}

// close releases every pooled region.
func (p *memoryPool) close() {
	p.mu.Lock()
	free := p.free
	p.free = nil
	p.mu.Unlock()
	for _, r := range free {
		r.release()
	}
}
