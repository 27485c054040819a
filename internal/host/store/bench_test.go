package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host/store/pgtest"
)

// BenchmarkFirstDeployStore measures the store's share of a first deploy of
// 10,000 files of 4 KiB into a fresh database: the session, 200 buckets of
// 50 hashes (in hash order, as the host forms them) and the deployment, on
// each backend.
func BenchmarkFirstDeployStore(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchFirstDeploy(b, func(i int) (Store, error) {
			return OpenSQLite(context.Background(), filepath.Join(b.TempDir(), fmt.Sprintf("bench%d.db", i)))
		})
	})
	b.Run("postgres", func(b *testing.B) {
		benchFirstDeploy(b, func(int) (Store, error) { return OpenPostgres(context.Background(), pgtest.DSN(b)) })
	})
}

func benchFirstDeploy(b *testing.B, open func(i int) (Store, error)) {
	const files, size, bucket = 10000, 4096, 50
	blobs := make([]BlobInput, files)
	assets := make([]Asset, files)
	for i := range blobs {
		data := make([]byte, size)
		copy(data, fmt.Sprintf("file %d", i))
		sum := sha256.Sum256(data)
		blobs[i] = BlobInput{Hash: hex.EncodeToString(sum[:]), Data: data, Compressible: true}
		assets[i] = Asset{Path: fmt.Sprintf("/d%d/f%d.html", i%100, i), Hash: blobs[i].Hash, Size: size, ContentType: "text/html"}
	}
	slices.SortFunc(blobs, func(x, y BlobInput) int { return strings.Compare(x.Hash, y.Hash) })
	missing := make([]SessionHash, files)
	for i, bl := range blobs {
		missing[i] = SessionHash{Hash: bl.Hash, Size: size, Compressible: true}
	}
	ctx := context.Background()
	b.SetBytes(files * size)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s, err := open(i)
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		if _, err := s.CreateProject(ctx, Project{ID: "p", Name: "bench", CreatedAt: now}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := s.CreateSession(ctx, Session{ID: "s", ProjectID: "p", Manifest: []byte("{}"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, missing); err != nil {
			b.Fatal(err)
		}
		for j := 0; j < files; j += bucket {
			if _, err := s.PutBlobs(ctx, "s", blobs[j:j+bucket]); err != nil {
				b.Fatal(err)
			}
		}
		res, err := s.Deploy(ctx, NewDeployment{
			Deployment: Deployment{ID: "d", ProjectID: "p", CreatedAt: now, Config: "{}", RunWorkerFirst: "false"},
			Assets:     assets, SessionID: "s",
		})
		if err != nil || res.NewAssets != files {
			b.Fatalf("deploy: %v, %d new", err, res.NewAssets)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}

// BenchmarkCreateSession measures recording the 10,000 hashes a first
// deploy's session asks for.
func BenchmarkCreateSession(b *testing.B) {
	const files = 10000
	missing := make([]SessionHash, files)
	for i := range missing {
		sum := sha256.Sum256(fmt.Appendf(nil, "file %d", i))
		missing[i] = SessionHash{Hash: hex.EncodeToString(sum[:]), Size: 4096, Compressible: true}
	}
	slices.SortFunc(missing, func(x, y SessionHash) int { return strings.Compare(x.Hash, y.Hash) })
	ctx := context.Background()
	s, now := benchStore(b)
	for i := 0; i < b.N; i++ {
		sess := Session{ID: fmt.Sprintf("s%d", i), ProjectID: "p", Manifest: []byte("{}"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateSession(ctx, sess, missing); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCollectGarbage measures a collection pass over 20 deployments of
// a 10,000-file site (200,000 asset rows) with 1,000 unused blobs, with the
// time the writer is held reported apart.
func BenchmarkCollectGarbage(b *testing.B) {
	const files, deployments, unused = 10000, 20, 1000
	ctx := context.Background()
	s, now := benchStore(b)
	var blobs []BlobInput
	var assets []Asset
	for i := range files + unused {
		data := fmt.Appendf(nil, "file %d", i)
		sum := sha256.Sum256(data)
		blobs = append(blobs, BlobInput{Hash: hex.EncodeToString(sum[:]), Data: data})
		if i < files {
			assets = append(assets, Asset{Path: fmt.Sprintf("/f%d.txt", i), Hash: blobs[i].Hash, Size: int64(len(data)), ContentType: "text/plain"})
		}
	}
	for i := 0; i < len(blobs); i += 400 {
		if err := s.PutProjectBlobs(ctx, "p", blobs[i:min(i+400, len(blobs))]); err != nil {
			b.Fatal(err)
		}
	}
	for d := range deployments {
		id := fmt.Sprintf("d%d", d)
		if err := s.CreateSession(ctx, Session{ID: id, ProjectID: "p", Manifest: []byte("{}"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, nil); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Deploy(ctx, NewDeployment{
			Deployment: Deployment{ID: id, ProjectID: "p", CreatedAt: now, Config: "{}", RunWorkerFirst: "false"},
			Assets:     assets, SessionID: id,
		}); err != nil {
			b.Fatal(err)
		}
	}
	var held time.Duration
	var phase1 time.Time
	gcBetweenPhases = func() { phase1 = time.Now() }
	defer func() { gcBetweenPhases = nil }()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Every blob is past the grace period: the first pass deletes the
		// unused ones, and every pass reads every deployment's list.
		if _, err := s.CollectGarbage(ctx, time.Now().Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
		held += time.Since(phase1)
	}
	b.ReportMetric(float64(held.Microseconds())/float64(b.N), "µs-writer/op")
}

// benchStore opens a fresh database holding project "p", closed when the
// benchmark ends.
func benchStore(b *testing.B) (*SQLite, time.Time) {
	b.Helper()
	s, err := OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	now := time.Now()
	if _, err := s.CreateProject(context.Background(), Project{ID: "p", Name: "bench", CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	return s, now
}
