package host

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"

	"github.com/cfdeploy/cfdeploy/internal/poll"
)

// openSession asks for an upload session of files and returns the answer.
func (th *testHost) openSession(projectID string, files siteFiles) (*http.Response, []byte) {
	th.t.Helper()
	return th.do("POST", "/__api/projects/"+projectID+"/assets-upload-session", api.UploadSessionRequest{Manifest: files.manifest()})
}

// TestOpenSessionQuota: a project cannot keep more upload sessions open than
// --max-upload-sessions; deploying one frees its place, and other projects
// are not affected.
func TestOpenSessionQuota(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.MaxUploadSessions = 3 })
	p, other := th.createProject("hoarder"), th.createProject("neighbour")
	var tokens []string
	for i := range 3 {
		resp, body := th.openSession(p.ID, siteFiles{"/a.txt": fmt.Sprint("session ", i)})
		tokens = append(tokens, want[api.UploadSessionResponse](t, resp, body, http.StatusOK).Result.JWT)
	}
	resp, body := th.openSession(p.ID, siteFiles{"/a.txt": "one too many"})
	wantError(t, resp, body, http.StatusConflict, api.CodeConflict)
	if !strings.Contains(string(body), "3 upload sessions open") || !strings.Contains(string(body), "--max-upload-sessions") {
		t.Fatalf("unclear error: %s", body)
	}
	th.deploy(other.ID, siteFiles{"/index.html": "unaffected"})

	// Finish the first session: its place is free again.
	payload := map[string]string{sha([]byte("session 0")): "c2Vzc2lvbiAw"}
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/assets/upload", payload, "Authorization", "Bearer "+tokens[0])
	done := want[api.UploadResponse](t, resp, body, http.StatusCreated)
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/deploy", api.DeployRequest{CompletionJWT: *done.Result.JWT})
	want[api.DeployResponse](t, resp, body, http.StatusOK)
	resp, body = th.openSession(p.ID, siteFiles{"/a.txt": "room again"})
	want[api.UploadSessionResponse](t, resp, body, http.StatusOK)
}

// TestStoredBytesQuota: a session whose missing files would take the project
// over --max-project-bytes is refused with 413, counting what the project
// holds and what its other open sessions still have to send; a redeploy of
// what it holds is always accepted.
func TestStoredBytesQuota(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.MaxProjectBytes = 1000 })
	p, other := th.createProject("full"), th.createProject("neighbour")
	held := siteFiles{"/held.txt": strings.Repeat("h", 600)}
	th.deploy(p.ID, held)

	resp, body := th.openSession(p.ID, siteFiles{"/big.txt": strings.Repeat("b", 600)})
	wantError(t, resp, body, http.StatusRequestEntityTooLarge, api.CodeTooLarge)
	if !strings.Contains(string(body), "1200 bytes") || !strings.Contains(string(body), "--max-project-bytes") {
		t.Fatalf("unclear error: %s", body)
	}
	// 300 more fit; while that session is open, another 300 do not.
	resp, body = th.openSession(p.ID, siteFiles{"/small.txt": strings.Repeat("s", 300)})
	want[api.UploadSessionResponse](t, resp, body, http.StatusOK)
	resp, body = th.openSession(p.ID, siteFiles{"/small2.txt": strings.Repeat("t", 300)})
	wantError(t, resp, body, http.StatusRequestEntityTooLarge, api.CodeTooLarge)
	// Nothing to upload: never over the quota.
	th.deploy(p.ID, held)
	// The quota is the project's own.
	th.deploy(other.ID, siteFiles{"/big.txt": strings.Repeat("b", 900)})
}

