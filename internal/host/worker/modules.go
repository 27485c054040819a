package worker

import (
	"container/list"
	"context"
	"sync"

	"github.com/tetratelabs/wazero"
)

// compiledProgram is a module ready to instantiate: its machine code, the
// memory image lifted from its data segments (nil when it keeps them) and
// the pools of linear memories that start from that image.
type compiledProgram struct {
	compiled  wazero.CompiledModule
	image     *memImage
	minMemory uint64 // bytes of memory at start
	maxFree   int

	poolsMu sync.Mutex
	pools   map[uint64]*memoryPool

	// guestMode marks a pkg/guest reactor (guestmode.go), served from
	// pooled live instances.
	guestMode bool
	// instances are the pools of live guest-mode instances on this
	// module; forget removes them from the runtime's registry on close.
	instances map[*instancePool]bool
	forget    func()
}

func (cp *compiledProgram) addPool(ip *instancePool) {
	cp.poolsMu.Lock()
	defer cp.poolsMu.Unlock()
	if cp.instances == nil {
		cp.instances = map[*instancePool]bool{}
	}
	cp.instances[ip] = true
}

func (cp *compiledProgram) removePool(ip *instancePool) {
	cp.poolsMu.Lock()
	defer cp.poolsMu.Unlock()
	delete(cp.instances, ip)
}

// pool returns the memory pool for a limit.
func (cp *compiledProgram) pool(limit uint64) *memoryPool {
	cp.poolsMu.Lock()
	defer cp.poolsMu.Unlock()
	p := cp.pools[limit]
	if p == nil {
		p = newMemoryPool(limit, cp.maxFree, cp.image)
		cp.pools[limit] = p
	}
	return p
}

// close releases the machine code, the pooled memories and the image. No
// instance may be running.
func (cp *compiledProgram) close(ctx context.Context) {
	if cp.forget != nil {
		cp.forget()
	}
	cp.poolsMu.Lock()
	instances := cp.instances
	cp.instances = nil
	cp.poolsMu.Unlock()
	for ip := range instances {
		ip.drop()
	}
	_ = cp.compiled.Close(ctx)
	cp.poolsMu.Lock()
	for _, p := range cp.pools {
		p.close()
	}
	cp.pools = nil
	cp.poolsMu.Unlock()
	cp.image.close()
}

// moduleCache keeps the most recently used compiled modules loaded. A
// loaded Go guest costs about 44 MB of machine code and metadata, so only a
// bounded number stay; the others are compiled again on demand, which reads
// the on-disk cache (about 70 ms for a Go guest, a few ms for C).
//
// Entries are reference counted: an evicted module is closed only once the
// last request using it has finished. Concurrent misses for one hash share a
// single load.
type moduleCache struct {
	capacity int

	mu      sync.Mutex
	entries map[string]*loadedModule
	lru     *list.List // of *loadedModule, most recent first
}

// loadedModule is one compiled module and its users.
type loadedModule struct {
	hash    string
	prog    *compiledProgram
	refs    int
	evicted bool
	elem    *list.Element

	ready chan struct{} // closed when loading ends
	err   error         // the load error, if any
}

func newModuleCache(capacity int) *moduleCache {
	return &moduleCache{capacity: capacity, entries: map[string]*loadedModule{}, lru: list.New()}
}

// put adds a freshly compiled module, replacing any entry for the hash.
func (c *moduleCache) put(ctx context.Context, hash string, prog *compiledProgram) {
	ready := make(chan struct{})
	close(ready)
	m := &loadedModule{hash: hash, prog: prog, ready: ready}
	c.mu.Lock()
	var toClose []*compiledProgram
	if old := c.entries[hash]; old != nil {
		toClose = append(toClose, c.removeLocked(old)...)
	}
	c.entries[hash] = m
	m.elem = c.lru.PushFront(m)
	toClose = append(toClose, c.evictLocked()...)
	c.mu.Unlock()
	closeAll(ctx, toClose)
}

