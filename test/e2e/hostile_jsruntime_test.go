package e2e

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// TestHostileJSRuntime attacks the JavaScript runtime through the real
// cfhost: an endless loop, a ReDoS, a slow C builtin in a loop, an
// allocation bomb, deep recursion, timers that never stop, a stream that
// never ends, waitUntil work that never settles, a fetch of the project's
// own URL that recurses, console spam, and 200 concurrent slow requests.
// Each ends as its own 5xx (or, once its head is out, a cut response)
// within the deadline plus a second; the host's RSS stays bounded; another
// project's JS and assets keep answering throughout.
func TestHostileJSRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("a dozen attacks that each run to the deadline, and 200 slow requests (internal/host/jsrt covers each limit)")
	}
	const timeout = 2 * time.Second
	srv := startServer(t, "", "--log-level", "error", "--access-log=false", "--worker-timeout", timeout.String(), "--worker-memory", "64MiB")
	c := srv.client(t, client.Options{})
	hostile := createProject(t, c, "js-attacker")
	err := deployJS(t, c, hostile, map[string]string{"index.js": `export default {
  async fetch(request, env, ctx) {
    const p = new URL(request.url).pathname;
    switch (p) {
      case "/loop": for (;;) {}
      case "/redos": return new Response(String(/(a+)+$/.test("a".repeat(40) + "b")));
      case "/builtin": for (;;) new Array(1e5).fill();
      case "/bomb": { const keep = []; for (;;) keep.push(new Uint8Array(1 << 20).fill(1)); }
      case "/recurse": { const f = (n) => f(n + 1) + 1; return new Response(String(f(0))); }
      case "/timers": { setInterval(() => {}, 1); return new Promise(() => {}); }
      case "/slow": await new Promise((r) => setTimeout(r, 60000)); return new Response("late");
      case "/stream": {
        const chunk = new TextEncoder().encode("x".repeat(1024));
        return new Response(new ReadableStream({ async pull(c) { await new Promise((r) => setTimeout(r, 5)); c.enqueue(chunk); } }));
      }
      case "/waituntil": ctx.waitUntil(new Promise(() => setInterval(() => {}, 1))); return new Response("answered");
      case "/self": return fetch(request.url);
      case "/logs": for (let i = 0; i < 100000; i++) console.log("spam", i); return new Response("logged");
    }
    return new Response("alive");
  },
};`}, nil, `["/*"]`, nil)
	if err != nil {
		t.Fatal(err)
	}
	neighbour := createProject(t, c, "js-neighbour")
	err = deployJS(t, c, neighbour, map[string]string{"index.js": `export default {
  fetch(request, env) {
    if (new URL(request.url).pathname === "/api/ping") return Response.json({ pong: true });
    return env.ASSETS.fetch(request);
  },
};`}, nil, `["/api/*"]`, nil)
	if err != nil {
		t.Fatal(err)
	}

	// The neighbour is asked for its JS and its assets all along.
	var neighbourFail atomic.Int32
	var neighbourOK atomic.Int32
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, p := range []string{"/api/ping", "/"} {
				ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Second)
				resp, body, err := fetch(ctx, plainHTTP(), srv.projectURL(neighbour, p), nil)
				cancel()
				if err != nil || resp.StatusCode != 200 || (p == "/" && !strings.Contains(string(body), "static "+neighbour)) {
					neighbourFail.Add(1)
					t.Logf("neighbour %s: %v %v", p, err, resp)
				} else {
					neighbourOK.Add(1)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()

	// hit requests path and returns the status (0 for a cut response)
	// and how long it took, body read.
	hit := func(path string) (int, time.Duration) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 4*timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.projectURL(hostile, path), nil)
		resp, err := plainHTTP().Do(req)
		if err != nil {
			return 0, time.Since(start)
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return 0, time.Since(start)
		}
		return resp.StatusCode, time.Since(start)
	}

	var peak atomic.Int64
	growth := srv.rssGrowth(t, func() {
		for _, tc := range []struct {
			path string
			want int // 0: the head is out, the body is cut; -1: 200 or 504
		}{
			{"/loop", 504}, {"/redos", 504}, {"/builtin", 504}, {"/bomb", 502}, {"/recurse", 500},
			{"/timers", 504}, {"/stream", 0}, {"/self", 500}, {"/logs", -1},
		} {
			status, took := hit(tc.path)
			if tc.want == -1 && status == 504 {
				status = -1 // a loaded machine may not print 100,000 lines in time
			} else if tc.want == -1 && status == 200 {
				status = -1
			}
			if status != tc.want || took > timeout+time.Second {
				t.Errorf("%s: %d after %v, want %d within %v", tc.path, status, took, tc.want, timeout+time.Second)
			}
			if status, _ := hit("/"); status != 200 {
				t.Errorf("after %s the project answers %d", tc.path, status)
			}
		}
		start := time.Now()
		if status, took := hit("/waituntil"); status != 200 || took > time.Second {
			t.Errorf("/waituntil: %d after %v, want 200 at once", status, took)
		}
		// The waitUntil work holds its instance and admission slot until
		// the deadline; then the project serves again.
		time.Sleep(timeout + 200*time.Millisecond - time.Since(start))
		if status, took := hit("/"); status != 200 || took > timeout+time.Second {
			t.Errorf("after /waituntil: %d after %v", status, took)
		}

		var wg sync.WaitGroup
		var slow, late atomic.Int32
		statuses := sync.Map{}
		for range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, took := hit("/slow")
				if status < 500 {
					slow.Add(1)
				}
				if took > timeout+time.Second {
					late.Add(1)
				}
				n, _ := statuses.LoadOrStore(status, new(atomic.Int32))
				n.(*atomic.Int32).Add(1)
				if rss, err := srv.rss(); err == nil && rss > peak.Load() {
					peak.Store(rss)
				}
			}()
		}
		wg.Wait()
		var summary []string
		statuses.Range(func(k, v any) bool {
			summary = append(summary, http.StatusText(k.(int))+": "+strconv.Itoa(int(v.(*atomic.Int32).Load())))
			return true
		})
		t.Logf("200 concurrent slow requests: %s", strings.Join(summary, ", "))
		if slow.Load() > 0 || late.Load() > 0 {
			t.Errorf("200 slow requests: %d not a 5xx, %d later than %v", slow.Load(), late.Load(), timeout+time.Second)
		}
	})
	close(stop)
	watch.Wait()
	t.Logf("RSS growth under attack: %d MiB (peak sample %d MiB); neighbour answered %d, failed %d",
		growth>>20, peak.Load()>>20, neighbourOK.Load(), neighbourFail.Load())
	if growth > 300<<20 {
		t.Errorf("host RSS grew by %d MiB", growth>>20)
	}
	if neighbourFail.Load() > 0 || neighbourOK.Load() == 0 {
		t.Errorf("the neighbour failed %d times (answered %d)", neighbourFail.Load(), neighbourOK.Load())
	}
}
