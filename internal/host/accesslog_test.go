package host

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host/accesslog"
	"github.com/cfdeploy/cfdeploy/internal/poll"
)

type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Every project request gets one access-log line with its status and the
// bytes of the body sent.
func TestAccessLogLine(t *testing.T) {
	t.Parallel()
	out := &lockedWriter{}
	w := accesslog.New(out, accesslog.Logfmt)
	th := newTestHost(t, func(c *Config) { c.AccessLog = true; c.AccessLogWriter = w })
	p := th.createProject("logged")
	th.deploy(p.ID, siteFiles{"/index.html": "<h1>logged</h1>"})
	resp, err := http.Get(th.srv.URL + "/__project/" + p.ID + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The line is written once the handler has returned, which may be
	// after the client has the whole response; the writer flushes within
	// a second.
	poll.Until(t, 10*time.Second, "the access-log line", func() bool { return strings.Contains(out.String(), "\n") })
	w.Close()
	line := out.String()
	for _, want := range []string{"method=GET", "path=/__project/" + p.ID + "/", "status=200", "bytes=15", "duration_us="} {
		if !strings.Contains(line, want) {
			t.Errorf("access log %q lacks %q", line, want)
		}
	}
	if n := strings.Count(line, "\n"); n != 1 {
		t.Errorf("%d lines for one project request (API calls are not access-logged): %q", n, line)
	}
}
