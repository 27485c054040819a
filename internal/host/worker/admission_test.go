package worker

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawBody is a request whose body the test writes by hand over its own
// connection, to send it slowly, partly or never.
type rawBody struct {
	t    *testing.T
	conn net.Conn
}

// startBody sends the request line and headers of a POST to path; length
// < 0 sends the body chunked.
func startBody(t *testing.T, srvURL, path string, length int) *rawBody {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srvURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	framing := fmt.Sprintf("Content-Length: %d", length)
	if length < 0 {
		framing = "Transfer-Encoding: chunked"
	}
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: app.test\r\nContent-Type: application/octet-stream\r\n%s\r\n\r\n", path, framing)
	return &rawBody{t: t, conn: conn}
}

// write sends body bytes (unframed: for a Content-Length body).
func (b *rawBody) write(s string) error {
	_, err := io.WriteString(b.conn, s)
	return err
}

// response reads the answer.
func (b *rawBody) response() (*http.Response, string) {
	b.t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(b.conn), nil)
	if err != nil {
		b.t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// A body is buffered as it arrives, never from its declared length, and
// only once the request is admitted.
func TestBodyNotAllocatedFromDeclaredLength(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, Config{})
	p, _ := program(t, rt, "plain")
	srv, _ := serveProgram(t, rt, p)
	const declared = 10 << 20
	b := startBody(t, srv.URL, "/", declared)
	b.write(strings.Repeat("x", 1000))
	waitFor(t, func() bool { return rt.Stats().Reading == 1 && rt.Stats().BodyBytes > 0 })
	if held := rt.Stats().BodyBytes; held > 16<<10 {
		t.Fatalf("1000 bytes of a body declared as %d hold %d bytes of the budget", declared, held)
	}
	// The budget comes back when the client gives up.
	b.conn.Close()
	waitFor(t, func() bool { s := rt.Stats(); return s.Reading == 0 && s.BodyBytes == 0 })
}

// The host-wide body budget: a body larger than all of it is 413, one that
// finds it spent by others is 503 with Retry-After, and the budget comes
// back when they are done.
func TestBodyBudget(t *testing.T) {
	t.Parallel()
	rt, logs := newRuntime(t, Config{MaxBody: 1 << 20, BodyBudget: 256 << 10})
	p, _ := program(t, rt, "plain")
	srv, _ := serveProgram(t, rt, p)
	post := func(body io.Reader) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", body)
		return do(t, req)
	}

	t.Run("larger than the whole budget", func(t *testing.T) {
		big := strings.Repeat("b", 512<<10)
		if res, _ := post(strings.NewReader(big)); res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("with Content-Length: status %d, want 413", res.StatusCode)
		}
		if res, _ := post(struct{ io.Reader }{strings.NewReader(big)}); res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked: status %d, want 413", res.StatusCode)
		}
	})

	t.Run("spent by another request", func(t *testing.T) {
		const size = 200 << 10
		first := startBody(t, srv.URL, "/", size)
		first.write(strings.Repeat("a", size-1))
		waitFor(t, func() bool { return rt.Stats().BodyBytes >= size-1 })
		res, _ := post(strings.NewReader(strings.Repeat("c", size)))
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
			t.Fatalf("second body while the first holds the budget: status %d, want 503 with Retry-After", res.StatusCode)
		}
		if !strings.Contains(logs.String(), "body budget") {
			t.Errorf("the refusal was not logged:\n%s", logs)
		}
		first.write("a")
		if res, body := first.response(); res.StatusCode != 200 || len(body) != len("plain POST / ")+size {
			t.Fatalf("first body: status %d, %d bytes", res.StatusCode, len(body))
		}
		waitFor(t, func() bool { return rt.Stats().BodyBytes == 0 })
		if res, body := post(strings.NewReader(strings.Repeat("c", size))); res.StatusCode != 200 || len(body) != len("plain POST / ")+size {
			t.Fatalf("second body once the budget is back: status %d, %d bytes", res.StatusCode, len(body))
		}
	})
}

