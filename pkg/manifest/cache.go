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
	path    string
	mu      sync.Mutex
	entries map[string]cacheEntry
	dirty   bool
}

type cacheEntry struct {
	size  int64
	mtime int64 // UnixNano
	hash  string
	used  bool // looked up or stored during this run; others are pruned on Save
}

// OpenCache loads the cache at path. A missing file gives an empty cache;
// other read errors are returned so the caller can decide to go on without.
func OpenCache(path string) (*Cache, error) {
	c := &Cache{path: path, entries: map[string]cacheEntry{}}
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
// understand.
func (c *Cache) parse(b []byte) {
	line, rest, _ := bytes.Cut(b, []byte{'\n'})
	if string(line) != cacheHeader {
		return
	}
	c.entries = make(map[string]cacheEntry, bytes.Count(rest, []byte{'\n'}))
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		hash, line, ok1 := bytes.Cut(line, []byte{' '})
		size, line, ok2 := bytes.Cut(line, []byte{' '})
		mtime, path, ok3 := bytes.Cut(line, []byte{' '})
		if !ok1 || !ok2 || !ok3 || len(path) == 0 || !isHashHex(hash) {
			continue
		}
		n, err1 := strconv.ParseInt(string(size), 10, 64)
		m, err2 := strconv.ParseInt(string(mtime), 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		c.entries[string(path)] = cacheEntry{size: n, mtime: m, hash: string(hash)}
	}
}

// Len reports how many entries the cache holds.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Lookup returns the cached hash of f when its path, size and mtime match.
func (c *Cache) Lookup(f File) (string, bool) {
	if c == nil {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[f.OSPath]
	if !ok || e.size != f.Size || e.mtime != f.ModTime.UnixNano() {
		return "", false
	}
	if !e.used {
		e.used = true
		c.entries[f.OSPath] = e
	}
	return e.hash, true
}

// Store records the hash of f, read at readStart. Racily clean files (see
// RacyWindow) and paths with a newline are not recorded.
func (c *Cache) Store(f File, hash string, readStart time.Time) {
	if c == nil || strings.ContainsRune(f.OSPath, '\n') || readStart.Sub(f.ModTime) < RacyWindow {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[f.OSPath] = cacheEntry{size: f.Size, mtime: f.ModTime.UnixNano(), hash: hash, used: true}
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
		if !e.used {
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

// isHashHex is ValidateHash for bytes, without allocating: the cache is
// parsed on every deploy, 64 bytes per file.
func isHashHex(b []byte) bool {
	if len(b) != 64 {
		return false
	}
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
