package coalesce_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host/coalesce"
)

// pair returns a held-capable server side and the raw client side of one
// loopback TCP connection.
func pair(t *testing.T) (*coalesce.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	wl := coalesce.Listener(ln)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := wl.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	c := <-accepted
	sc, ok := c.(*coalesce.Conn)
	if !ok {
		t.Fatalf("Accept returned %T, want *coalesce.Conn", c)
	}
	t.Cleanup(func() { sc.Close() })
	return sc, client
}

// nothingArrives fails when c can read a byte within a short wait.
func nothingArrives(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var b [1]byte
	n, err := c.Read(b[:])
	var ne net.Error
	if n != 0 || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read %d bytes (err %v) while the writes were held", n, err)
	}
	c.SetReadDeadline(time.Time{})
}

func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

func TestHeldWritesLeaveTogetherOnDone(t *testing.T) {
	sc, client := pair(t)
	sc.Hold()
	var want []byte
	for _, s := range []string{"HTTP/1.1 200 OK\r\n", "Content-Length: 5\r\n\r\n", "hello"} {
		if n, err := sc.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write = %d, %v", n, err)
		}
		want = append(want, s...)
	}
	nothingArrives(t, client)

	rec := httptest.NewRecorder()
	sc.Done(rec)
	if got := readN(t, client, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Not holding any more: a write goes straight out.
	sc.Write([]byte("next"))
	if got := readN(t, client, 4); string(got) != "next" {
		t.Fatalf("after Done got %q", got)
	}
}

func TestLargeWriteCarriesHeldBytesInOrder(t *testing.T) {
	sc, client := pair(t)
	head := []byte("header bytes;")
	body := bytes.Repeat([]byte("0123456789abcdef"), 100<<10/16) // larger than what is held
	sc.Hold()
	sc.Write(head)
	done := make(chan error, 1)
	go func() { // the peer's buffers may need draining before a 100 KiB write completes
		n, err := sc.Write(body)
		if err == nil && n != len(body) {
			err = fmt.Errorf("Write = %d, want %d", n, len(body))
		}
		done <- err
	}()
	got := readN(t, client, len(head)+len(body)) // arrives before Done: large writes are not held
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(head)], head) || !bytes.Equal(got[len(head):], body) {
		t.Fatal("held bytes and the large write arrived out of order or changed")
	}
	sc.Write([]byte("tail"))
	nothingArrives(t, client) // still holding small writes
	sc.Done(httptest.NewRecorder())
	if got := readN(t, client, 4); string(got) != "tail" {
		t.Fatalf("got %q", got)
	}
}

func TestWriteAfterPeerGoneFails(t *testing.T) {
	sc, client := pair(t)
	client.Close()
	big := make([]byte, 1<<20)
	var err error
	for range 50 { // the first writes may still be accepted by the kernel
		if _, err = sc.Write(big); err != nil {
			break
		}
	}
	if err == nil {
		t.Fatal("writes to a closed peer kept succeeding")
	}
	sc.Hold()
	if _, err := sc.Write([]byte("x")); err == nil {
		t.Fatal("a held write on a failed connection succeeded")
	}
	sc.Done(httptest.NewRecorder())
}

func TestNilConnIsANoOp(t *testing.T) {
	c := coalesce.From(context.Background())
	if c != nil {
		t.Fatalf("From on a bare context = %v", c)
	}
	c.Hold()
	c.Done(httptest.NewRecorder())
}

func TestReadFromSendsHeldBytesFirst(t *testing.T) {
	sc, client := pair(t)
	f, err := os.CreateTemp(t.TempDir(), "body")
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("file "), 20000)
	f.Write(body)
	f.Seek(0, io.SeekStart)
	defer f.Close()
	sc.Hold()
	sc.Write([]byte("held:"))
	done := make(chan error, 1)
	go func() { _, err := sc.ReadFrom(f); done <- err }()
	got := readN(t, client, 5+len(body))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if string(got[:5]) != "held:" || !bytes.Equal(got[5:], body) {
		t.Fatal("ReadFrom did not send the held bytes first")
	}
	sc.Done(httptest.NewRecorder())
}

