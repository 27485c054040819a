package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestBatchedWrites puts more blobs in one call than one statement carries
// (maxBatch), with a multi-chunk blob among them and one the project
// already has, then puts the same set again: every blob reads back whole,
// the session counts each hash once, and a repeat changes nothing.
func TestBatchedWrites(t *testing.T) {
	t.Parallel()
	eachBackend(t, testBatchedWrites)
}

func testBatchedWrites(t *testing.T, s Store) {
	ctx := context.Background()
	p := mustProject(t, s, "p")
	known := blob("already here")
	if err := s.PutProjectBlobs(ctx, p.ID, []BlobInput{known}); err != nil {
		t.Fatal(err)
	}
	var blobs []BlobInput
	var missing []SessionHash
	var hashes []string
	for i := range 2*maxBatch + 7 {
		b := blob(fmt.Sprintf("file %d", i))
		if i == 3 {
			b = blob(string(bytes.Repeat([]byte("large "), chunkSize/2)))
		}
		blobs = append(blobs, b)
		missing = append(missing, SessionHash{Hash: b.Hash, Size: int64(len(b.Data))})
		hashes = append(hashes, b.Hash)
	}
	now := time.Now()
	if err := s.CreateSession(ctx, Session{ID: "s", ProjectID: p.ID, Manifest: []byte("{}"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, missing); err != nil {
		t.Fatal(err)
	}
	got, err := s.SessionHashes(ctx, "s", append(hashes, known.Hash))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(hashes) {
		t.Fatalf("session knows %d hashes, want %d", len(got), len(hashes))
	}
	if _, ok := got[known.Hash]; ok {
		t.Fatalf("session lists a hash it did not ask for")
	}
	tests := []struct {
		name  string
		blobs []BlobInput
		want  int
	}{
		{"first half", blobs[:maxBatch], len(blobs) - maxBatch},
		{"all, with a known blob", append(blobs[:len(blobs):len(blobs)], known), 0},
		{"all again", blobs, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.PutBlobs(ctx, "s", tc.blobs)
			if err != nil {
				t.Fatal(err)
			}
			if res.Remaining != tc.want {
				t.Fatalf("remaining %d, want %d", res.Remaining, tc.want)
			}
		})
	}
	for _, b := range blobs {
		if got := readAll(t, s, b.Hash, ""); !bytes.Equal(got, b.Data) {
			t.Fatalf("blob %s reads back %d bytes, want %d", b.Hash, len(got), len(b.Data))
		}
	}
	miss, err := s.MissingHashes(ctx, p.ID, append(hashes, known.Hash))
	if err != nil {
		t.Fatal(err)
	}
	if len(miss) != 0 {
		t.Fatalf("%d hashes still missing for the project", len(miss))
	}
	var chunks int
	if err := rowCount(s, "SELECT count(*) FROM blob_chunks", &chunks); err != nil {
		t.Fatal(err)
	}
	if want := len(blobs) + 1 + 2; chunks != want { // the large blob has three chunks
		t.Fatalf("%d chunks stored, want %d", chunks, want)
	}
}

// TestCollectedBlobIsMissingAgain checks that garbage collection forgets a
// collected blob for the project that uploaded it (project_blobs has no
// cascade), so the next session asks for it again, and that its chunks go
// with it.
func TestCollectedBlobIsMissingAgain(t *testing.T) {
	t.Parallel()
	eachBackend(t, testCollectedBlobIsMissingAgain)
}

func testCollectedBlobIsMissingAgain(t *testing.T, s Store) {
	ctx := context.Background()
	p := mustProject(t, s, "p")
	orphan, live := blob("uploaded, never deployed"), blob("deployed")
	if err := s.PutProjectBlobs(ctx, p.ID, []BlobInput{orphan}); err != nil {
		t.Fatal(err)
	}
	deployOne(t, s, p.ID, map[string]string{"/live.txt": "deployed"})
	res, err := s.CollectGarbage(ctx, time.Now().Add(time.Second))
	if err != nil || res.Blobs != 1 {
		t.Fatalf("gc: %+v %v", res, err)
	}
	miss, err := s.MissingHashes(ctx, p.ID, []string{orphan.Hash, live.Hash})
	if err != nil {
		t.Fatal(err)
	}
	if !miss[orphan.Hash] || miss[live.Hash] {
		t.Fatalf("missing after gc: %v; want only the collected blob", miss)
	}
	var chunks int // the live blob's, one chunk
	if err := rowCount(s, "SELECT count(*) FROM blob_chunks", &chunks); err != nil || chunks != 1 {
		t.Fatalf("%d chunks left after collecting one of two one-chunk blobs (%v)", chunks, err)
	}
	// Uploading it again works and it reads back.
	if err := s.PutProjectBlobs(ctx, p.ID, []BlobInput{orphan}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, orphan.Hash, ""); !bytes.Equal(got, orphan.Data) {
		t.Fatalf("re-uploaded blob reads %q", got)
	}
}

// TestCollectedChunksAndReuse: collecting a blob removes the chunks of all its
// representations and no others, and a reader opened before the collection
// fails rather than return the bytes of a later blob that was given the
// freed chunk ids.
func TestCollectedChunksAndReuse(t *testing.T) {
	t.Parallel()
	eachBackend(t, testCollectedChunksAndReuse)
}

func testCollectedChunksAndReuse(t *testing.T, s Store) {
	ctx := context.Background()
	p := mustProject(t, s, "p")
	deployOne(t, s, p.ID, map[string]string{"/live.txt": "deployed"})
	big := blob(strings.Repeat("orphan bytes, ", 2*chunkSize/14+5))             // three chunks
	if err := s.PutProjectBlobs(ctx, p.ID, []BlobInput{big, big}); err != nil { // listed twice: stored once
		t.Fatal(err)
	}
	if err := s.PutVariants(ctx, big.Hash, []Variant{{Encoding: "gzip", Data: []byte("gz")}, {Encoding: "br", Data: []byte("br")}}); err != nil {
		t.Fatal(err)
	}
	var chunks int
	rowCount(s, "SELECT count(*) FROM blob_chunks", &chunks)
	if chunks != 1+3+1+1 {
		t.Fatalf("%d chunks stored, want 6", chunks)
	}
	if got := readAll(t, s, big.Hash, "gzip"); string(got) != "gz" {
		t.Fatalf("gzip variant reads %q", got)
	}
	stale, _, err := s.OpenBlob(ctx, big.Hash, "")
	if err != nil {
		t.Fatal(err)
	}

	if res, err := s.CollectGarbage(ctx, time.Now().Add(time.Second)); err != nil || res.Blobs != 1 {
		t.Fatalf("gc: %+v %v", res, err)
	}
	rowCount(s, "SELECT count(*) FROM blob_chunks", &chunks)
	if chunks != 1 {
		t.Fatalf("%d chunks left, want the live blob's one", chunks)
	}
	if got := readAll(t, s, blob("deployed").Hash, ""); string(got) != "deployed" {
		t.Fatalf("live blob reads %q", got)
	}

	// The freed ids go to the next blob stored.
	next := blob(strings.Repeat("newer bytes!! ", 2*chunkSize/14+5))
	if err := s.PutProjectBlobs(ctx, p.ID, []BlobInput{next}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := stale.ReadAt(buf, 0); err == nil || bytes.Contains(buf[:n], []byte("newer")) {
		t.Fatalf("reader of a collected blob read %q, %v", buf[:n], err)
	}
	if got := readAll(t, s, next.Hash, ""); !bytes.Equal(got, next.Data) {
		t.Fatal("the newer blob does not read back")
	}
}

// TestGarbageSparesBlobsListedMeanwhile: a deployment written while garbage
// collection searches for unused blobs keeps the old blobs it lists, and
// blobs that nothing lists still go.
func TestGarbageSparesBlobsListedMeanwhile(t *testing.T) {
	eachBackend(t, testGarbageSparesBlobsListedMeanwhile)
}

func testGarbageSparesBlobsListedMeanwhile(t *testing.T, s Store) {
	ctx := context.Background()
	p := mustProject(t, s, "p")
	kept, dropped := blob("listed by a deploy during gc"), blob("never listed")
	if err := s.PutProjectBlobs(ctx, p.ID, []BlobInput{kept, dropped}); err != nil {
		t.Fatal(err)
	}
	gcBetweenPhases = func() {
		now := time.Now()
		if err := s.CreateSession(ctx, Session{ID: "late", ProjectID: p.ID, Manifest: []byte("{}"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, nil); err != nil {
			t.Error(err)
		}
		if _, err := s.Deploy(ctx, NewDeployment{
			Deployment: Deployment{ID: "late", ProjectID: p.ID, CreatedAt: now, Config: "{}", RunWorkerFirst: "false"},
			Assets:     []Asset{{Path: "/kept.txt", Hash: kept.Hash, Size: int64(len(kept.Data))}},
			SessionID:  "late",
		}); err != nil {
			t.Error(err)
		}
	}
	defer func() { gcBetweenPhases = nil }()
	res, err := s.CollectGarbage(ctx, time.Now().Add(time.Second))
	if err != nil || res.Blobs != 1 || res.Bytes != int64(len(dropped.Data)) {
		t.Fatalf("gc: %+v %v; want the one unlisted blob", res, err)
	}
	if got := readAll(t, s, kept.Hash, ""); !bytes.Equal(got, kept.Data) {
		t.Fatal("the blob the new deployment lists was collected")
	}
	if _, _, err := s.OpenBlob(ctx, dropped.Hash, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unlisted blob: %v", err)
	}
}

// TestGarbageSparesOpenSessionFiles: a blob an open upload session counts
// on (its client was told not to upload it) survives garbage collection
// until the session is deployed or expires.
func TestGarbageSparesOpenSessionFiles(t *testing.T) {
	t.Parallel()
	eachBackend(t, testGarbageSparesOpenSessionFiles)
}

func testGarbageSparesOpenSessionFiles(t *testing.T, s Store) {
	ctx := context.Background()
	p := mustProject(t, s, "p")
	counted := blob("uploaded by an interrupted deploy, counted on by the next")
	if err := s.PutProjectBlobs(ctx, p.ID, []BlobInput{counted}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	manifest := fmt.Sprintf(`{"/a.txt":{"hash":%q,"size":%d}}`, counted.Hash, len(counted.Data))
	if err := s.CreateSession(ctx, Session{ID: "resumed", ProjectID: p.ID, Manifest: []byte(manifest), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, nil); err != nil {
		t.Fatal(err)
	}
	if res, err := s.CollectGarbage(ctx, time.Now().Add(time.Second)); err != nil || res.Blobs != 0 {
		t.Fatalf("gc with the session open: %+v %v; want nothing collected", res, err)
	}
	if _, err := s.Deploy(ctx, NewDeployment{
		Deployment: Deployment{ID: "d", ProjectID: p.ID, CreatedAt: now, Config: "{}", RunWorkerFirst: "false"},
		Assets:     []Asset{{Path: "/a.txt", Hash: counted.Hash, Size: int64(len(counted.Data))}},
		SessionID:  "resumed",
	}); err != nil {
		t.Fatalf("deploy after gc: %v", err)
	}
}
