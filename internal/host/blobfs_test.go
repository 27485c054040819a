package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
)

func TestBlobFS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.CreateProject(ctx, store.Project{ID: "p", Name: "p", CreatedAt: time.Now()})
	files := map[string]blobFile{}
	var blobs []store.BlobInput
	for p, c := range map[string]string{"/index.html": "home", "/a/b/c.txt": "deep", "/a/x.css": "css"} {
		sum := sha256.Sum256([]byte(c))
		h := hex.EncodeToString(sum[:])
		blobs = append(blobs, store.BlobInput{Hash: h, Data: []byte(c)})
		files[p] = blobFile{hash: h, size: int64(len(c))}
	}
	if err := st.PutProjectBlobs(ctx, "p", blobs); err != nil {
		t.Fatal(err)
	}
	fsys := newBlobFS(st, time.Now(), files)
	if err := fstest.TestFS(fsys, "index.html", "a/b/c.txt", "a/x.css"); err != nil {
		t.Fatal(err)
	}
}

// A tree bound to a request's context stops reading when the request ends.
func TestBlobFSWithContext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.CreateProject(ctx, store.Project{ID: "p", Name: "p", CreatedAt: time.Now()})
	sum := sha256.Sum256([]byte("home"))
	h := hex.EncodeToString(sum[:])
	if err := st.PutProjectBlobs(ctx, "p", []store.BlobInput{{Hash: h, Data: []byte("home")}}); err != nil {
		t.Fatal(err)
	}
	fsys := newBlobFS(st, time.Now(), map[string]blobFile{"/index.html": {hash: h, size: 4}})
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := fsys.WithContext(gone).Open("index.html"); !errors.Is(err, context.Canceled) {
		t.Fatalf("open on an ended request: %v", err)
	}
	if f, err := fsys.Open("index.html"); err != nil {
		t.Fatalf("the unbound tree: %v", err)
	} else {
		f.Close()
	}
}
