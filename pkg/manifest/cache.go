package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CacheDirName is the directory, under the project directory, that holds
// cfdeploy's local state. Walk never uploads it.
const CacheDirName = ".cfdeploy"

// cacheHeader starts every cache file; a file with another header is
// treated as empty, so a format change never produces wrong hashes.
const cacheHeader = "cfdeploy hash cache v1"

// RacyWindow is how recent a file's modification time may be before its hash
// is not cached. A file written within this window of being read could be
// rewritten again with the same size and the same (coarse) mtime, and a cache
// entry for it could then hide a change; git calls this "racily clean".
const RacyWindow = 2 * time.Second

// CachePath returns the hash cache file for a project directory.
func CachePath(projectDir string) string {
	return filepath.Join(projectDir, CacheDirName, "cache")
}

// Cache remembers the SHA-256 of files keyed by path, size and modification
// time, so an unchanged file is never read again on the next deploy. It is
// safe for concurrent use. A missing or damaged cache file only costs
// re-hashing; it never fails a deploy.
type Cache struct {
	path string
	// mu guards the map; lookups, the common case, share it. Entries are
	// never changed in place except for their used flag.
	mu      sync.RWMutex
	entries map[string]*cacheEntry
	dirty   bool
}

type cacheEntry struct {
	size  int64
	mtime int64 // UnixNano
	hash  string
	used  atomic.Bool // looked up or stored during this run; others are pruned on Save
}

// OpenCache loads the cache at path. A missing file gives an empty cache;
// other read errors are returned so the caller can decide to go on without.
func OpenCache(path string) (*Cache, error) {
	c := &Cache{path: path, entries: map[string]*cacheEntry{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read hash cache: %w", err)
	}
	c.parse(b)
	return c, nil
}

// parse reads "hash size mtime path" lines, skipping any it does not
// understand. The file becomes one string that every key and hash points
// into, and the entries one slice, so loading 10,000 entries costs a few
// allocations rather than 30,000: it happens on every deploy.
func (c *Cache) parse(b []byte) {
	head, rest, _ := bytes.Cut(b, []byte{'\n'})
	if string(head) != cacheHeader {
		return
	}
	n := bytes.Count(rest, []byte{'\n'}) + 1
	all := make([]cacheEntry, 0, n) // never grows, so pointers into it stay valid
	c.entries = make(map[string]*cacheEntry, n)
	s := string(rest)
	for len(s) > 0 {
		var line string
		line, s, _ = strings.Cut(s, "\n")
		hash, line, ok1 := strings.Cut(line, " ")
		size, line, ok2 := strings.Cut(line, " ")
		mtime, path, ok3 := strings.Cut(line, " ")
		if !ok1 || !ok2 || !ok3 || len(path) == 0 || !isHashHex(hash) {
			continue
		}
		n, err1 := strconv.ParseInt(size, 10, 64)
		m, err2 := strconv.ParseInt(mtime, 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		all = append(all, cacheEntry{size: n, mtime: m, hash: hash})
		c.entries[path] = &all[len(all)-1]
	}
}

// Len reports how many entries the cache holds.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// Lookup returns the cached hash of f when its path, size and mtime match.
// Lookups run in parallel with each other.
func (c *Cache) Lookup(f File) (string, bool) {
	if c == nil {
		return "", false
	}
	c.mu.RLock()
	e := c.entries[f.OSPath]
	c.mu.RUnlock()
	if e == nil || e.size != f.Size || e.mtime != f.ModTime.UnixNano() {
		return "", false
	}
	if !e.used.Load() {
		e.used.Store(true)
	}
	return e.hash, true
}

// Store records the hash of f, read at readStart. Racily clean files (see
// RacyWindow) and paths with a newline are not recorded.
func (c *Cache) Store(f File, hash string, readStart time.Time) {
	if c == nil || strings.ContainsRune(f.OSPath, '\n') || readStart.Sub(f.ModTime) < RacyWindow {
		return
	}
	e := &cacheEntry{size: f.Size, mtime: f.ModTime.UnixNano(), hash: hash}
	e.used.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[f.OSPath] = e
	c.dirty = true
}

// Save writes the entries used during this run to the cache file, dropping
// the rest so the file does not grow forever. It writes a temporary file and
// renames it, so a crash leaves the old cache or the new one.
func (c *Cache) Save() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	pruned := false
	for k, e := range c.entries {
		if !e.used.Load() {
			delete(c.entries, k)
			pruned = true
		}
	}
	if !c.dirty && !pruned {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return fmt.Errorf("create cache directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".cache-*")
	if err != nil {
		return fmt.Errorf("write hash cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	w := bufio.NewWriterSize(tmp, 64<<10)
	w.WriteString(cacheHeader + "\n")
	for p, e := range c.entries {
		w.WriteString(e.hash)
		w.WriteByte(' ')
		w.WriteString(strconv.FormatInt(e.size, 10))
		w.WriteByte(' ')
		w.WriteString(strconv.FormatInt(e.mtime, 10))
		w.WriteByte(' ')
		w.WriteString(p)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("write hash cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write hash cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fmt.Errorf("write hash cache: %w", err)
	}
	c.dirty = false
	return nil
}

// isHashHex is ValidateHash without building an error: a damaged cache
// line is skipped, not reported.
func isHashHex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
