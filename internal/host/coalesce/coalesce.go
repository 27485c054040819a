// Package coalesce lets one HTTP/1.1 response leave the server in one write
// system call.
//
// net/http writes a response through a fixed 4 KiB connection buffer, so a
// 4 KiB asset goes out as two writes — the buffer when it fills, the rest when
// the handler returns — and a 100 KiB asset as a 4 KiB write followed by the
// remainder. On loopback and on busy links every write is a TCP segment with
// its own trip through the stack and its own wake-up of the reader; profiling
// cfhost under wrk put half of its CPU in those writes. A Conn from Listener
// holds a response's small writes while the handler has asked it to, and
// sends them with the next large write (one writev) or when the handler is
// done.
//
// Wiring: wrap the listener with Listener, set http.Server.ConnContext to
// ConnContext, and around a handler that knows its response length call
// From(ctx).Hold() before it and Done(w) after it. Everything is a no-op on
// connections that are not wrapped (TLS, tests with httptest), so handlers may
// call it unconditionally.
package coalesce

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// maxHeld is how many bytes a held connection copies before it sends them:
// writes larger than what is left go out at once, with the held bytes in
// front, so large bodies are never copied.
const maxHeld = 16 << 10

var heldBuffers = sync.Pool{New: func() any { b := make([]byte, 0, maxHeld); return &b }}

// Listener wraps ln so that the TCP connections it accepts can hold writes.
// Connections of other kinds pass through unwrapped.
func Listener(ln net.Listener) net.Listener { return listener{ln} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		return &Conn{TCPConn: tc}, nil
	}
	return c, nil
}

type ctxKey struct{}

// ConnContext is an http.Server.ConnContext that makes the Conn serving a
// request reachable from the request's context with From.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if cc, ok := c.(*Conn); ok {
		return context.WithValue(ctx, ctxKey{}, cc)
	}
	return ctx
}

// From returns the Conn a request arrived on, or nil when it did not arrive
// on a Conn (a nil *Conn's methods do nothing).
func From(ctx context.Context) *Conn {
	c, _ := ctx.Value(ctxKey{}).(*Conn)
	return c
}

// Conn is a TCP connection that can hold the writes of one response.
// net/http writes to a connection only from the goroutine serving it, which
// is also the one running the handler, so Conn needs no lock.
type Conn struct {
	*net.TCPConn
	held *[]byte // non-nil while holding
	vec  [2][]byte
	bufs net.Buffers
	err  error // the first failed send; later writes report it
	// arrived is when the bytes of the next request began to arrive, in
	// Unix nanoseconds, or 0 before they have. Read sets it, on net/http's
	// reading goroutine; Arrived takes it.
	arrived atomic.Int64
}

// Read reads from the connection and notes when the first bytes of a
// request arrive, for Arrived.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	if n > 0 && c.arrived.Load() == 0 {
		c.arrived.Store(time.Now().UnixNano())
	}
	return n, err
}

// Arrived returns when the bytes of the request now being served began to
// arrive (zero when unknown) and starts watching for the next request's.
// A handler calls it when it starts, so that the time net/http took to
// read and parse the request can be charged to it, and again when it ends,
// so that reads of its own body are not taken for the next request's.
func (c *Conn) Arrived() time.Time {
	if c == nil {
		return time.Time{}
	}
	if ns := c.arrived.Swap(0); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Hold starts gathering writes: until Done, writes that fit in the held
// buffer are kept rather than sent.
func (c *Conn) Hold() {
	if c == nil || c.held != nil || c.err != nil {
		return
	}
	c.held = heldBuffers.Get().(*[]byte)
}

// Done ends the hold for the response written to w and sends what is held.
// When the response declared its length it is complete in net/http's
// buffers, so Done flushes them first and the whole response leaves in one
// write. Without a declared length it does not flush, as net/http may still
// compute one when the handler returns; the rest then goes out as usual.
func (c *Conn) Done(w http.ResponseWriter) {
	if c == nil || c.held == nil {
		return
	}
	if _, ok := w.Header()["Content-Length"]; ok {
		flush(w)
	}
	c.release()
}

// flush flushes the first writer in w's chain of Unwrap methods that can
// be flushed. Middleware that records a status or rewrites headers
// usually wraps the writer without a Flush method of its own; missing it
// here would leave the end of the response for net/http to send after the
// handler returns: two writes, twice the work on loopback.
func flush(w http.ResponseWriter) {
	for {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}

// release sends the held bytes and stops holding.
func (c *Conn) release() {
	b := c.held
	c.held = nil
	if len(*b) > 0 && c.err == nil {
		if _, err := c.TCPConn.Write(*b); err != nil {
			c.err = err
		}
	}
	*b = (*b)[:0]
	heldBuffers.Put(b)
}

// Write sends p, or holds it while a hold is on and it fits.
func (c *Conn) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.held == nil || len(*c.held) == 0 && len(p) > maxHeld {
		n, err := c.TCPConn.Write(p)
		c.err = err
		return n, err
	}
	b := *c.held
	if len(b)+len(p) <= cap(b) {
		*c.held = append(b, p...)
		return len(p), nil
	}
	// One writev of the held bytes and p; the hold goes on for later writes.
	c.vec = [2][]byte{b, p}
	c.bufs = c.vec[:]
	n, err := c.bufs.WriteTo(c.TCPConn)
	c.vec = [2][]byte{}
	*c.held = b[:0]
	if err != nil {
		c.err = err
		sent := max(int(n)-len(b), 0)
		return sent, err
	}
	return len(p), nil
}

// ReadFrom keeps the TCP connection's sendfile and splice paths, sending
// anything held first. A *Section is sent from its file at its offset.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if s, ok := r.(*Section); ok && c.err == nil {
		return c.sendSection(s)
	}
	return c.readFrom(r)
}

// readFrom sends anything held, then r through the TCP connection's
// ReadFrom.
func (c *Conn) readFrom(r io.Reader) (int64, error) {
	if c.held != nil && len(*c.held) > 0 {
		b := *c.held
		*c.held = b[:0]
		if _, err := c.TCPConn.Write(b); err != nil {
			c.err = err
			return 0, err
		}
	}
	if c.err != nil {
		return 0, c.err
	}
	return c.TCPConn.ReadFrom(r)
}
