package assets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	blobs := newMemBlobs()
	var hashes []string
	for i := 0; i < 4; i++ {
		b := []byte(strings.Repeat(string(rune('a'+i)), 100))
		h := sha(b)
		blobs.put(h, "", b)
		hashes = append(hashes, h)
	}
	// Room for about two blobs with their entry overhead.
	c := NewCache(blobs, 2*(100+entryOverhead)+50)
	ctx := context.Background()
	get := func(h string) {
		t.Helper()
		r, err := c.get(ctx, h, encIdentity)
		if err != nil || len(r.data) != 100 {
			t.Fatalf("get: %v", err)
		}
	}
	get(hashes[0])
	get(hashes[1])
	get(hashes[0]) // 0 is now the most recent
	get(hashes[2]) // evicts 1
	if c.Used() > c.budget {
		t.Errorf("used %d over budget %d", c.Used(), c.budget)
	}
	before := blobs.opens.Load()
	get(hashes[0])
	get(hashes[2])
	if n := blobs.opens.Load() - before; n != 0 {
		t.Errorf("recently used blobs were reloaded %d times", n)
	}
	get(hashes[1])
	if n := blobs.opens.Load() - before; n != 1 {
		t.Errorf("the evicted blob was read %d times, want 1", n)
	}
}

func TestCacheLoadsOnceUnderConcurrency(t *testing.T) {
	blobs := newMemBlobs()
	b := []byte("shared")
	h := sha(b)
	blobs.put(h, "", b)
	blobs.gate = make(chan struct{})
	c := NewCache(blobs, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.get(context.Background(), h, encIdentity)
			if err == nil && string(r.data) != "shared" {
				err = context.Canceled
			}
			errs <- err
		}()
	}
	// Let the single loader through once every goroutine is waiting.
	for blobs.opens.Load() == 0 {
	}
	close(blobs.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := blobs.opens.Load(); n != 1 {
		t.Errorf("blob opened %d times, want 1", n)
	}
}

func TestCacheMissingVariantsAreRemembered(t *testing.T) {
	blobs := newMemBlobs()
	b := []byte("body")
	h := sha(b)
	blobs.put(h, "", b)
	c := NewCache(blobs, 0)
	for i := 0; i < 3; i++ {
		reps, err := c.reps(context.Background(), h)
		if err != nil {
			t.Fatal(err)
		}
		if !reps[encGzip].missing || !reps[encBr].missing || reps[encIdentity].missing {
			t.Fatalf("reps = %+v", reps)
		}
	}
	if n := blobs.opens.Load(); n != 3 {
		t.Errorf("%d store reads for three lookups, want 3 (one per representation)", n)
	}
	if _, err := c.reps(context.Background(), sha([]byte("absent"))); err == nil {
		t.Errorf("an absent identity blob gave no error")
	}
}

// A representation of FileBody bytes and more lives in a file (on Linux),
// in memory or in the cache's directory. Evicting it while a response sends
// from it keeps the file open until that response lets go; then it is
// closed, and the next request loads it again.
func TestCacheFileOutlivesEvictionWhileHeld(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testCacheFileOutlivesEviction(t, "") })
	t.Run("directory", func(t *testing.T) { testCacheFileOutlivesEviction(t, t.TempDir()) })
}

func testCacheFileOutlivesEviction(t *testing.T, dir string) {
	blobs := newMemBlobs()
	b := []byte(strings.Repeat("x", FileBody))
	h := sha(b)
	blobs.put(h, "", b)
	c := NewCache(blobs, 0)
	if dir != "" {
		if err := c.KeepFilesIn(dir); err != nil {
			t.Skip(err)
		}
	}
	ctx := context.Background()
	r, err := c.get(ctx, h, encIdentity)
	if err != nil {
		t.Fatal(err)
	}
	if r.file == nil {
		t.Skip("no in-memory files on this platform")
	}
	if r.data != nil || c.Used() != int64(len(b))+entryOverhead {
		t.Fatalf("a file-backed rep also holds %d bytes; cache uses %d", len(r.data), c.Used())
	}
	held, err := c.hold(ctx, h, encIdentity, r)
	if err != nil || held != r {
		t.Fatalf("hold = %p, %v; want the cached rep", held, err)
	}
	c.Invalidate(h) // evicts
	got := make([]byte, len(b))
	if _, err := r.file.f.ReadAt(got, 0); err != nil || string(got) != string(b) {
		t.Fatalf("the evicted file under a response: %v", err)
	}
	r.file.release()
	if _, err := r.file.f.ReadAt(got, 0); err == nil {
		t.Fatal("the file stayed open after its last release")
	}
	if n := c.files.Load(); n != 0 {
		t.Errorf("%d files counted open, want 0", n)
	}
	// A response that looked the rep up before the eviction gets a fresh load.
	again, err := c.hold(ctx, h, encIdentity, r)
	if err != nil || again == r || again.file == nil {
		t.Fatalf("hold of a closed rep = %+v, %v", again, err)
	}
	again.file.release()
	if n := blobs.opens.Load(); n != 2 {
		t.Errorf("blob opened %d times, want 2", n)
	}
}

// KeepFilesIn puts the files where it is told, unnamed: nothing appears in
// the directory; without it, or when the directory's filesystem is short
// of space, they are memfds. A directory that cannot hold such files is
// refused and changes nothing.
func TestCacheFilesLiveWhereTold(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("files for cached bodies are Linux's")
	}
	b := []byte(strings.Repeat("y", FileBody+1))
	h := sha(b)
	blobs := newMemBlobs()
	blobs.put(h, "", b)
	fileOf := func(c *Cache) string {
		t.Helper()
		r, err := c.get(context.Background(), h, encIdentity)
		if err != nil || r.file == nil {
			t.Fatalf("get = %+v, %v; want a file-held rep", r, err)
		}
		link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", r.file.f.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(b))
		if _, err := r.file.f.ReadAt(got, 0); err != nil || string(got) != string(b) {
			t.Fatalf("the file holds other bytes (%v)", err)
		}
		return link
	}

	dir := t.TempDir()
	c := NewCache(blobs, 0)
	if err := c.KeepFilesIn(dir); err != nil {
		t.Skipf("%s cannot hold unnamed files: %v", dir, err)
	}
	if !roomFor(dir, int64(len(b)), DiskReserve) {
		t.Skipf("%s's filesystem has less than %d bytes or a twentieth free", dir, DiskReserve)
	}
	if link := fileOf(c); !strings.HasPrefix(link, dir+"/") {
		t.Errorf("with KeepFilesIn(%s) the body is in %s", dir, link)
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Errorf("the directory lists %d names, want none", len(names))
	}
	if link := fileOf(NewCache(blobs, 0)); !strings.HasPrefix(link, "/memfd:") {
		t.Errorf("without KeepFilesIn the body is in %s, want a memfd", link)
	}

	// A filesystem short of space gets no more files: the database needs
	// it for deploys.
	c = NewCache(blobs, 0)
	if err := c.KeepFilesIn(dir); err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	c.diskReserve = int64(st.Bavail)*int64(st.Bsize) - int64(len(b)) + 1
	if link := fileOf(c); !strings.HasPrefix(link, "/memfd:") {
		t.Errorf("with the disk's reserve reached the body is in %s, want a memfd", link)
	}

	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c = NewCache(blobs, 0)
	if err := c.KeepFilesIn(notDir); err == nil {
		t.Errorf("KeepFilesIn of a plain file gave no error")
	}
	if link := fileOf(c); !strings.HasPrefix(link, "/memfd:") {
		t.Errorf("after a refused KeepFilesIn the body is in %s, want a memfd", link)
	}
}
