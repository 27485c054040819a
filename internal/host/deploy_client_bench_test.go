package host

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// BenchmarkFirstDeployClient is bench/deploy.sh's small site in one
// process: the real deploy client (walk, hash, buckets three at a time) and
// a real host over loopback HTTP, 10,000 HTML files of 1-8 KiB into a fresh
// host each time, so that every blob is new. A CPU profile of it shows the
// host and the client side by side.
func BenchmarkFirstDeployClient(b *testing.B) {
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(42, 42))
	var total int64
	for i := range 10000 {
		d := filepath.Join(dir, fmt.Sprintf("d%d", i%100))
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		data := make([]byte, 1024+rng.IntN(7169))
		for j := range data {
			data[j] = "0123456789abcdef"[rng.IntN(16)]
		}
		copy(data, fmt.Sprintf("<!-- %d -->", i))
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d.html", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(data))
	}
	b.SetBytes(total)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		th := newTestHost(&testing.T{})
		p := th.createProject("bench")
		c, err := client.New(th.srv.URL, client.Options{Token: testToken})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := c.Deploy(context.Background(), client.DeployOptions{ProjectID: p.ID, Dir: dir})
		if err != nil || res.NewAssets != 10000 {
			b.Fatalf("deploy: %v (%+v)", err, res)
		}
		b.StopTimer()
		th.srv.Close()
		th.h.Close()
		b.StartTimer()
	}
}
