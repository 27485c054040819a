package worker

import (
	"fmt"
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
//
// A pool may start every memory from a module's memory image (image.go):
// the region then begins with a private copy-on-write mapping of the image,
// and freeing it brings the image's pages back instead of zeroes.
type memoryPool struct {
	limit   uint64    // bytes, a multiple of the wasm page size
	maxFree int       // regions kept for reuse
	image   *memImage // nil for zeroed memories

	mu   sync.Mutex
	free []region
}

func newMemoryPool(limit uint64, maxFree int, image *memImage) *memoryPool {
	limit = limit / wasmPageSize * wasmPageSize
	return &memoryPool{limit: limit, maxFree: maxFree, image: image}
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

// newRequestAllocator takes a region from the pool up front: wazero cannot
// handle an allocator that fails to provide the initial memory.
func newRequestAllocator(p *memoryPool) (*requestAllocator, error) {
	r := p.get()
	if !r.ok() {
		return nil, fmt.Errorf("reserve %d MiB of address space for a linear memory", p.limit>>20)
	}
	return &requestAllocator{pool: p, mem: &linearMemory{pool: p, reg: r}}, nil
}

// Allocate implements experimental.MemoryAllocator. wazero calls it once,
// for the module's only memory.
func (a *requestAllocator) Allocate(_, _ uint64) experimental.LinearMemory {
	return a.mem
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
	return newRegion(p.limit, p.image)
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
