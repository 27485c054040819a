package assets

import (
	"context"
	"strings"
	"sync"
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
