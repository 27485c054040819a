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
)

// BenchmarkFirstDeployStore measures the store's share of a first deploy of
// 10,000 files of 4 KiB into a fresh database: the session, 200 buckets of
// 50 hashes (in hash order, as the host forms them) and the deployment.
func BenchmarkFirstDeployStore(b *testing.B) {
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
		s, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), fmt.Sprintf("bench%d.db", i)))
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
	s, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	if _, err := s.CreateProject(ctx, Project{ID: "p", Name: "bench", CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		sess := Session{ID: fmt.Sprintf("s%d", i), ProjectID: "p", Manifest: []byte("{}"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateSession(ctx, sess, missing); err != nil {
			b.Fatal(err)
		}
	}
}
