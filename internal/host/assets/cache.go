package assets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"sync"
	"sync/atomic"
)

// BlobSource is where blob bytes live; the host implements it over its
// store (SQLite, chunked). encoding is "" (identity), "gzip" or "br". A
// missing variant is reported as an error wrapping fs.ErrNotExist. The
// returned ReaderAt must serve concurrent ReadAt calls and needs no closing;
// the cache keeps small blobs in memory and calls OpenBlob again for every
// request of a blob larger than LargeBlob.
type BlobSource interface {
	OpenBlob(ctx context.Context, hash, encoding string) (io.ReaderAt, int64, error)
}

// Defaults of NewCache.
const (
	// DefaultCacheBudget bounds the bytes of blobs held in memory.
	DefaultCacheBudget = 256 << 20
	// LargeBlob is the size above which a representation is streamed from
	// the BlobSource on every request instead of being held in memory (a
	// quarter of the budget when that is smaller). Hero images and bundles
	// of a few MiB are among the most requested files of a site, and
	// streaming them from SQLite costs a query per chunk; 4 MiB keeps
	// them in memory while 64 of them still fit the default budget.
	LargeBlob = 4 << 20
	// entryOverhead is what a cache entry costs beyond its bytes; it bounds
	// the number of entries for blobs that are large or absent.
	entryOverhead = 256
)

// encoding indexes the representations of a blob.
type encoding uint8

const (
	encIdentity encoding = iota
	encGzip
	encBr
	numEncodings
)

var encodingNames = [numEncodings]string{"", "gzip", "br"}

// rep is one representation of a blob as the cache knows it. A rep is
// immutable once published, so requests read it without locking.
type rep struct {
	missing  bool      // the variant does not exist
	size     int64     // bytes
	data     []byte    // the bytes, unless streamed or in file
	file     *bodyFile // the bytes, from FileBody up where the platform allows
	streamed bool      // too large to hold: read from the BlobSource per request
	length   []string
}

// cost is what r counts against the cache's budget.
func (r *rep) cost() int64 {
	if r.file != nil {
		return r.size
	}
	return int64(len(r.data))
}

// Cache holds blob bytes in memory in front of a BlobSource: a byte-bounded
// LRU of whole small representations, plus what is known about large and
// absent ones, so that serving a hot asset takes no store query. One Cache
// serves every deployment of a host; blobs are content-addressed, so
// entries never go stale, except when a compressed variant is added
// (Invalidate).
type Cache struct {
	src    BlobSource
	budget int64
	large  int64 // representations above this size are streamed
	// files counts the files open (cached or still sending), maxFiles
	// bounds it. fileDir is where they are made (KeepFilesIn); empty: in
	// memory.
	files    atomic.Int64
	maxFiles int64
	fileDir  string
	// diskReserve is the free space the files leave in fileDir's
	// filesystem (DiskReserve; tests change it).
	diskReserve int64

	mu       sync.Mutex
	entries  map[string]*cacheEntry
	inflight map[flightKey]*flight
	used     int64
	// hits and misses count representations found in memory and loaded
	// from the store; they change under mu, which get holds anyway.
	hits, misses int64
	head         *cacheEntry // most recently used
	tail         *cacheEntry
}

type cacheEntry struct {
	hash       string
	reps       [numEncodings]*rep
	cost       int64
	prev, next *cacheEntry
}

type flightKey struct {
	hash string
	enc  encoding
}

// flight is one load in progress; concurrent requests for the same
// representation wait for it instead of loading the blob again.
type flight struct {
	done  chan struct{}
	rep   *rep
	err   error
	stale bool // invalidated while loading: do not store the result
}

// NewCache returns a cache over blobs holding at most budgetBytes of blob
// data in memory; budgetBytes <= 0 means DefaultCacheBudget.
func NewCache(blobs BlobSource, budgetBytes int64) *Cache {
	if budgetBytes <= 0 {
		budgetBytes = DefaultCacheBudget
	}
	return &Cache{
		src:         blobs,
		budget:      budgetBytes,
		large:       min(LargeBlob, budgetBytes/4),
		maxFiles:    fileLimit(),
		diskReserve: DiskReserve,
		entries:     map[string]*cacheEntry{},
		inflight:    map[flightKey]*flight{},
	}
}

// KeepFilesIn makes the cache keep the representations it holds in files
// (FileBody bytes and more) in unnamed files in dir instead of in memory.
// Call it before the cache is used. The kernel sends such a file's bytes
// from the page cache, where filesystems with large folios (ext4, xfs)
// answer a lookup with up to a whole write's worth of pages; a memfd's
// pages are looked up one by one, which profiling put at a fifth of what
// sending a 2 MiB body cost (a tenth for 100 KiB). The price: the bytes are
// written back to dir's disk (at most the cache's budget at a time, never
// into the last DiskReserve) and read from it again if the kernel drops
// them under memory pressure. It
// returns an error and changes nothing when dir cannot hold unnamed files
// (tmpfs without O_TMPFILE, another platform).
func (c *Cache) KeepFilesIn(dir string) error {
	f, err := openUnnamed(dir)
	if err != nil {
		return err
	}
	f.Close()
	c.fileDir = dir
	return nil
}

// Invalidate forgets what the cache knows about hash. The host calls it
// when background compression adds a gzip or br variant of the blob, so
// that the next request sees the variant.
func (c *Cache) Invalidate(hash string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[hash]; e != nil {
		c.remove(e)
	}
	for enc := range numEncodings {
		if f := c.inflight[flightKey{hash, enc}]; f != nil {
			f.stale = true
		}
	}
}

