package host

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
)

// DefaultMaxCachedMisses is Config.MaxCachedMisses' default: names asked
// for that named no project, remembered so that asking again costs no
// query. Each entry is at most a few dozen bytes.
const DefaultMaxCachedMisses = 4096

// missCache remembers names (project ids or slugs) that named no project,
// so that a client repeating a request for an unknown name puts no load on
// the database. Strangers choose the names, so it is bounded: past its
// size an arbitrary entry makes room, and a name pushed out costs one more
// lookup when asked for again.
//
// Any change that could make a name answer — a project created, renamed or
// changed here or, on a shared database, on another replica (the change
// feed) — empties it. A lookup that read the store before such a change
// must not store its stale answer afterwards: it takes the generation
// before reading (begin) and add ignores it when the generation moved on.
type missCache struct {
	mu  sync.RWMutex
	m   map[string]struct{}
	max int
	gen uint64
}

func newMissCache(max int) *missCache {
	return &missCache{m: make(map[string]struct{}), max: max}
}

// missKeyLen is the longest name kept as is; longer ones (path routing
// takes names as long as a request target) are kept as a digest, so an
// entry never costs more than this.
const missKeyLen = 64

func missKey(name string) string {
	if len(name) <= missKeyLen {
		return name
	}
	// A digest key is longer than missKeyLen, so it never equals a name
	// kept as is.
	sum := sha256.Sum256([]byte(name))
	return "#" + hex.EncodeToString(sum[:])
}

// has reports whether name is known to name no project.
func (c *missCache) has(name string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.m) == 0 {
		return false
	}
	_, ok := c.m[missKey(name)]
	return ok
}

// begin returns the generation to pass to add for a lookup about to read
// the store.
func (c *missCache) begin() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// current reports whether nothing was forgotten since begin returned gen.
func (c *missCache) current(gen uint64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen == gen
}

// add remembers that name named no project, unless the cache was emptied
// since the lookup that found so began (gen).
func (c *missCache) add(name string, gen uint64) {
	if c.max <= 0 {
		return
	}
	k := missKey(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		// Go's map order is random: evicting the first entry met is a
		// random eviction, with no bookkeeping on the hot path.
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = struct{}{}
}

// forget empties the cache and makes the answers of lookups in flight
// unfit to store.
func (c *missCache) forget() {
	c.mu.Lock()
	c.gen++
	clear(c.m)
	c.mu.Unlock()
}

// len is how many names the cache holds, for tests.
func (c *missCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
