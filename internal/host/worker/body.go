package worker

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Request bodies are buffered before a guest runs (the guest reads them
// from stdin, and a run slot must not wait on a slow client). They are
// buffered in chunks that grow with the bytes that actually arrived, never
// from the declared Content-Length: declaring 10 MiB costs nothing until
// 10 MiB is sent. Every chunk is paid for from one host-wide budget first,
// so all the bodies being buffered or waiting for their guest together
// stay under Config.BodyBudget however many clients send them.
const (
	minBodyChunk = 4 << 10   // first chunk of a body
	maxBodyChunk = 256 << 10 // chunks double up to this size
)

// bodyBudget is the host-wide allowance of bytes for buffered request
// bodies.
type bodyBudget struct {
	limit int64
	used  atomic.Int64
}

// take reserves n bytes, or reports false without reserving any.
func (b *bodyBudget) take(n int64) bool {
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *bodyBudget) give(n int64) { b.used.Add(-n) }

// requestBody is a buffered request body: its chunks, in order, and the
// budget they hold until release.
type requestBody struct {
	budget *bodyBudget
	chunks [][]byte
	size   int64
	held   int64
}

// reader streams the body to the guest's stdin.
func (b *requestBody) reader() io.Reader {
	rs := make([]io.Reader, len(b.chunks))
	for i, c := range b.chunks {
		rs[i] = bytes.NewReader(c)
	}
	return io.MultiReader(rs...)
}

// release gives the body's bytes back to the budget. It is idempotent.
func (b *requestBody) release() {
	b.budget.give(b.held)
	b.held = 0
	b.chunks = nil
}

// bodyDeadliner is a request body that manages the connection's read
// deadline itself, as the host's idle-body watchdog does: such a body is
// told the whole-body deadline instead of having it set on the connection,
// where its next read would override it.
type bodyDeadliner interface {
	SetBodyDeadline(time.Time)
}

// readBody buffers the request body, at most MaxBody bytes, within
// BodyTimeout and the shared budget. A non-zero status means the request
// must be refused with it: 413 for a body over MaxBody (or larger than the
// whole budget), 503 when the budget is spent by other requests, 408 when
// the body did not arrive in time, 400 when it broke off. The body must be
// released in every case.
func (rt *Runtime) readBody(w http.ResponseWriter, r *http.Request) (*requestBody, int) {
	b := &requestBody{budget: &rt.bodies}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return b, 0
	}
	if r.ContentLength > rt.cfg.MaxBody || r.ContentLength > rt.bodies.limit {
		return b, http.StatusRequestEntityTooLarge
	}
	rt.reading.Add(1)
	defer rt.reading.Add(-1)
	deadline := time.Now().Add(rt.cfg.BodyTimeout)
	if d, ok := r.Body.(bodyDeadliner); ok {
		d.SetBodyDeadline(deadline)
	} else {
		_ = http.NewResponseController(w).SetReadDeadline(deadline)
	}
	// One byte past MaxBody shows that a body without a length is too
	// large; one past a declared length sees its end.
	limit := rt.cfg.MaxBody + 1
	if r.ContentLength > 0 {
		limit = r.ContentLength + 1
	}
	var cur []byte
	for {
		if len(cur) == cap(cur) {
			n := min(max(b.size, minBodyChunk), maxBodyChunk, limit-b.size)
			if !rt.bodies.take(n) {
				if b.held+n > rt.bodies.limit {
					return b, http.StatusRequestEntityTooLarge
				}
				return b, http.StatusServiceUnavailable
			}
			b.held += n
			cur = make([]byte, 0, n)
			b.chunks = append(b.chunks, cur)
		}
		n, err := r.Body.Read(cur[len(cur):cap(cur)])
		cur = cur[:len(cur)+n]
		b.chunks[len(b.chunks)-1] = cur
		b.size += int64(n)
		switch {
		case b.size > rt.cfg.MaxBody:
			return b, http.StatusRequestEntityTooLarge
		case err == io.EOF:
			return b, 0
		case err != nil && isTimeout(err), err == nil && time.Now().After(deadline):
			return b, http.StatusRequestTimeout
		case err != nil:
			return b, http.StatusBadRequest
		}
	}
}

// warnBodyBudget tells the operator that bodies are being refused for want
// of budget, at most once a minute however many are.
func (rt *Runtime) warnBodyBudget(log *slog.Logger) {
	now := time.Now().UnixNano()
	last := rt.budgetWarned.Load()
	if now-last < int64(time.Minute) || !rt.budgetWarned.CompareAndSwap(last, now) {
		return
	}
	log.Warn("request body refused with 503: the bodies buffered for server code hold all of the body budget",
		"budget", rt.cfg.BodyBudget)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