// Used reports the bytes the cache currently accounts for.
func (c *Cache) Used() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// Stats reports how many representations were served from memory (hits)
// and loaded from the blob source (misses).
func (c *Cache) Stats() (hits, misses int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

// reps returns every representation of hash, loading or probing the ones
// not yet known. The identity representation's error is returned; a
// variant that fails to load for another reason than not existing is
// reported as missing for this call and not remembered.
func (c *Cache) reps(ctx context.Context, hash string) ([numEncodings]*rep, error) {
	c.mu.Lock()
	if e := c.entries[hash]; e != nil && e.reps[0] != nil && e.reps[1] != nil && e.reps[2] != nil {
		c.touch(e)
		reps := e.reps
		c.mu.Unlock()
		return reps, nil
	}
	c.mu.Unlock()
	var reps [numEncodings]*rep
	for enc := range numEncodings {
		r, err := c.get(ctx, hash, enc)
		if err != nil {
			if enc == encIdentity {
				return reps, err
			}
			r = &rep{missing: true}
		}
		reps[enc] = r
	}
	return reps, nil
}

// get returns one representation, loading it at most once at a time.
func (c *Cache) get(ctx context.Context, hash string, enc encoding) (*rep, error) {
	key := flightKey{hash, enc}
	c.mu.Lock()
	if e := c.entries[hash]; e != nil && e.reps[enc] != nil {
		c.hits++
		c.touch(e)
		r := e.reps[enc]
		c.mu.Unlock()
		return r, nil
	}
	if f := c.inflight[key]; f != nil {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.rep, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c.misses++
	f := &flight{done: make(chan struct{})}
	c.inflight[key] = f
	c.mu.Unlock()

	// The load is shared, so one client going away must not fail the others.
	r, err := c.load(context.WithoutCancel(ctx), hash, enc)

	c.mu.Lock()
	delete(c.inflight, key)
	if err == nil && !f.stale {
		c.store(hash, enc, r)
	} else if err == nil && r.file != nil {
		// Not cached: no response may send from it (hold loads it again).
		r.file.release()
	}
	c.mu.Unlock()
	f.rep, f.err = r, err
	close(f.done)
	return r, err
}

func (c *Cache) load(ctx context.Context, hash string, enc encoding) (*rep, error) {
	ra, size, err := c.src.OpenBlob(ctx, hash, encodingNames[enc])
	switch {
	case errors.Is(err, fs.ErrNotExist) && enc != encIdentity:
		return &rep{missing: true}, nil
	case err != nil:
		return nil, fmt.Errorf("open blob %s %q: %w", hash, encodingNames[enc], err)
	case size < 0:
		return nil, fmt.Errorf("open blob %s %q: negative size %d", hash, encodingNames[enc], size)
	}
	r := &rep{size: size, length: one(strconv.FormatInt(size, 10))}
	r.streamed = size > c.large
	if !r.streamed && size >= FileBody {
		if r.file, err = c.loadFile(ra, size); err != nil {
			return nil, fmt.Errorf("read blob %s %q: %w", hash, encodingNames[enc], err)
		}
	}
	if !r.streamed && r.file == nil {
		r.data = make([]byte, size)
		if n, err := ra.ReadAt(r.data, 0); n < len(r.data) {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("read blob %s %q: %w", hash, encodingNames[enc], err)
		}
	}
	return r, nil
}

// open returns a reader over a large representation that the cache does
// not hold in memory.
func (c *Cache) open(ctx context.Context, hash string, enc encoding) (io.ReaderAt, error) {
	ra, _, err := c.src.OpenBlob(ctx, hash, encodingNames[enc])
	if err != nil {
		return nil, fmt.Errorf("open blob %s %q: %w", hash, encodingNames[enc], err)
	}
	return ra, nil
}

// store publishes r; c.mu is held.
func (c *Cache) store(hash string, enc encoding, r *rep) {
	e := c.entries[hash]
	if e == nil {
		e = &cacheEntry{hash: hash}
		c.entries[hash] = e
		c.pushFront(e)
		e.cost = entryOverhead
		c.used += entryOverhead
	} else {
		c.touch(e)
	}
	e.reps[enc] = r
	cost := r.cost()
	e.cost += cost
	c.used += cost
	for c.used > c.budget && c.tail != nil && c.tail != e {
		c.remove(c.tail)
	}
}

func (c *Cache) remove(e *cacheEntry) {
	delete(c.entries, e.hash)
	c.used -= e.cost
	c.unlink(e)
	for _, r := range e.reps {
		if r != nil && r.file != nil {
			r.file.release()
		}
	}
}

// hold makes r, a representation of hash looked up earlier, safe to send
// from: it takes a reference on r's file for the caller to release. When
// the file was evicted and closed since the lookup, it loads the
// representation again.
func (c *Cache) hold(ctx context.Context, hash string, enc encoding, r *rep) (*rep, error) {
	for range 3 {
		if r.file == nil || r.file.acquire() {
			return r, nil
		}
		next, err := c.get(ctx, hash, enc)
		if err != nil {
			return nil, err
		}
		if next.missing || next.streamed || next.size != r.size {
			return nil, fmt.Errorf("blob %s %q changed while being served", hash, encodingNames[enc])
		}
		r = next
	}
	return nil, fmt.Errorf("blob %s %q: evicted on every load", hash, encodingNames[enc])
}

func (c *Cache) touch(e *cacheEntry) {
	if c.head == e {
		return
	}
	c.unlink(e)
	c.pushFront(e)
}

func (c *Cache) pushFront(e *cacheEntry) {
	e.prev, e.next = nil, c.head
	if c.head != nil {
		c.head.prev = e
	}
	c.head = e
	if c.tail == nil {
		c.tail = e
	}
}

func (c *Cache) unlink(e *cacheEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if c.head == e {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else if c.tail == e {
		c.tail = e.prev
	}
	e.prev, e.next = nil, nil
}
