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

// BenchmarkFirstDeployMidClient is bench/deploy.sh's mid-size site in one
// process: 10,000 files of 2-32 KiB, half text and half incompressible,
// plus 16 files of 1-3 MiB (~209 MB), deployed by the real client into a
// fresh host over loopback. Its CPU profile is where the first deploy of a
// mid-size site spends its time, on both sides.
func BenchmarkFirstDeployMidClient(b *testing.B) {
	dir := b.TempDir()
	total, files := writeMidSite(b, dir)
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
		if err != nil || res.NewAssets != files {
			b.Fatalf("deploy: %v (%+v)", err, res)
		}
		b.StopTimer()
		th.srv.Close()
		th.h.Close()
		b.StartTimer()
	}
}

// writeMidSite writes the mid-size site under dir and returns its bytes and
// files: text made of a fixed word list (it compresses about as well as
// real HTML, CSS and JS) and random bytes, by file.
func writeMidSite(b *testing.B, dir string) (int64, int) {
	b.Helper()
	rng := rand.New(rand.NewPCG(17, 17))
	words := make([][]byte, 4096)
	for i := range words {
		w := make([]byte, 2+rng.IntN(9))
		for j := range w {
			w[j] = byte('a' + rng.IntN(26))
		}
		words[i] = w
	}
	text := func(n int) []byte {
		out := make([]byte, 0, n+128)
		for len(out) < n {
			for k := range 12 {
				if k > 0 {
					out = append(out, ' ')
				}
				out = append(out, words[rng.IntN(len(words))]...)
			}
			out = append(out, '\n')
		}
		return out[:n]
	}
	random := func(n int) []byte {
		out := make([]byte, n)
		for i := 0; i < n; i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8 && i+j < n; j++ {
				out[i+j] = byte(v >> (8 * j))
			}
		}
		return out
	}
	exts := []string{"html", "css", "js", "png", "woff2", "bin"}
	var total int64
	write := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(data))
	}
	for i := range 10000 {
		n := 2048 + rng.IntN(30721)
		data := random(n)
		if i%6 < 3 {
			data = text(n)
		}
		write(fmt.Sprintf("s%02d/t%d/f%05d.%s", i%64, i%7, i, exts[i%6]), data)
	}
	for i := range 16 {
		n := 1<<20 + rng.IntN(2<<20)
		if i%2 == 0 {
			write(fmt.Sprintf("big/b%02d.js", i), text(n))
		} else {
			write(fmt.Sprintf("big/b%02d.bin", i), random(n))
		}
	}
	return total, 10016
}
