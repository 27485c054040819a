package host

import (
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// defaultBodyIdleTimeout is how long a request body may send nothing before
// the connection is cut (Config.BodyIdleTimeout).
const defaultBodyIdleTimeout = 30 * time.Second

// idleBody gives each read of a request body a fresh deadline. The server
// has no ReadTimeout, because a 64 MiB upload on a slow link must be allowed
// to take minutes; instead a body that stops moving is cut, so a client
// trickling bytes (or none) after its headers cannot hold a connection and
// a handler forever. It matches the client's own stall watchdog.
type idleBody struct {
	io.ReadCloser
	ctl  *http.ResponseController
	idle time.Duration
	// until is a deadline for the whole body, set by whoever reads it
	// (server code has one; API uploads do not); zero for none.
	until time.Time
}

// watchBody wraps r.Body when the request has one and the connection
// supports deadlines (a real server does; some test recorders do not). It
// returns a function that puts the original body back, to be called before
// ServeHTTP returns: net/http looks at the body's own type after the
// handler to decide whether an unread remainder is small enough to drain or
// the connection must close, and a wrapper would make it wait for a body a
// refused client never sends.
func (h *Host) watchBody(w http.ResponseWriter, r *http.Request) (restore func()) {
	if r.Body == nil || r.Body == http.NoBody {
		return func() {}
	}
	ctl := http.NewResponseController(w)
	if ctl.SetReadDeadline(time.Now().Add(h.cfg.BodyIdleTimeout)) != nil {
		return func() {}
	}
	orig := r.Body
	r.Body = &idleBody{ReadCloser: orig, ctl: ctl, idle: h.cfg.BodyIdleTimeout}
	return func() { r.Body = orig }
}

func (b *idleBody) Read(p []byte) (int, error) {
	d := time.Now().Add(b.idle)
	if !b.until.IsZero() && b.until.Before(d) {
		d = b.until
	}
	b.ctl.SetReadDeadline(d)
	return b.ReadCloser.Read(p)
}

// SetBodyDeadline bounds the time the rest of the body may take, besides
// the idle limit of each read. Reads are made by the one handler goroutine
// that calls it, so no lock is needed.
func (b *idleBody) SetBodyDeadline(t time.Time) { b.until = t }

// errStalledBody answers a request whose body stopped arriving.
var errStalledBody = api.Errorf(api.CodeInvalid, "the request body stopped arriving; send it without long pauses")

// stalled reports whether a body read failed on the idle deadline.
func stalled(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
