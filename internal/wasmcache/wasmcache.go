// Package wasmcache keeps, for tests, the machine code wazero compiles from
// wasm modules, across test binaries and runs. Compiling a Go guest (a few
// MiB of wasm) or the JS engine takes seconds of CPU, and without it every
// test binary, every test host and every cfhost process started by a test
// compiles the same modules again from an empty data directory: most of the
// CPU the test suite spends.
//
// wazero's on-disk cache (wazero.NewCompilationCacheWithDir) is one file per
// compiled module in DIR/wazero-<version>-<arch>-<os>/, named by a hash of
// the module's bytes, the compile options that change the code, wazero's
// version and the CPU's features, written to a temporary name and renamed,
// and never changed afterwards. So a finished file is safe to share: Seed
// hard-links (or copies) the files this machine has kept into a cache
// directory before a runtime opens it, and Keep links the files a test
// compiled back into the store. The code under test sees a data directory
// that had compiled those modules before; a test that is about the cache
// itself uses a directory that was not seeded.
//
// The store is $CFDEPLOY_TEST_WASM_CACHE, else cfdeploy/wasm-test-cache under
// os.UserCacheDir (as Go's build cache lives there), with a directory per
// wazero version that go.mod requires; "off" turns it off. It holds at most
// 2 GiB: Keep removes the least recently used files beyond.
package wasmcache

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// maxStore bounds the store's size.
const maxStore = 2 << 30

// store returns the directory of the files kept for the wazero version
// this module requires, or "" when there is none. wazero's own directory
// names are not enough: a test binary carries no module versions in its
// build information, so wazero names its directory and keys its files
// "dev" whatever its version, and the files of one version must never
// reach another.
func store() string {
	dir := os.Getenv("CFDEPLOY_TEST_WASM_CACHE")
	if dir == "off" {
		return ""
	}
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(base, "cfdeploy", "wasm-test-cache")
	}
	v := wazeroVersion()
	if v == "" {
		return ""
	}
	return filepath.Join(dir, v)
}

// wazeroVersion reads the version of wazero that the go.mod above the
// working directory requires: "" when there is no such go.mod, when it
// replaces wazero (its files could change under the same version), or when
// a go.work might choose another.
func wazeroVersion() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			return requiredVersion(string(b), "github.com/tetratelabs/wazero")
		}
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// requiredVersion finds module's version in the text of a go.mod, or ""
// when it is missing or replaced.
func requiredVersion(gomod, module string) string {
	version := ""
	for line := range strings.Lines(gomod) {
		f := strings.Fields(line)
		if slices.Contains(f, module) && (slices.Contains(f, "=>") || f[0] == "replace") {
			return ""
		}
		if f = slices.DeleteFunc(f, func(s string) bool { return s == "require" }); len(f) >= 2 && f[0] == module {
			version = f[1]
		}
	}
	if !strings.HasPrefix(version, "v") {
		return ""
	}
	return version
}

// cacheDirs lists the directories wazero keeps its files in under root:
// one per wazero version name (wazero-<version>-<arch>-<os>; in a test
// binary the version reads "dev").
func cacheDirs(root string) []string {
	des, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var names []string
	for _, de := range des {
		if de.IsDir() && strings.HasPrefix(de.Name(), "wazero-") {
			names = append(names, de.Name())
		}
	}
	return names
}

// Seed puts the kept compiled modules into each cache directory (a
// runtime's CacheDir), creating it. Errors are ignored: a module that is not
// there is compiled.
func Seed(dirs ...string) {
	src := store()
	if src == "" {
		return
	}
	now := time.Now()
	for _, name := range cacheDirs(src) {
		des, err := os.ReadDir(filepath.Join(src, name))
		if err != nil {
			continue
		}
		for _, dir := range dirs {
			dst := filepath.Join(dir, name)
			if err := os.MkdirAll(dst, 0o755); err != nil {
				continue
			}
			for _, de := range des {
				if !finished(de) {
					continue
				}
				from := filepath.Join(src, name, de.Name())
				if link(from, filepath.Join(dst, de.Name())) == nil {
					_ = os.Chtimes(from, now, now) // used: the last to go
				}
			}
		}
	}
}

// Keep adds the modules compiled into each cache directory to the store,
// then trims the store to its bound.
func Keep(dirs ...string) {
	root := store()
	if root == "" {
		return
	}
	for _, dir := range dirs {
		for _, name := range cacheDirs(dir) {
			des, err := os.ReadDir(filepath.Join(dir, name))
			if err != nil {
				continue
			}
			dst := filepath.Join(root, name)
			for _, de := range des {
				if !finished(de) {
					continue
				}
				if err := os.MkdirAll(dst, 0o755); err != nil {
					return
				}
				_ = link(filepath.Join(dir, name, de.Name()), filepath.Join(dst, de.Name()))
			}
		}
	}
	trim(root, maxStore)
}

// finished reports whether de is a complete entry, not one wazero is
// still writing (those end in .tmp until renamed).
func finished(de fs.DirEntry) bool {
	return de.Type().IsRegular() && !strings.HasSuffix(de.Name(), ".tmp")
}

// link makes to the same file as from, or a copy of it across file
// systems. An existing to is left alone (it holds the same bytes).
func link(from, to string) error {
	err := os.Link(from, to)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return nil
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(to), filepath.Base(to)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, in)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), to)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

// trim removes the least recently used files under root while they take
// more than limit bytes.
func trim(root string, limit int64) {
	type file struct {
		path string
		used time.Time
		size int64
	}
	var files []file
	var total int64
	_ = filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() {
			return nil
		}
		if info, err := de.Info(); err == nil {
			files = append(files, file{path, info.ModTime(), info.Size()})
			total += info.Size()
		}
		return nil
	})
	if total <= limit {
		return
	}
	slices.SortFunc(files, func(a, b file) int { return a.used.Compare(b.used) })
	for _, f := range files {
		if total <= limit {
			return
		}
		if os.Remove(f.path) == nil {
			total -= f.size
		}
	}
}
