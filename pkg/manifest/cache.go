package manifest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
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
	// loaded holds the entries read from the file. OpenCache fills it
	// before the cache is shared and nothing writes it afterwards, so the
	// parallel lookups of a warm deploy take no lock at all.
	loaded map[string]*cacheEntry
	mu     sync.Mutex
	added  map[string]*cacheEntry // stored during this run; they win over loaded
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
	c := &Cache{path: path, added: map[string]*cacheEntry{}}
	text, err := readString(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read hash cache: %w", err)
	}
	c.parse(text)
	return c, nil
}

// readString reads a whole file into a string without the copy that
// string(os.ReadFile(…)) makes: the cache file is read on every deploy.
func readString(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var b strings.Builder
	if fi, err := f.Stat(); err == nil {
		b.Grow(int(fi.Size()) + 1)
	}
	if _, err := io.Copy(&b, f); err != nil {
		return "", err
	}
	return b.String(), nil
}

// parse reads "hash size mtime path" lines, skipping any it does not
// understand. The file becomes one string that every key and hash points
// into, and the entries one slice, so loading 10,000 entries costs a few
// allocations rather than 30,000: it happens on every deploy.
func (c *Cache) parse(text string) {
	head, s, _ := strings.Cut(text, "\n")
	if head != cacheHeader {
		return
	}
	n := strings.Count(s, "\n") + 1
	all := make([]cacheEntry, 0, n) // never grows, so pointers into it stay valid
	c.loaded = make(map[string]*cacheEntry, n)
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
		c.loaded[path] = &all[len(all)-1]
	}
}

// Len reports how many entries the cache holds.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.loaded)
	for p := range c.added {
		if c.loaded[p] == nil {
			n++
		}
	}
	return n
}

// Lookup returns the cached hash of f when its path, size and mtime match.
func (c *Cache) Lookup(f File) (string, bool) {
	if c == nil {
		return "", false
	}
	mtime := f.ModTime.UnixNano()
	e := c.loaded[f.OSPath]
	if e == nil || e.size != f.Size || e.mtime != mtime {
		// Rare: a file looked up twice in one run (a symlink and its
		// target) after it was read and stored.
		c.mu.Lock()
		e = c.added[f.OSPath]
		c.mu.Unlock()
		if e == nil || e.size != f.Size || e.mtime != mtime {
			return "", false
		}
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
	c.added[f.OSPath] = e
}

// Save writes the entries used during this run to the cache file, dropping
// the rest so the file does not grow forever; it writes nothing when that
// would leave the file as it is. It writes a temporary file and renames it,
// so a crash leaves the old cache or the new one.
func (c *Cache) Save() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	change := len(c.added) > 0
	for _, e := range c.loaded {
		if !e.used.Load() {
			change = true
			break
		}
	}
	if !change {
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
	line := func(p string, e *cacheEntry) {
		w.WriteString(e.hash)
		w.WriteByte(' ')
		w.WriteString(strconv.FormatInt(e.size, 10))
		w.WriteByte(' ')
		w.WriteString(strconv.FormatInt(e.mtime, 10))
		w.WriteByte(' ')
		w.WriteString(p)
		w.WriteByte('\n')
	}
	for p, e := range c.loaded {
		if e.used.Load() && c.added[p] == nil {
			line(p, e)
		}
	}
	for p, e := range c.added {
		line(p, e)
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
	return nil
}

// isHashHex is ValidateHash without building an error: a damaged cache
// line is skipped, not reported. It runs for every line of the cache on
// every deploy, hence the table.
func isHashHex(s string) bool {
	if len(s) != 64 {
		return false
	}
	bad := false
	for i := 0; i < len(s); i++ {
		bad = bad || !lowerHex[s[i]]
	}
	return !bad
}

// lowerHex marks the bytes of lowercase hexadecimal.
var lowerHex = func() (t [256]bool) {
	for _, c := range "0123456789abcdef" {
		t[c] = true
	}
	return t
}()