// get returns the loaded module for hash with a reference taken, loading it
// with load on a miss. Callers must call done.
func (c *moduleCache) get(ctx context.Context, hash string, load func(context.Context) (*compiledProgram, error)) (*loadedModule, error) {
	c.mu.Lock()
	m := c.entries[hash]
	if m == nil {
		m = &loadedModule{hash: hash, ready: make(chan struct{}), refs: 1}
		c.entries[hash] = m
		c.mu.Unlock()
		return c.fill(ctx, m, load)
	}
	m.refs++
	if m.elem != nil {
		c.lru.MoveToFront(m.elem)
	}
	c.mu.Unlock()

	select {
	case <-m.ready:
	case <-ctx.Done():
		c.done(context.WithoutCancel(ctx), m)
		return nil, ctx.Err()
	}
	if m.err != nil {
		// The shared load failed and its entry is gone: the next request
		// tries again.
		c.done(ctx, m)
		return nil, m.err
	}
	return m, nil
}

// fill runs load for a new entry and publishes the result.
func (c *moduleCache) fill(ctx context.Context, m *loadedModule, load func(context.Context) (*compiledProgram, error)) (*loadedModule, error) {
	prog, err := load(ctx)
	c.mu.Lock()
	if err != nil {
		m.err = err
		m.evicted = true
		if c.entries[m.hash] == m {
			delete(c.entries, m.hash)
		}
		m.refs--
		c.mu.Unlock()
		close(m.ready)
		return nil, err
	}
	m.prog = prog
	var toClose []*compiledProgram
	if c.entries[m.hash] == m {
		m.elem = c.lru.PushFront(m)
		toClose = c.evictLocked()
	} else {
		m.evicted = true // replaced by put while loading
	}
	c.mu.Unlock()
	close(m.ready)
	closeAll(ctx, toClose)
	return m, nil
}

// done drops a reference taken by get.
func (c *moduleCache) done(ctx context.Context, m *loadedModule) {
	c.mu.Lock()
	m.refs--
	var toClose *compiledProgram
	if m.refs == 0 && m.evicted && m.prog != nil {
		toClose, m.prog = m.prog, nil
	}
	c.mu.Unlock()
	if toClose != nil {
		toClose.close(ctx)
	}
}

// evictLocked drops least recently used entries beyond capacity and returns
// the modules nobody uses any more, to be closed outside the lock.
func (c *moduleCache) evictLocked() []*compiledProgram {
	var out []*compiledProgram
	for c.lru.Len() > c.capacity {
		m := c.lru.Back().Value.(*loadedModule)
		out = append(out, c.removeLocked(m)...)
	}
	return out
}

func (c *moduleCache) removeLocked(m *loadedModule) []*compiledProgram {
	if m.elem != nil {
		c.lru.Remove(m.elem)
		m.elem = nil
	}
	if c.entries[m.hash] == m {
		delete(c.entries, m.hash)
	}
	m.evicted = true
	if m.refs == 0 && m.prog != nil {
		cm := m.prog
		m.prog = nil
		return []*compiledProgram{cm}
	}
	return nil
}

// hashes returns the hashes of the modules loaded or loading.
func (c *moduleCache) hashes() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]bool, len(c.entries))
	for h := range c.entries {
		out[h] = true
	}
	return out
}

// loaded reports how many modules are loaded, for tests and metrics.
func (c *moduleCache) loaded() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// closeAll closes every module; used when the runtime shuts down.
func (c *moduleCache) closeAll(ctx context.Context) {
	c.mu.Lock()
	var toClose []*compiledProgram
	for _, m := range c.entries {
		toClose = append(toClose, c.removeLocked(m)...)
	}
	c.mu.Unlock()
	closeAll(ctx, toClose)
}

func closeAll(ctx context.Context, ms []*compiledProgram) {
	for _, m := range ms {
		m.close(ctx)
	}
}