// TestUploadBodiesWaitForBudget: while one bucket body of a project holds
// its whole in-flight budget, the project's next bucket waits without
// reading its body, another project's upload goes through, and the waiting
// bucket proceeds once the first is done. Nothing is left behind.
func TestUploadBodiesWaitForBudget(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.UploadBytesInFlight = 1 << 20 })
	p, other := th.createProject("busy"), th.createProject("neighbour")
	tok := th.uploadToken(p.ID)

	// The first bucket declares the whole budget and sends its body slowly.
	pr, pw := io.Pipe()
	first := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", th.srv.URL+"/__api/projects/"+p.ID+"/assets/upload", pr)
		req.ContentLength = 1 << 20
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := th.srv.Client().Do(req)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	io.WriteString(pw, `{"`)
	waitFor(t, "the first bucket to take the budget", func() bool { return th.h.uploads.inUse() == 1 })

	second := make(chan int, 1)
	go func() {
		resp, _ := th.do("POST", "/__api/projects/"+p.ID+"/assets/upload", `{"x":"eA=="}`, "Authorization", "Bearer "+tok)
		second <- resp.StatusCode
	}()
	waitFor(t, "the second bucket to wait", func() bool {
		select {
		case s := <-second:
			t.Fatalf("the second bucket was answered (%d) while the first held the project's budget", s)
		default:
		}
		th.h.uploads.mu.Lock()
		defer th.h.uploads.mu.Unlock()
		b := th.h.uploads.projects[p.ID]
		return b != nil && b.users == 2
	})
	// Another project is not held up by this one's uploads.
	th.deploy(other.ID, siteFiles{"/index.html": "unaffected"})
	select {
	case s := <-second:
		t.Fatalf("the second bucket was answered (%d) while the first held the project's budget", s)
	case <-time.After(time.Second):
	}

	// The first bucket ends (with a body that is not a bucket); the second
	// gets its turn.
	io.WriteString(pw, strings.Repeat("x", 100))
	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-first
	if s := <-second; s != http.StatusBadRequest {
		t.Fatalf("second bucket: status %d, want 400 for its unknown hash", s)
	}
	waitFor(t, "the budget to be released", func() bool { return th.h.uploads.inUse() == 0 })
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 20*time.Second, what, cond)
}

// TestRefusedDeployFreesSession: a deploy refused for what it asks does not
// leave its session open, so fixing a mistake a few times never runs into
// --max-upload-sessions.
func TestRefusedDeployFreesSession(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.MaxUploadSessions = 2 })
	p := th.createProject("trial and error")
	for i := range 4 {
		completion := th.upload(p.ID, siteFiles{"/index.html": fmt.Sprint("attempt ", i)})
		resp, body := th.do("POST", "/__api/projects/"+p.ID+"/deploy", api.DeployRequest{CompletionJWT: completion, Env: map[string]string{"bad name": "x"}})
		wantError(t, resp, body, http.StatusBadRequest, api.CodeInvalid)
	}
	th.deploy(p.ID, siteFiles{"/index.html": "fixed"})
}

// TestStaleSessionGivesWay: at the limit, a session opened longer ago than
// --upload-session-stale gives its place to the new one (an interrupted
// deploy never locks its project out), and its token then gets a clear
// answer.
func TestStaleSessionGivesWay(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.MaxUploadSessions = 2; c.UploadSessionStale = time.Millisecond })
	p := th.createProject("interrupted")
	var tokens []string
	for i := range 2 {
		resp, body := th.openSession(p.ID, siteFiles{"/a.txt": fmt.Sprint("interrupted ", i)})
		tokens = append(tokens, want[api.UploadSessionResponse](t, resp, body, http.StatusOK).Result.JWT)
	}
	time.Sleep(10 * time.Millisecond)
	th.deploy(p.ID, siteFiles{"/index.html": "after the interruptions"})
	payload := map[string]string{sha([]byte("interrupted 0")): "aW50ZXJydXB0ZWQgMA=="}
	resp, body := th.do("POST", "/__api/projects/"+p.ID+"/assets/upload", payload, "Authorization", "Bearer "+tokens[0])
	wantError(t, resp, body, http.StatusUnauthorized, api.CodeUnauthorized)
	if !strings.Contains(string(body), "start a new upload session") {
		t.Fatalf("unclear error: %s", body)
	}
}