// A body that keeps trickling, so no single read is ever idle, is still cut
// at BodyTimeout with 408.
func TestBodyDeadline(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, Config{BodyTimeout: time.Second})
	p, _ := program(t, rt, "plain")
	srv, _ := serveProgram(t, rt, p)
	b := startBody(t, srv.URL, "/", -1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if b.write("1\r\nx\r\n") != nil {
				return
			}
		}
	}()
	if res, body := b.response(); res.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d (%q), want 408", res.StatusCode, body)
	}
	waitFor(t, func() bool { return rt.Stats().BodyBytes == 0 && rt.Stats().Reading == 0 })
}

// A tenant whose reader places are all taken by bodies that trickle is
// refused before its next body is read, while its requests without a body
// still run; and one tenant's backlog never fills the queue that other
// tenants wait in.
func TestTenantQueueIsFair(t *testing.T) {
	rt, _ := newRuntime(t, Config{Concurrency: 2, QueueSize: 4, TenantQueue: 1, Timeout: 20 * time.Second})
	greedy, _ := program(t, rt, "plain")
	greedy.Tenant = "greedy"
	polite, _ := program(t, rt, "plain")
	polite.Tenant = "polite"
	greedySrv, _ := serveProgram(t, rt, greedy)
	politeSrv, _ := serveProgram(t, rt, polite)

	t.Run("admission before the body", func(t *testing.T) {
		// Two bodies that never finish fill the tenant's two reader
		// places (TenantConcurrency 1 + TenantQueue 1).
		for range 2 {
			startBody(t, greedySrv.URL, "/", 100).write("partial")
		}
		waitFor(t, func() bool { return rt.Stats().Reading == 2 })
		third := startBody(t, greedySrv.URL, "/", 100)
		third.write(strings.Repeat("z", 100))
		res, _ := third.response()
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
			t.Fatalf("third body of a tenant at its reader places: status %d, want 503 with Retry-After", res.StatusCode)
		}
		if res, body := get(t, greedySrv.URL+"/ok"); res.StatusCode != 200 || body != "plain GET /ok " {
			t.Fatalf("a request without a body while bodies trickle: %d %q", res.StatusCode, body)
		}
	})
	// Both partial bodies are gone and have left their places.
	waitFor(t, func() bool {
		rt.tenantMu.Lock()
		defer rt.tenantMu.Unlock()
		return len(rt.tenants) == 0
	})

	// The greedy tenant floods slow requests: one runs, one waits, the
	// rest are refused; the queue keeps room for others.
	const flood = 6
	var refused, answered atomic.Int64
	var wg sync.WaitGroup
	floodCtx, stopFlood := context.WithCancel(t.Context())
	defer stopFlood()
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _ := fetch(http.NewRequestWithContext(floodCtx, http.MethodGet, greedySrv.URL+"/sleep?ms=3000", nil))
			if st == http.StatusServiceUnavailable {
				refused.Add(1)
			}
			answered.Add(1)
		}()
	}
	waitFor(t, func() bool {
		s := rt.Stats()
		return s.Running == 1 && int(refused.Load())+s.Running+s.Waiting == flood
	})
	if s := rt.Stats(); s.Waiting != 1 {
		t.Fatalf("one tenant holds %d of the %d queue places", s.Waiting, rt.Config().QueueSize)
	}

	// The polite tenant takes the free slot and then has to queue.
	politeDone := make(chan int, 1)
	go func() {
		st, _ := fetch(http.NewRequest(http.MethodGet, politeSrv.URL+"/sleep?ms=1000", nil))
		politeDone <- st
	}()
	waitFor(t, func() bool { return rt.Stats().Running == 2 })
	res, body := get(t, politeSrv.URL+"/ok")
	if res.StatusCode != 200 || body != "plain GET /ok " {
		t.Fatalf("the polite tenant's queued request: %d %q", res.StatusCode, body)
	}
	if st := <-politeDone; st != 200 {
		t.Fatalf("the polite tenant's running request: %d", st)
	}
	// The flood has made its point: cancelled, its requests end now
	// rather than after two more 3-second sleeps one behind the other.
	stopFlood()
	wg.Wait()
}
