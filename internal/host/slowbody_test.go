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

	"github.com/cfdeploy/cfdeploy/pkg/api"
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

// TestDeclaredLengthOverLimit announces bodies far over the limit and sends
// none of them: the 413 must come at once, from the declared length, for
// JSON and multipart bodies alike (without the check the host would wait for
// the body that never comes), and so must any other refusal.
func TestDeclaredLengthOverLimit(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("big claims")
	for _, c := range []struct {
		name, path, contentType string
		status                  int
	}{
		{"session", "/__api/projects/" + p.ID + "/assets-upload-session", "application/json", http.StatusRequestEntityTooLarge},
		{"multipart bucket", "/__api/projects/" + p.ID + "/assets/upload", "multipart/form-data; boundary=x", http.StatusRequestEntityTooLarge},
		{"JSON bucket", "/__api/projects/" + p.ID + "/assets/upload", "application/json", http.StatusRequestEntityTooLarge},
		// Refused before the body matters: net/http must still see the
		// unread body as too big to drain and answer at once.
		{"refused token", "/__api/projects/" + p.ID + "/assets/upload?bad", "application/json", http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(th.srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			auth := testToken
			switch {
			case strings.HasSuffix(c.path, "?bad"):
				auth = "not-a-token"
			case strings.HasSuffix(c.path, "/upload"):
				auth = th.uploadToken(p.ID)
			}
			io.WriteString(conn, "POST "+c.path+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+auth+
				"\r\nContent-Type: "+c.contentType+"\r\nContent-Length: 1099511627776\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer to a 1 TiB claim: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
		})
	}
}

// uploadToken opens an upload session for one new file and returns its
// upload token.
func (th *testHost) uploadToken(projectID string) string {
	th.t.Helper()
	resp, body := th.do("POST", "/__api/projects/"+projectID+"/assets-upload-session",
		api.UploadSessionRequest{Manifest: siteFiles{"/claim.txt": "claim " + th.t.Name()}.manifest()})
	return want[api.UploadSessionResponse](th.t, resp, body, http.StatusOK).Result.JWT
}
