package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openTest(t *testing.T, path string) *SQLite {
	t.Helper()
	s, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func blob(data string) BlobInput {
	sum := sha256.Sum256([]byte(data))
	return BlobInput{Hash: hex.EncodeToString(sum[:]), Data: []byte(data)}
}

func readAll(t *testing.T, s Store, hash, enc string) []byte {
	t.Helper()
	ra, size, err := s.OpenBlob(context.Background(), hash, enc)
	if err != nil {
		t.Fatalf("open blob %s/%q: %v", hash, enc, err)
	}
	b, err := io.ReadAll(io.NewSectionReader(ra, 0, size))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deployOne runs a whole session and deploy of files (path → content).
func deployOne(t *testing.T, s Store, projectID string, files map[string]string) DeployResult {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	sid := "s-" + now.Format("150405.000000000")
	var missing []SessionHash
	var blobs []BlobInput
	var assets []Asset
	want := map[string]bool{}
	for p, c := range files {
		b := blob(c)
		assets = append(assets, Asset{Path: p, Hash: b.Hash, Size: int64(len(c)), ContentType: "text/plain"})
		if !want[b.Hash] {
			want[b.Hash] = true
			blobs = append(blobs, b)
		}
	}
	var hashes []string
	for h := range want {
		hashes = append(hashes, h)
	}
	miss, err := s.MissingHashes(ctx, projectID, hashes)
	if err != nil {
		t.Fatal(err)
	}
	var upload []BlobInput
	for _, b := range blobs {
		if miss[b.Hash] {
			missing = append(missing, SessionHash{Hash: b.Hash, Size: int64(len(b.Data))})
			upload = append(upload, b)
		}
	}
	if err := s.CreateSession(ctx, Session{ID: sid, ProjectID: projectID, Manifest: []byte("{}"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, missing); err != nil {
		t.Fatal(err)
	}
	if len(upload) > 0 {
		res, err := s.PutBlobs(ctx, sid, upload)
		if err != nil || res.Remaining != 0 {
			t.Fatalf("put blobs: %v, remaining %d", err, res.Remaining)
		}
	}
	r, err := s.Deploy(ctx, NewDeployment{
		Deployment: Deployment{ID: "d-" + sid, ProjectID: projectID, CreatedAt: now, Config: "{}", RunWorkerFirst: "false"},
		Assets:     assets, SessionID: sid,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cfhost.db")
	s := openTest(t, path)
	if _, err := s.CreateProject(ctx, Project{ID: "p1", Name: "one", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	res := deployOne(t, s, "p1", map[string]string{"/index.html": "hello"})
	if res.NewAssets != 1 || res.Project.ActiveDeploymentID != res.Deployment.ID || !res.Deployment.Active {
		t.Fatalf("deploy result %+v", res)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path) // migrations run again: must be a no-op
	defer s.Close()
	p, err := s.Project(ctx, "p1")
	if err != nil || p.Name != "one" || p.AssetsCount != 1 || p.ActiveDeploymentID != res.Deployment.ID {
		t.Fatalf("after reopen: %+v, %v", p, err)
	}
	snap, err := s.ActiveSnapshot(ctx, "p1")
	if err != nil || len(snap.Assets) != 1 {
		t.Fatalf("snapshot %+v %v", snap, err)
	}
	if got := readAll(t, s, snap.Assets[0].Hash, ""); string(got) != "hello" {
		t.Fatalf("blob = %q", got)
	}
	var n int
	// Reopening applies no migration twice: one row per migration file.
	if err := rowCount(s, "SELECT count(*) FROM schema_migrations", &n); err != nil || n != len(mustGlob(t, "migrations/*.sql")) {
		t.Fatalf("%d migrations recorded (%v)", n, err)
	}
	if v, err := s.IntegrityCheck(ctx); err != nil || v != "ok" {
		t.Fatalf("integrity %q %v", v, err)
	}
}

func TestDedupIsPerProject(t *testing.T) {
	t.Parallel()
	eachBackend(t, testDedupIsPerProject)
}

func testDedupIsPerProject(t *testing.T, s Store) {
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if _, err := s.CreateProject(ctx, Project{ID: id, Name: id, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	deployOne(t, s, "a", map[string]string{"/x": "shared"})
	miss, err := s.MissingHashes(ctx, "b", []string{blob("shared").Hash})
	if err != nil || !miss[blob("shared").Hash] {
		t.Fatalf("project b must upload content only project a has: %v %v", miss, err)
	}
	r := deployOne(t, s, "b", map[string]string{"/y": "shared"})
	if r.NewAssets != 1 {
		t.Fatalf("b uploaded it, so it is new for b: %+v", r)
	}
	var blobs int
	rowCount(s, "SELECT count(*) FROM blobs", &blobs)
	if blobs != 1 {
		t.Fatalf("stored %d blobs for one content", blobs)
	}
	r = deployOne(t, s, "b", map[string]string{"/y": "shared", "/z": "shared"})
	if r.NewAssets != 0 || r.Deployment.AssetsCount != 2 {
		t.Fatalf("redeploy: %+v", r)
	}
}

func TestSessionSingleUse(t *testing.T) {
	t.Parallel()
	eachBackend(t, testSessionSingleUse)
}

func testSessionSingleUse(t *testing.T, s Store) {
	ctx := context.Background()
	s.CreateProject(ctx, Project{ID: "p", Name: "p", CreatedAt: time.Now()})
	first := deployOne(t, s, "p", map[string]string{"/a": "1"})
	_, err := s.Deploy(ctx, NewDeployment{
		Deployment: Deployment{ID: "again", ProjectID: "p", CreatedAt: time.Now(), Config: "{}", RunWorkerFirst: "false"},
		SessionID:  "s-" + first.Deployment.CreatedAt.Format("150405.000000000"),
	})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("second use of a session: %v", err)
	}
	p, _ := s.Project(ctx, "p")
	if p.ActiveDeploymentID != first.Deployment.ID {
		t.Fatal("failed deploy moved the active deployment")
	}
}

func TestDeployMissingBlobChangesNothing(t *testing.T) {
	t.Parallel()
	eachBackend(t, testDeployMissingBlobChangesNothing)
}

func testDeployMissingBlobChangesNothing(t *testing.T, s Store) {
	ctx := context.Background()
	s.CreateProject(ctx, Project{ID: "p", Name: "p", CreatedAt: time.Now()})
	first := deployOne(t, s, "p", map[string]string{"/a": "1"})
	now := time.Now()
	missing := blob("never uploaded").Hash
	for name, nd := range map[string]NewDeployment{
		"asset":  {Assets: []Asset{{Path: "/b", Hash: missing, Size: 3}}},
		"module": {Assets: []Asset{{Path: "/a", Hash: blob("1").Hash, Size: 1}}, Modules: []Module{{Name: "main.wasm", Type: "wasm", Hash: missing}}},
	} {
		sid := "s-" + name
		s.CreateSession(ctx, Session{ID: sid, ProjectID: "p", Manifest: []byte("{}"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, nil)
		nd.Deployment = Deployment{ID: "d-" + name, ProjectID: "p", CreatedAt: now, Config: "{}", RunWorkerFirst: "false"}
		nd.SessionID = sid
		if _, err := s.Deploy(ctx, nd); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deploy with a missing %s blob: %v", name, err)
		}
		p, _ := s.Project(ctx, "p")
		ds, _ := s.Deployments(ctx, "p")
		sess, _ := s.Session(ctx, sid)
		if p.ActiveDeploymentID != first.Deployment.ID || len(ds) != 1 || sess.Used {
			t.Fatalf("failed deploy (%s) left traces: active %s, %d deployments, used %v", name, p.ActiveDeploymentID, len(ds), sess.Used)
		}
	}
}

func TestLargeBlobIsChunked(t *testing.T) {
	t.Parallel()
	eachBackend(t, testLargeBlobIsChunked)
}

func testLargeBlobIsChunked(t *testing.T, s Store) {
	ctx := context.Background()
	s.CreateProject(ctx, Project{ID: "p", Name: "p", CreatedAt: time.Now()})
	big := bytes.Repeat([]byte("0123456789abcdef"), (chunkSize*5/2)/16+3)
	if err := s.PutProjectBlobs(ctx, "p", []BlobInput{blob(string(big))}); err != nil {
		t.Fatal(err)
	}
	h := blob(string(big)).Hash
	if got := readAll(t, s, h, ""); !bytes.Equal(got, big) {
		t.Fatalf("read back %d bytes, want %d", len(got), len(big))
	}
	ra, _, _ := s.OpenBlob(ctx, h, "")
	buf := make([]byte, 100)
	off := int64(chunkSize - 50) // straddles a chunk boundary
	if n, err := ra.ReadAt(buf, off); n != 100 || err != nil || !bytes.Equal(buf, big[off:off+100]) {
		t.Fatalf("ReadAt across chunks: n=%d err=%v", n, err)
	}
	var chunks int
	rowCount(s, "SELECT count(*) FROM blob_chunks", &chunks)
	if chunks != 3 {
		t.Fatalf("%d chunks, want 3", chunks)
	}
	if _, _, err := s.OpenBlob(ctx, h, "br"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing variant: %v", err)
	}
}

func TestGarbageCollection(t *testing.T) {
	t.Parallel()
	eachBackend(t, testGarbageCollection)
}

func testGarbageCollection(t *testing.T, s Store) {
	ctx := context.Background()
	s.CreateProject(ctx, Project{ID: "keep", Name: "k", CreatedAt: time.Now()})
	s.CreateProject(ctx, Project{ID: "drop", Name: "d", CreatedAt: time.Now()})
	deployOne(t, s, "keep", map[string]string{"/a": "kept"})
	deployOne(t, s, "drop", map[string]string{"/a": "dropped", "/b": "kept"})
	if err := s.DeleteProject(ctx, "drop"); err != nil {
		t.Fatal(err)
	}
	// Within the grace period nothing goes.
	res, err := s.CollectGarbage(ctx, time.Now().Add(-time.Hour))
	if err != nil || res.Blobs != 0 {
		t.Fatalf("gc within grace: %+v %v", res, err)
	}
	res, err = s.CollectGarbage(ctx, time.Now().Add(time.Second))
	if err != nil || res.Blobs != 1 || res.Bytes != int64(len("dropped")) {
		t.Fatalf("gc after grace: %+v %v", res, err)
	}
	if _, _, err := s.OpenBlob(ctx, blob("dropped").Hash, ""); !errors.Is(err, ErrNotFound) {
		t.Fatal("collected blob still readable")
	}
	if got := readAll(t, s, blob("kept").Hash, ""); string(got) != "kept" {
		t.Fatal("a blob still in use was collected")
	}
}

func TestProjectsPaging(t *testing.T) {
	t.Parallel()
	eachBackend(t, testProjectsPaging)
}

func testProjectsPaging(t *testing.T, s Store) {
	ctx := context.Background()
	for i := range 5 {
		s.CreateProject(ctx, Project{ID: string(rune('a' + i)), Name: "n", CreatedAt: time.Now()})
	}
	var all []string
	var cursor int64
	for {
		ps, last, err := s.Projects(ctx, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) == 0 {
			break
		}
		for _, p := range ps {
			all = append(all, p.ID)
		}
		cursor = last
	}
	if len(all) != 5 || all[0] != "a" || all[4] != "e" {
		t.Fatalf("paged %v", all)
	}
}

// TestFullDiskIsErrFull fills the database to SQLite's page limit, which
// fails writes exactly as a full disk does (SQLITE_FULL): the error must be
// ErrFull, nothing half-written may remain, and the write succeeds once
// there is room again.
func TestFullDiskIsErrFull(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "db"))
	defer s.Close()
	if _, err := s.CreateProject(ctx, Project{ID: "p", Name: "p", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var pages int64
	if err := s.w.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages+16)); err != nil {
		t.Fatal(err)
	}
	big := blob(strings.Repeat("x", 1<<20))
	err := s.PutProjectBlobs(ctx, "p", []BlobInput{big})
	if !errors.Is(err, ErrFull) {
		t.Fatalf("a write past the size limit: %v, want ErrFull", err)
	}
	if _, _, err := s.OpenBlob(ctx, big.Hash, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a failed write left the blob behind: %v", err)
	}
	if _, err := s.w.Exec("PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutProjectBlobs(ctx, "p", []BlobInput{big}); err != nil {
		t.Fatalf("with room again: %v", err)
	}
	if v, err := s.IntegrityCheck(ctx); err != nil || v != "ok" {
		t.Fatalf("integrity %q %v", v, err)
	}
}

// TestArrivalCountsAcrossSessions: two sessions of one project that need the
// same files both complete whichever uploads a file first, and a retried
// bucket counts nothing twice.
func TestArrivalCountsAcrossSessions(t *testing.T) {
	t.Parallel()
	eachBackend(t, testArrivalCountsAcrossSessions)
}

func testArrivalCountsAcrossSessions(t *testing.T, s Store) {
	ctx := context.Background()
	if _, err := s.CreateProject(ctx, Project{ID: "p", Name: "p", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	x, y, z := blob("x"), blob("y"), blob("z")
	now := time.Now()
	need := []SessionHash{{Hash: x.Hash, Size: 1}, {Hash: y.Hash, Size: 1}, {Hash: z.Hash, Size: 1}}
	for _, id := range []string{"a", "b"} {
		if err := s.CreateSession(ctx, Session{ID: id, ProjectID: "p", Manifest: []byte("{}"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, need); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		session string
		blobs   []BlobInput
		want    int
	}{
		{"b", []BlobInput{x}, 2},    // new to the project: counted directly
		{"a", []BlobInput{x, y}, 1}, // x came with b: a recounts
		{"a", []BlobInput{x, y}, 1}, // a retry changes nothing
		{"b", []BlobInput{y, z}, 0}, // y came with a, z is new
		{"a", []BlobInput{z}, 0},
		{"a", []BlobInput{z}, 0},
	}
	for i, st := range steps {
		res, err := s.PutBlobs(ctx, st.session, st.blobs)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if res.Remaining != st.want {
			t.Fatalf("step %d: session %s has %d remaining, want %d", i, st.session, res.Remaining, st.want)
		}
	}
	for _, id := range []string{"a", "b"} {
		r, err := s.Deploy(ctx, NewDeployment{
			Deployment: Deployment{ID: "d" + id, ProjectID: "p", CreatedAt: now, Config: "{}", RunWorkerFirst: "false"},
			Assets:     []Asset{{Path: "/x", Hash: x.Hash, Size: 1}, {Path: "/y", Hash: y.Hash, Size: 1}, {Path: "/z", Hash: z.Hash, Size: 1}},
			SessionID:  id,
		})
		if err != nil || r.NewAssets != 3 {
			t.Fatalf("deploy of session %s: %v, newAssets %d", id, err, r.NewAssets)
		}
	}
}

// A constraint violation reaches callers as a bare domain error: its text,
// which an API client may see, carries nothing of the driver's.
func TestConstraintErrorsAreBare(t *testing.T) {
	t.Parallel()
	eachBackend(t, testConstraintErrorsAreBare)
}

func testConstraintErrorsAreBare(t *testing.T, s Store) {
	p := Project{ID: "p1", Name: "one", CreatedAt: time.Now()}
	if _, err := s.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	_, err := s.CreateProject(t.Context(), p)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate project: %v", err)
	}
	for _, leak := range []string{"UNIQUE", "constraint", "SQLITE", "projects.id"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error %q carries the driver's %q", err, leak)
		}
	}
	var dd interface{ DriverDetail() string }
	if !errors.As(err, &dd) || !strings.Contains(strings.ToLower(dd.DriverDetail()), "unique") {
		t.Errorf("the driver's text is not kept for the log: %v", err)
	}
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	names, err := fs.Glob(migrations, pattern)
	if err != nil || len(names) == 0 {
		t.Fatalf("glob %s: %v %v", pattern, names, err)
	}
	return names
}

func TestDeploymentByID(t *testing.T) {
	t.Parallel()
	eachBackend(t, testDeploymentByID)
}

// testDeploymentByID reads one deployment, and no deployment through
// another project or an unknown id.
func testDeploymentByID(t *testing.T, s Store) {
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if _, err := s.CreateProject(ctx, Project{ID: id, Name: id, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	first := deployOne(t, s, "a", map[string]string{"/x": "1"}).Deployment
	deployOne(t, s, "a", map[string]string{"/x": "2", "/y": "3"})
	d, err := s.Deployment(ctx, "a", first.ID)
	if err != nil || d.ID != first.ID || d.AssetsCount != 1 || d.Active || !d.CreatedAt.Equal(first.CreatedAt) {
		t.Fatalf("Deployment(a, first) = %+v, %v; deployed %+v", d, err, first)
	}
	for _, c := range [][2]string{{"b", first.ID}, {"a", "nope"}, {"nope", first.ID}} {
		if _, err := s.Deployment(ctx, c[0], c[1]); err != ErrNotFound {
			t.Errorf("Deployment(%s, %s): %v, want ErrNotFound", c[0], c[1], err)
		}
	}
}
