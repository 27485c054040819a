package client

import (
	"io"
	"sync"
	"time"
)

// watchdog cancels an upload attempt that stops moving. While the body is
// being sent, the limit is the stall timeout since the last byte; once the
// body is sent, the host gets the request timeout to answer. A fixed
// per-request deadline would either cut slow links off or let a dead one
// hang for minutes; this does neither.
type watchdog struct {
	mu       sync.Mutex
	last     time.Time
	limit    time.Duration
	answer   time.Duration
	done     chan struct{}
	stopOnce sync.Once
}

func newWatchdog(stall, answer time.Duration, fire func()) *watchdog {
	w := &watchdog{last: time.Now(), limit: stall, answer: answer, done: make(chan struct{})}
	tick := min(stall/4, time.Second)
	go func() {
		t := time.NewTicker(max(tick, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case now := <-t.C:
				w.mu.Lock()
				idle, limit := now.Sub(w.last), w.limit
				w.mu.Unlock()
				if idle > limit {
					fire()
					return
				}
			}
		}
	}()
	return w
}

// moved records that body bytes went out.
func (w *watchdog) moved() {
	w.mu.Lock()
	w.last = time.Now()
	w.mu.Unlock()
}

// sent switches to waiting for the answer.
func (w *watchdog) sent() {
	w.mu.Lock()
	w.last = time.Now()
	w.limit = w.answer
	w.mu.Unlock()
}

// responded ends the watch: headers arrived. Reading the (small) answer body
// is bounded by the parent context only.
func (w *watchdog) responded() { w.stop() }

func (w *watchdog) stop() { w.stopOnce.Do(func() { close(w.done) }) }

// watchedReader feeds the watchdog and a progress callback as the transport
// reads the request body, and keeps the first read error so that a local
// failure (a file changed under us) is not mistaken for a network one.
type watchedReader struct {
	r        io.Reader
	w        *watchdog
	progress func(n int)
	mu       sync.Mutex
	err      error
}

// firstErr returns the first read error other than io.EOF, if any. The
// transport may still be reading on another goroutine, hence the lock.
func (r *watchedReader) firstErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *watchedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		if r.w != nil {
			r.w.moved()
		}
		if r.progress != nil {
			r.progress(n)
		}
	}
	if err == io.EOF && r.w != nil {
		r.w.sent()
	}
	if err != nil && err != io.EOF {
		r.mu.Lock()
		if r.err == nil {
			r.err = err
		}
		r.mu.Unlock()
	}
	return n, err
}

// Close closes the underlying reader if it can be closed, so that the
// transport's close of the request body stops a streaming body writer.
func (r *watchedReader) Close() error {
	if c, ok := r.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
