package worker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// diskCache is what lets the on-disk compilation cache be pruned.
//
// wazero (NewCompilationCacheWithDir) writes one file per compiled module
// into CacheDir/wazero-<version>-<arch>-<os>/, named by a hash of wazero's
// own module id, a magic string and the CPU's features: nothing the host can
// compute from a module's bytes, and wazero never deletes a file. So the
// runtime records, for each module it compiles, the entry file that the
// compilation added (compilations run one at a time and only this process,
// which holds the data directory's lock, writes there): an index file
// CacheDir/index/<module hash> holding the entry's name. Using a module again
// touches its index file, which makes its modification time the module's
// last use.
//
// Prune then removes the entries of modules the host no longer needs (and
// those that have not been used for the longest time, beyond a size cap),
// entries nobody recorded (files of a compile that failed half-way, or from
// before the index existed), and the directories of other wazero versions,
// which this binary never reads. Removing an entry is always safe: a module
// whose entry is gone is compiled again when next loaded, and recorded anew.
type diskCache struct {
	root    string // Config.CacheDir
	entries string // the current wazero version's directory, "" when unknown
	index   string
}

// newDiskCache finds the entry directory wazero just created under root.
func newDiskCache(root string) (*diskCache, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	c := &diskCache{root: root, index: filepath.Join(root, "index")}
	if err := os.MkdirAll(c.index, 0o700); err != nil {
		return nil, fmt.Errorf("create wasm cache index: %w", err)
	}
	want := "wazero-" + wazeroVersion() + "-" + runtime.GOARCH + "-" + runtime.GOOS
	if st, err := os.Stat(filepath.Join(root, want)); err == nil && st.IsDir() {
		c.entries = filepath.Join(root, want)
	}
	return c, nil
}

// wazeroVersion is the version wazero names its cache directory after: the
// module version in the build information, or "dev" without one.
func wazeroVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == "github.com/tetratelabs/wazero" && d.Version != "" && d.Version != "(devel)" {
				return d.Version
			}
		}
	}
	return "dev"
}

// listEntries returns the names of the finished entry files.
func (c *diskCache) listEntries() map[string]bool {
	names := map[string]bool{}
	if c == nil || c.entries == "" {
		return names
	}
	des, _ := os.ReadDir(c.entries)
	for _, de := range des {
		if de.Type().IsRegular() && !strings.HasSuffix(de.Name(), ".tmp") {
			names[de.Name()] = true
		}
	}
	return names
}

// compiled records that compiling module hash happened with the entries
// before in place: a new entry is the module's; none means the cache had
// it, and the module's use is noted.
func (c *diskCache) compiled(hash string, before map[string]bool) {
	if c == nil || c.entries == "" || hash == "" {
		return
	}
	var added []string
	for name := range c.listEntries() {
		if !before[name] {
			added = append(added, name)
		}
	}
	idx := filepath.Join(c.index, hash)
	if len(added) == 1 {
		_ = os.WriteFile(idx, []byte(added[0]), 0o600)
		return
	}
	now := time.Now()
	_ = os.Chtimes(idx, now, now)
}

// CachePruned reports what PruneCache removed.
type CachePruned struct {
	Entries int   // compiled modules removed
	Bytes   int64 // bytes they took
	Kept    int64 // bytes of the entries left
}

// PruneCache removes from the on-disk compilation cache the compiled
// modules that keep does not want and that were not used since cutoff,
// entries of unknown origin older than cutoff, and other wazero versions'
// directories; then, while the entries left take more than maxBytes (0: no
// cap), the least recently used ones. Compilations wait meanwhile.
func (rt *Runtime) PruneCache(ctx context.Context, keep func(hash string) bool, cutoff time.Time, maxBytes int64) (CachePruned, error) {
	rt.compileMu.Lock()
	defer rt.compileMu.Unlock()
	c := rt.disk
	var res CachePruned
	if c == nil || c.entries == "" {
		return res, nil
	}
	// Directories of other wazero versions are never read again.
	if des, err := os.ReadDir(c.root); err == nil {
		for _, de := range des {
			p := filepath.Join(c.root, de.Name())
			if de.IsDir() && strings.HasPrefix(de.Name(), "wazero-") && p != c.entries {
				res.Bytes += dirSize(p)
				if err := os.RemoveAll(p); err != nil {
					return res, fmt.Errorf("prune wasm cache: %w", err)
				}
			}
		}
	}
	type entry struct {
		hash, name string
		used       time.Time
		size       int64
	}
	files := c.listEntries()
	loaded := rt.modules.hashes()
	var live []entry
	des, err := os.ReadDir(c.index)
	if err != nil {
		return res, fmt.Errorf("prune wasm cache: %w", err)
	}
	for _, de := range des {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		idx := filepath.Join(c.index, de.Name())
		info, err1 := de.Info()
		name, err2 := os.ReadFile(idx)
		if err1 != nil || err2 != nil || !files[string(name)] {
			_ = os.Remove(idx) // its entry is gone: it will be recorded again
			continue
		}
		delete(files, string(name))
		e := entry{hash: de.Name(), name: string(name), used: info.ModTime(), size: fileSize(filepath.Join(c.entries, string(name)))}
		if !keep(e.hash) && e.used.Before(cutoff) {
			res.remove(c, e.hash, e.name, e.size)
			continue
		}
		if loaded[e.hash] {
			e.used = time.Now() // for the size cap: the most recently used
		}
		live = append(live, e)
	}
	// Entries nobody recorded: kept while young, as a compilation may be
	// writing one.
	if des, err := os.ReadDir(c.entries); err == nil {
		for _, de := range des {
			info, err := de.Info()
			if err != nil || info.ModTime().After(cutoff) {
				continue
			}
			if files[de.Name()] || strings.HasSuffix(de.Name(), ".tmp") {
				res.remove(c, "", de.Name(), info.Size())
			}
		}
	}
	var total int64
	for _, e := range live {
		total += e.size
	}
	if maxBytes > 0 && total > maxBytes {
		slices.SortFunc(live, func(a, b entry) int { return a.used.Compare(b.used) })
		for _, e := range live {
			if total <= maxBytes {
				break
			}
			res.remove(c, e.hash, e.name, e.size)
			total -= e.size
		}
	}
	res.Kept = total
	return res, nil
}

// remove deletes one entry and its index file.
func (r *CachePruned) remove(c *diskCache, hash, name string, size int64) {
	err := os.Remove(filepath.Join(c.entries, name))
	if hash != "" {
		_ = os.Remove(filepath.Join(c.index, hash))
	}
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		r.Entries++
		r.Bytes += size
	}
}

func fileSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