// TestHTTPServer serves responses of every size around net/http's 4 KiB
// buffer, with and without a declared length, HEAD, and pipelined requests,
// through a real http.Server on a wrapped listener, and checks every byte.
func TestHTTPServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	body := func(n int) []byte { return bytes.Repeat([]byte{'a' + byte(n%26)}, n) }
	srv := &http.Server{
		ConnContext: coalesce.ConnContext,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := coalesce.From(r.Context())
			if c == nil {
				t.Error("no coalesce.Conn for a request on a wrapped listener")
			}
			c.Hold()
			defer c.Done(w)
			n, _ := strconv.Atoi(r.URL.Query().Get("n"))
			if r.URL.Query().Get("len") != "no" {
				w.Header().Set("Content-Length", strconv.Itoa(n))
			}
			w.Write(body(n))
		}),
	}
	go srv.Serve(coalesce.Listener(ln))
	t.Cleanup(func() { srv.Close() })

	sizes := []int{0, 1, 100, 2047, 2048, 4000, 4095, 4096, 4097, 8192, 16 << 10, 16<<10 + 1, 100 << 10, 2 << 20}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// All requests pipelined in one go, then all responses read in order.
	var reqs bytes.Buffer
	type want struct {
		n      int
		method string
		sized  bool
	}
	var wants []want
	for _, n := range sizes {
		for _, sized := range []bool{true, false} {
			q := fmt.Sprintf("/?n=%d", n)
			if !sized {
				q += "&len=no"
			}
			for _, m := range []string{"GET", "HEAD"} {
				fmt.Fprintf(&reqs, "%s %s HTTP/1.1\r\nHost: x\r\n\r\n", m, q)
				wants = append(wants, want{n, m, sized})
			}
		}
	}
	go c.Write(reqs.Bytes())
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for _, w := range wants {
		req, _ := http.NewRequest(w.method, "/", nil)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("%s n=%d sized=%v: %v", w.method, w.n, w.sized, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s n=%d sized=%v: body: %v", w.method, w.n, w.sized, err)
		}
		if w.method == "HEAD" {
			if len(got) != 0 {
				t.Fatalf("HEAD n=%d got a body", w.n)
			}
			continue
		}
		if !bytes.Equal(got, body(w.n)) {
			t.Fatalf("GET n=%d sized=%v: got %d bytes, want %d", w.n, w.sized, len(got), w.n)
		}
	}
}

// BenchmarkResponse compares a keep-alive GET over loopback served plainly
// and with the writes gathered (bench/static.sh measures the whole host).
func BenchmarkResponse(b *testing.B) {
	for _, size := range []int{4 << 10, 100 << 10} {
		body := bytes.Repeat([]byte("x"), size)
		for _, gathered := range []bool{false, true} {
			name := fmt.Sprintf("%dKiB/plain", size>>10)
			if gathered {
				name = fmt.Sprintf("%dKiB/gathered", size>>10)
			}
			b.Run(name, func(b *testing.B) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					c := coalesce.From(r.Context())
					c.Hold()
					w.Header().Set("Content-Length", strconv.Itoa(len(body)))
					w.Write(body)
					c.Done(w)
				})}
				if gathered {
					ln = coalesce.Listener(ln)
					srv.ConnContext = coalesce.ConnContext
				}
				go srv.Serve(ln)
				defer srv.Close()
				url := "http://" + ln.Addr().String() + "/"
				b.SetBytes(int64(size))
				b.RunParallel(func(pb *testing.PB) {
					buf := make([]byte, 32<<10)
					for pb.Next() {
						resp, err := http.Get(url)
						if err != nil {
							b.Error(err)
							return
						}
						io.CopyBuffer(io.Discard, resp.Body, buf)
						resp.Body.Close()
					}
				})
			})
		}
	}
}

// unwrapOnly is middleware's usual response writer: it wraps another and
// says so with Unwrap, without a Flush method of its own.
type unwrapOnly struct{ http.ResponseWriter }

func (u unwrapOnly) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// TestDoneFlushesThroughWrappers: Done flushes the response writer under
// any middleware wrappers, so that net/http's buffered end of a sized
// response leaves with the held bytes instead of in a second write.
func TestDoneFlushesThroughWrappers(t *testing.T) {
	sc, _ := pair(t)
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Length", "5")
	sc.Hold()
	sc.Done(unwrapOnly{unwrapOnly{rec}})
	if !rec.Flushed {
		t.Fatal("Done did not flush the writer under the wrappers")
	}
}

// Arrived reports when a request's first bytes were read, once: the host
// charges a long request the time net/http spent reading and parsing it
// from then, and takes the mark again when a handler ends so that reads of
// its body are not taken for the next request's arrival.
func TestArrivedMarksTheFirstReadOfEachRequest(t *testing.T) {
	sc, client := pair(t)
	if got := sc.Arrived(); !got.IsZero() {
		t.Fatalf("Arrived before any read = %v, want zero", got)
	}
	before := time.Now()
	if _, err := client.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	readN(t, sc, 5)
	afterFirst := time.Now()
	readN(t, sc, 11) // later reads of the same request move nothing
	got := sc.Arrived()
	if got.Before(before) || got.After(afterFirst) {
		t.Errorf("Arrived = %v, want between %v and %v (the first read)", got, before, afterFirst)
	}
	if again := sc.Arrived(); !again.IsZero() {
		t.Errorf("Arrived a second time = %v, want zero until more bytes come", again)
	}
	var nilConn *coalesce.Conn
	if got := nilConn.Arrived(); !got.IsZero() {
		t.Errorf("Arrived on a nil Conn = %v, want zero", got)
	}
}
