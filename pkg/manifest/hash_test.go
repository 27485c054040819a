package manifest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// ageFiles sets every file's mtime well outside RacyWindow so the cache may
// record them.
func ageFiles(t *testing.T, tr *Tree) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	for i := range tr.Files {
		if err := os.Chtimes(tr.Files[i].OSPath, old, old); err != nil {
			t.Fatal(err)
		}
		tr.Files[i].ModTime = old
	}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func walkHash(t *testing.T, root string, c *Cache) (*Tree, HashStats) {
	t.Helper()
	tr, err := Walk(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := HashFiles(context.Background(), tr.Files, HashOptions{Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	return tr, st
}

func TestHashFiles(t *testing.T) {
	root := t.TempDir()
	contents := map[string]string{"empty": "", "a.txt": "alpha", "big.bin": string(make([]byte, 3<<20+17))}
	for i := range 50 {
		contents[fmt.Sprintf("many/%02d.txt", i)] = fmt.Sprintf("file %d", i)
	}
	writeTree(t, root, contents)
	for _, workers := range []int{1, 2, 8} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			tr, err := Walk(root, nil)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var last HashProgress
			calls := 0
			st, err := HashFiles(context.Background(), tr.Files, HashOptions{
				Workers: workers,
				Progress: func(p HashProgress) {
					mu.Lock()
					defer mu.Unlock()
					if p.FilesDone < last.FilesDone || p.BytesDone < last.BytesDone {
						t.Errorf("progress went backwards: %+v after %+v", p, last)
					}
					last = p
					calls++
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range tr.Files {
				if want := sha(contents[f.Path[1:]]); f.Hash != want {
					t.Errorf("%s hash = %s, want %s", f.Path, f.Hash, want)
				}
			}
			if st.Files != len(contents) || st.Cached != 0 || st.BytesRead != st.Bytes {
				t.Errorf("stats = %+v", st)
			}
			if calls < 1 || last.FilesDone != len(contents) || last.BytesDone != st.Bytes || last.BytesTotal != st.Bytes {
				t.Errorf("final progress = %+v after %d calls", last, calls)
			}
		})
	}
}

func TestHashCache(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"a.txt": "alpha", "b.txt": "bravo", "c.txt": "charlie"})
	cachePath := CachePath(t.TempDir())

	tr, err := Walk(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	ageFiles(t, tr)
	c, err := OpenCache(cachePath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := HashFiles(context.Background(), tr.Files, HashOptions{Cache: c}); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}

	// Rewrite a.txt with other bytes of the same size and restore its mtime:
	// a cache hit is the only way to still get alpha's hash, which proves the
	// file was not read again.
	aged := tr.Files[0].ModTime
	if err := os.WriteFile(filepath.Join(root, "a.txt"), []byte("ALPHA"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(root, "a.txt"), aged, aged); err != nil {
		t.Fatal(err)
	}
	// Change b.txt for real: new size.
	if err := os.WriteFile(filepath.Join(root, "b.txt"), []byte("bravo!"), 0o644); err != nil {
		t.Fatal(err)
	}

	c2, err := OpenCache(cachePath)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Len() != 3 {
		t.Fatalf("reloaded cache has %d entries, want 3", c2.Len())
	}
	tr2, st := walkHash(t, root, c2)
	want := map[string]string{"/a.txt": sha("alpha"), "/b.txt": sha("bravo!"), "/c.txt": sha("charlie")}
	for _, f := range tr2.Files {
		if f.Hash != want[f.Path] {
			t.Errorf("%s = %s, want %s", f.Path, f.Hash, want[f.Path])
		}
	}
	if st.Cached != 2 || st.BytesRead != int64(len("bravo!")) {
		t.Errorf("stats = %+v, want 2 cached and only b.txt read", st)
	}
}

func TestCacheSkipsRacyFiles(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"fresh.txt": "just written"})
	c, _ := OpenCache(CachePath(t.TempDir()))
	walkHash(t, root, c)
	if c.Len() != 0 {
		t.Errorf("a file modified within RacyWindow was cached")
	}
}

func TestCachePrunesAndSurvivesDamage(t *testing.T) {
	dir := t.TempDir()
	path := CachePath(dir)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	good := sha("x")
	body := cacheHeader + "\n" +
		good + " 1 5 /gone\n" +
		"nothex 1 5 /bad\n" +
		good + " notanumber 5 /bad2\n" +
		"truncated line\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCache(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 1 {
		t.Fatalf("parsed %d entries, want 1", c.Len())
	}
	if err := c.Save(); err != nil { // /gone was not used: pruned
		t.Fatal(err)
	}
	c2, _ := OpenCache(path)
	if c2.Len() != 0 {
		t.Errorf("unused entry survived Save")
	}

	if err := os.WriteFile(path, []byte("some other format\n"+good+" 1 5 /x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c3, err := OpenCache(path)
	if err != nil || c3.Len() != 0 {
		t.Errorf("foreign header: len %d, err %v", c3.Len(), err)
	}
}

func TestHashFilesErrors(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"a": "abc", "b": "def"})
	tr, err := Walk(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("file grew since walk", func(t *testing.T) {
		files := append([]File(nil), tr.Files...)
		files[0].Size = 2
		if _, err := HashFiles(context.Background(), files, HashOptions{}); err == nil {
			t.Fatal("size change not reported")
		}
	})
	t.Run("file vanished", func(t *testing.T) {
		files := append([]File(nil), tr.Files...)
		files[1].OSPath += ".missing"
		if _, err := HashFiles(context.Background(), files, HashOptions{}); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v, want not-exist", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := HashFiles(ctx, append([]File(nil), tr.Files...), HashOptions{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

// BenchmarkHashDir measures walking and hashing a site of 1,000 files of
// 20 KiB (the shape of bench/deploy.sh's tree, scaled down), cold (no cache)
// and warm (every hash from the cache).
func BenchmarkHashDir(b *testing.B) {
	root := b.TempDir()
	body := make([]byte, 20<<10)
	for i := range 1000 {
		body[0], body[1] = byte(i), byte(i>>8)
		p := filepath.Join(root, fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%04d.bin", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			b.Fatal(err)
		}
		old := time.Now().Add(-time.Hour)
		os.Chtimes(p, old, old)
	}
	run := func(b *testing.B, cachePath string) {
		b.SetBytes(1000 * int64(len(body)))
		for b.Loop() {
			var c *Cache
			if cachePath != "" {
				c, _ = OpenCache(cachePath)
			}
			tr, err := Walk(root, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := HashFiles(context.Background(), tr.Files, HashOptions{Cache: c}); err != nil {
				b.Fatal(err)
			}
			if err := c.Save(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("cold", func(b *testing.B) { run(b, "") })
	b.Run("warm", func(b *testing.B) { run(b, CachePath(b.TempDir())) })
}

// FuzzCacheParse feeds arbitrary cache files to the parser: it must never
// panic, and every entry it keeps must carry a valid hash.
func FuzzCacheParse(f *testing.F) {
	good := sha("x")
	f.Add([]byte(cacheHeader + "\n" + good + " 1 5 /a b\n"))
	f.Add([]byte(cacheHeader + "\n" + good + " -1 x /a\n\n \n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &Cache{}
		c.parse(string(b))
		for p, e := range c.loaded {
			if ValidateHash(e.hash) != nil || p == "" {
				t.Fatalf("kept bad entry %q: %+v", p, e)
			}
		}
	})
}

// FuzzIgnorer compiles arbitrary .assetsignore text and matches paths with
// it: bad patterns must be dropped, never panic.
func FuzzIgnorer(f *testing.F) {
	f.Add("*.map\n!keep.map\n/build/\n", "build/x.js")
	f.Add("a[\n**/\\*\n", "a[b")
	f.Fuzz(func(t *testing.T, text, path string) {
		ig := NewIgnorer(strings.Split(text, "\n"))
		ig.Ignored(path, false)
		ig.Ignored(path, true)
	})
}

// TestFileReaders holds the platform's file reader and the os-based one to
// the same bytes, the same end of file and the same not-exist error.
func TestFileReaders(t *testing.T) {
	dir := t.TempDir()
	body := make([]byte, 3<<20+17)
	for i := range body {
		body[i] = byte(i * 7)
	}
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, body, 0o644); err != nil {
		t.Fatal(err)
	}
	type reader interface {
		read([]byte) (int, error)
		close()
	}
	opens := map[string]func(string) (reader, error){
		"platform": func(p string) (reader, error) { return openRead(p) },
		"os":       func(p string) (reader, error) { return openReadOS(p) },
	}
	for name, open := range opens {
		t.Run(name, func(t *testing.T) {
			r, err := open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer r.close()
			var got []byte
			buf := make([]byte, 256<<10)
			for {
				n, err := r.read(buf)
				got = append(got, buf[:n]...)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, body) {
				t.Errorf("read %d bytes, not the file's %d", len(got), len(body))
			}
			if _, err := open(p + ".missing"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("missing file: err = %v, want not-exist", err)
			}
		})
	}
}

// TestCacheStoreThenLookup: a hash stored during a run answers a later
// lookup of the same file in that run (a symlink and its target share an
// OSPath), a changed size or mtime misses, and Save keeps loaded entries
// that were used together with the new ones.
func TestCacheStoreThenLookup(t *testing.T) {
	path := CachePath(t.TempDir())
	old := time.Now().Add(-time.Hour)
	kept := File{OSPath: "/site/kept", Size: 1, ModTime: old}
	dropped := File{OSPath: "/site/dropped", Size: 2, ModTime: old}
	c, err := OpenCache(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Store(kept, sha("k"), time.Now())
	c.Store(dropped, sha("d"), time.Now())
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}

	c, err = OpenCache(path)
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := c.Lookup(kept); !ok || h != sha("k") {
		t.Fatalf("Lookup(kept) = %q, %v", h, ok)
	}
	fresh := File{OSPath: "/site/new", Size: 3, ModTime: old}
	if _, ok := c.Lookup(fresh); ok {
		t.Fatal("hit before Store")
	}
	c.Store(fresh, sha("n"), time.Now())
	if h, ok := c.Lookup(fresh); !ok || h != sha("n") {
		t.Fatalf("Lookup after Store = %q, %v", h, ok)
	}
	for _, changed := range []File{
		{OSPath: fresh.OSPath, Size: 4, ModTime: old},
		{OSPath: fresh.OSPath, Size: 3, ModTime: old.Add(time.Nanosecond)},
		{OSPath: kept.OSPath, Size: 1, ModTime: old.Add(-time.Second)},
	} {
		if _, ok := c.Lookup(changed); ok {
			t.Errorf("changed file %+v hit the cache", changed)
		}
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c, err = OpenCache(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 2 {
		t.Errorf("saved cache has %d entries, want kept and new", c.Len())
	}
	for f, want := range map[File]bool{kept: true, fresh: true, dropped: false} {
		if _, ok := c.Lookup(f); ok != want {
			t.Errorf("Lookup(%s) = %v after Save, want %v", f.OSPath, ok, want)
		}
	}
}

// BenchmarkOpenCache loads a hash cache of 10,000 entries, as every deploy
// of a 10,000-file site does before its first lookup.
func BenchmarkOpenCache(b *testing.B) {
	path := CachePath(b.TempDir())
	c, err := OpenCache(path)
	if err != nil {
		b.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	for i := range 10000 {
		f := File{OSPath: fmt.Sprintf("/home/someone/projects/site/dist/d%02d/f%05d.html", i%100, i), Size: int64(i), ModTime: old}
		c.Store(f, sha(f.OSPath), time.Now())
	}
	if err := c.Save(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		c, err := OpenCache(path)
		if err != nil {
			b.Fatal(err)
		}
		if c.Len() != 10000 {
			b.Fatalf("loaded %d entries", c.Len())
		}
	}
}

func TestOpenFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f.txt")
	want := bytes.Repeat([]byte("content "), 10000)
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenFile(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, %v; want %d", len(got), err, len(want))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(p + ".missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
