package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// hostileBodies attacks the memory and the queue of server code with no
// token at all, only requests: hundreds of connections that declare large
// bodies and trickle them must not run up the server's memory, and one
// project flooded with slow requests must not make another project's
// server code answer 503.
func hostileBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	// Two run slots whatever the machine, so the default queue (64 per
	// slot) has a known size.
	const slots, queue = 2, 128
	srv := startServer(t, "", "--log-level", "warn", "--access-log=false", "--worker-concurrency", fmt.Sprint(slots))
	c := srv.client(t, client.Options{})
	wasm := buildGuest(t, "slow")

	t.Run("declared bodies trickling", func(t *testing.T) {
		// 300 connections, spread over 20 projects so that admission
		// alone does not turn them away: each declares a 10 MiB body and
		// sends 1 KiB every 3 s.
		const conns, projects, declared = 300, 20, 10 << 20
		var ids []string
		for i := range projects {
			ids = append(ids, deployGuest(t, c, fmt.Sprintf("trickle-%d", i), wasm))
		}
		var open []net.Conn
		defer func() {
			for _, conn := range open {
				conn.Close()
			}
		}()
		base, err := srv.rss()
		if err != nil {
			t.Skipf("cannot read the server's memory: %v", err)
		}
		// A neighbour's static file, fetched one request after another
		// for a while: its rate before and during the attack.
		neighbour := deployGuest(t, c, "neighbour", wasm)
		staticRate := func(d time.Duration) float64 {
			n, start := 0, time.Now()
			for time.Since(start) < d {
				resp, body := getText(t, srv.projectURL(neighbour, "/static.txt"))
				if resp.StatusCode != 200 || body != "static of neighbour" {
					t.Fatalf("the neighbour's static file: %s %q", resp.Status, body)
				}
				n++
			}
			return float64(n) / time.Since(start).Seconds()
		}
		before := staticRate(3 * time.Second)
		var during float64
		chunk := strings.Repeat("t", 1<<10)
		grew := srv.rssGrowth(t, func() {
			for i := range conns {
				conn, err := net.DialTimeout("tcp", srv.addr, 5*time.Second)
				if err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
				open = append(open, conn)
				fmt.Fprintf(conn, "POST /?ms=0 HTTP/1.1\r\nHost: %s.localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", ids[i%projects], declared)
			}
			for round := range 4 {
				for _, conn := range open {
					conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
					io.WriteString(conn, chunk) // a refused connection may be gone
				}
				if round < 3 {
					during += staticRate(3*time.Second) / 3
				}
			}
		})
		for _, conn := range open {
			conn.Close()
		}
		open = nil
		time.Sleep(2 * time.Second)
		after, _ := srv.rss()
		t.Logf("%d connections declaring %d MiB and trickling 1 KiB/3 s: RSS grew by %d MiB at the peak; %d MiB above the start after they closed",
			conns, declared>>20, grew>>20, (after-base)>>20)
		t.Logf("a neighbour's static file, one request at a time: %.0f req/s before, %.0f req/s during the attack", before, during)
		if grew > 300<<20 {
			t.Errorf("the server's memory grew by %d MiB for bodies that sent 4 KiB each", grew>>20)
		}
		// The host is fine afterwards: a real body reaches the guest.
		resp, body := postBody(t, srv.projectURL(ids[0], "/"), strings.Repeat("b", 100_000))
		if resp.StatusCode != 200 || body != "slow read 100000 bytes\n" {
			t.Fatalf("after the attack: %s %q", resp.Status, body)
		}
	})

	t.Run("one tenant's backlog", func(t *testing.T) {
		attacker := deployGuest(t, c, "backlog", wasm)
		victim := deployGuest(t, c, "victim", wasm)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
		// More slow requests to the attacker's guest than the whole queue
		// holds; each sleeps 20 s, well inside the 30 s guest timeout.
		const attack = queue + 12
		var attackWG sync.WaitGroup
		var refused atomic.Int64
		for range attack {
			attackWG.Add(1)
			go func() {
				defer attackWG.Done()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.projectURL(attacker, "/?ms=20000"), nil)
				resp, err := hc.Do(req)
				if err != nil {
					return
				}
				if resp.StatusCode == http.StatusServiceUnavailable {
					refused.Add(1)
				}
				resp.Body.Close()
			}()
		}
		// Let the flood settle into the queue: every request that can be
		// refused at once has been.
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			n := refused.Load()
			time.Sleep(time.Second)
			if n > 0 && refused.Load() == n {
				break
			}
		}
		// The victim sends bursts of concurrent requests that each take a
		// while, so most of each burst must wait for a slot.
		const rounds, burst = 3, 8
		var ok, total atomic.Int64
		var statuses sync.Map
		for range rounds {
			var wg sync.WaitGroup
			for range burst {
				wg.Add(1)
				go func() {
					defer wg.Done()
					total.Add(1)
					resp, err := hc.Get(srv.projectURL(victim, "/?ms=200"))
					if err != nil {
						statuses.Store(err.Error(), true)
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 && string(b) == "slow read 0 bytes\n" {
						ok.Add(1)
						return
					}
					statuses.Store(resp.Status, true)
				}()
			}
			wg.Wait()
		}
		cancel()
		attackWG.Wait()
		var seen []string
		statuses.Range(func(k, _ any) bool { seen = append(seen, k.(string)); return true })
		t.Logf("%d slow requests to one project (%d refused at once); the other project's server code answered %d of %d requests (%.0f%%) %v",
			attack, refused.Load(), ok.Load(), total.Load(), 100*float64(ok.Load())/float64(total.Load()), seen)
		if ok.Load() != total.Load() {
			t.Errorf("the victim's server code failed %d of %d requests under another project's backlog: %v", total.Load()-ok.Load(), total.Load(), seen)
		}
	})

	if srv.exited() {
		t.Fatalf("cfhost died: %s", srv.logTail(4096))
	}
}

// deployGuest creates a project whose server code is the given module, with
// one static file, and returns its id.
func deployGuest(t *testing.T, c *client.Client, name string, wasm []byte) string {
	t.Helper()
	id := createProject(t, c, name)
	dir := filepath.Join(t.TempDir(), name)
	site{"/static.txt": []byte("static of " + name)}.write(t, dir)
	sc := &api.ServerCode{Entrypoint: "guest.wasm", Modules: map[string]api.Module{"guest.wasm": {Content: base64.StdEncoding.EncodeToString(wasm), Type: "wasm"}}}
	if _, err := c.Deploy(context.Background(), client.DeployOptions{ProjectID: id, Dir: dir, ServerCode: sc}); err != nil {
		t.Fatal(err)
	}
	return id
}

// getText fetches url and returns the answer with its body read.
func getText(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// postBody POSTs body to url and returns the answer with its body read.
func postBody(t *testing.T, url, body string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(url, "application/octet-stream", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}
