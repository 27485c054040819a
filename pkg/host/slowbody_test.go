package host

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStalledBodyIsCut sends request bodies over a raw connection: one that
// stops after a few bytes must be answered with a clear 400 once
// BodyIdleTimeout passes, instead of holding the connection forever; one
// that is slow but keeps moving must go through.
func TestStalledBodyIsCut(t *testing.T) {
	th := newTestHost(t, func(c *Config) { c.BodyIdleTimeout = 300 * time.Millisecond })
	body := `{"name":"slow but steady"}`
	cases := []struct {
		name   string
		sent   string // bytes sent before the pause, or all with pace
		pace   time.Duration
		status int
	}{
		{"stalls", body[:5], 0, http.StatusBadRequest},
		{"slow but moving", body, 60 * time.Millisecond, http.StatusCreated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(th.srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(conn, "POST /__api/projects HTTP/1.1\r\nHost: x\r\nAuthorization: "+testToken+
				"\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n")
			start := time.Now()
			for i := 0; i < len(c.sent); i += 4 {
				io.WriteString(conn, c.sent[i:min(i+4, len(c.sent))])
				time.Sleep(c.pace)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer after %s: %v", time.Since(start), err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			if c.status == http.StatusBadRequest && !strings.Contains(string(b), "stopped arriving") {
				t.Fatalf("unclear error: %s", b)
			}
		})
	}
}
