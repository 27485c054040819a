package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
)

func TestBlobFS(t *testing.T) {
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
