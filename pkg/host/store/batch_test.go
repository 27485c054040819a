package store

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestBatchedWrites puts more blobs in one call than one statement carries
// (maxBatch), with a multi-chunk blob among them and one the project
// already has, then puts the same set again: every blob reads back whole,
// the session counts each hash once, and a repeat changes nothing.
func TestBatchedWrites(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "db"))
	defer s.Close()
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
	if err := s.r.QueryRow("SELECT count(*) FROM blob_chunks").Scan(&chunks); err != nil {
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
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "db"))
	defer s.Close()
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
	var chunks int
	if err := s.r.QueryRow("SELECT count(*) FROM blob_chunks WHERE hash = ?", orphan.Hash).Scan(&chunks); err != nil || chunks != 0 {
		t.Fatalf("collected blob keeps %d chunks (%v)", chunks, err)
	}
	// Uploading it again works and it reads back.
	if err := s.PutProjectBlobs(ctx, p.ID, []BlobInput{orphan}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, orphan.Hash, ""); !bytes.Equal(got, orphan.Data) {
		t.Fatalf("re-uploaded blob reads %q", got)
	}
}
