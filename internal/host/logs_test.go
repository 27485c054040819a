package host

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host/projectlog"
	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// logWorker logs on every request and throws on /throw.
const logWorker = `export default {
  async fetch(request) {
    const url = new URL(request.url);
    console.log("hello from", url.pathname);
    console.warn("careful");
    if (url.pathname === "/throw") {
      throw new TypeError("thrown on purpose");
    }
    return new Response("ok");
  },
};
`

// deployJS deploys one JS module as the project's server code.
func (th *testHost) deployJS(projectID, source string) {
	th.t.Helper()
	th.deploy(projectID, siteFiles{"/index.html": "<p>home</p>"}, func(r *api.DeployRequest) {
		r.ServerCode = &api.ServerCode{Entrypoint: "index.js", Modules: map[string]api.Module{
			"index.js": {Content: base64.StdEncoding.EncodeToString([]byte(source))},
		}}
	})
}

// logLines reads a non-following logs answer.
func (th *testHost) logLines(projectID string) []api.LogEntry {
	th.t.Helper()
	resp, body := th.do("GET", "/__api/projects/"+projectID+"/logs", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		th.t.Fatalf("logs: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var out []api.LogEntry
	for line := range strings.SplitSeq(strings.TrimSpace(string(body)), "\n") {
		if line == "" {
			continue
		}
		var e api.LogEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			th.t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

// TestLogsJS: console lines and an uncaught error with its stack reach the
// project's log with the request's method and path; a project token reads
// its own project's log only; deleting the project drops it.
func TestLogsJS(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("logger")
	other := th.createProject("other")
	th.deployJS(p.ID, logWorker)
	th.deployJS(other.ID, `export default { fetch() { console.log("other's secret"); return new Response("x"); } };`)
	sub := p.ID + ".localhost"
	if resp, body := th.fetch(sub, "/api/one"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("fetch: %d %q", resp.StatusCode, body)
	}
	if resp, _ := th.fetch(sub, "/throw"); resp.StatusCode != 500 {
		t.Fatalf("throw: %d", resp.StatusCode)
	}
	th.fetch(other.ID+".localhost", "/x")

	lines := th.logLines(p.ID)
	if len(lines) != 5 {
		t.Fatalf("got %d lines: %+v", len(lines), lines)
	}
	first := lines[0]
	if first.Source != api.LogConsole || first.Level != "log" || first.Message != "hello from /api/one" || first.Method != "GET" || first.Path != "/api/one" || first.Deployment == "" {
		t.Errorf("first line %+v", first)
	}
	if lines[1].Level != "warn" || lines[1].Message != "careful" {
		t.Errorf("warn line %+v", lines[1])
	}
	exc := lines[4]
	if exc.Source != api.LogException || exc.Status != 500 || !strings.Contains(exc.Message, "TypeError: thrown on purpose") || !strings.Contains(exc.Message, "index.js") {
		t.Errorf("exception line %+v", exc)
	}
	for i := 1; i < len(lines); i++ {
		if lines[i].Seq <= lines[i-1].Seq {
			t.Errorf("seq not increasing: %d then %d", lines[i-1].Seq, lines[i].Seq)
		}
	}
	for _, l := range lines {
		if strings.Contains(l.Message, "other's secret") {
			t.Fatalf("another project's line: %+v", l)
		}
	}

	// A project token reads its own log and not another's.
	tok := th.createToken(p.ID, "tail").Value
	resp, body := th.as(tok).do("GET", "/__api/projects/"+p.ID+"/logs", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "hello from") {
		t.Fatalf("own logs with a project token: %d %s", resp.StatusCode, body)
	}
	resp, body = th.as(tok).do("GET", "/__api/projects/"+other.ID+"/logs", nil)
	wantError(t, resp, body, http.StatusForbidden, api.CodeForbidden)
	resp, body = th.as(tok).do("GET", "/__api/projects/"+other.ID+"/logs?follow=1", nil)
	wantError(t, resp, body, http.StatusForbidden, api.CodeForbidden)
	resp, body = th.do("GET", "/__api/projects/"+p.ID+"/logs?follow=maybe", nil)
	wantError(t, resp, body, http.StatusBadRequest, api.CodeInvalid)
	resp, body = th.do("GET", "/__api/projects/no-such-project/logs", nil)
	wantError(t, resp, body, http.StatusNotFound, api.CodeNotFound)

	th.do("DELETE", "/__api/projects/"+p.ID, nil)
	if n := len(th.h.logs.Lines(p.ID)); n != 0 {
		t.Errorf("%d lines outlived their project", n)
	}
}

// followLogs opens ?follow=1 and sends each line it reads on the channel
// until the stream ends, then closes it.
func (th *testHost) followLogs(projectID string) (<-chan api.LogEntry, func()) {
	th.t.Helper()
	req, err := http.NewRequest("GET", th.srv.URL+"/__api/projects/"+projectID+"/logs?follow=1", nil)
	if err != nil {
		th.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := th.srv.Client().Do(req)
	if err != nil {
		th.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		th.t.Fatalf("follow: %d", resp.StatusCode)
	}
	ch := make(chan api.LogEntry, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var e api.LogEntry
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				ch <- e
			}
		}
	}()
	var once sync.Once
	return ch, func() { once.Do(func() { resp.Body.Close() }) }
}

// next waits for the next followed line.
func next(t *testing.T, ch <-chan api.LogEntry) api.LogEntry {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("the stream ended")
		}
		return e
	case <-time.After(30 * time.Second):
		t.Fatal("no line within 30s")
	}
	return api.LogEntry{}
}

// TestLogsFollow: a follower gets the kept lines, then new ones as they
// come; readers past --logs-followers get 429; deleting the project ends
// the stream.
func TestLogsFollow(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.Logs.Followers = 2 })
	p := th.createProject("follow")
	th.deployJS(p.ID, logWorker)
	sub := p.ID + ".localhost"
	th.fetch(sub, "/before")

	ch, stop := th.followLogs(p.ID)
	defer stop()
	if e := next(t, ch); e.Message != "hello from /before" {
		t.Fatalf("backlog: %+v", e)
	}
	next(t, ch) // careful
	th.fetch(sub, "/after")
	if e := next(t, ch); e.Message != "hello from /after" || e.Path != "/after" {
		t.Fatalf("live line: %+v", e)
	}

	_, stop2 := th.followLogs(p.ID)
	defer stop2()
	resp, body := th.do("GET", "/__api/projects/"+p.ID+"/logs?follow=1", nil)
	wantError(t, resp, body, http.StatusTooManyRequests, api.CodeRateLimited)
	if !strings.Contains(string(body), "--logs-followers") {
		t.Errorf("429 body does not name the flag: %s", body)
	}

	th.do("DELETE", "/__api/projects/"+p.ID, nil)
	deadline := time.After(30 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("the stream outlived its project")
		}
	}
}

var (
	appGuestOnce sync.Once
	appGuest     []byte
	appGuestErr  error
)

// buildAppGuest compiles the worker package's test guest once per run.
func buildAppGuest(t *testing.T) []byte {
	t.Helper()
	appGuestOnce.Do(func() {
		out := filepath.Join(os.TempDir(), fmt.Sprintf("host-app-guest-%d.wasm", os.Getpid()))
		defer os.Remove(out)
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./worker/testdata/guests/app")
		cmd.Env = append(cmd.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			appGuestErr = fmt.Errorf("build app guest: %v\n%s", err, b)
			return
		}
		appGuest, appGuestErr = os.ReadFile(out)
	})
	if appGuestErr != nil {
		t.Fatal(appGuestErr)
	}
	return appGuest
}

// TestLogsWASI: a WASI guest's stderr reaches the project's log line by
// line, with why the request failed.
func TestLogsWASI(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a wasm guest")
	}
	wasm := buildAppGuest(t)
	th := newTestHost(t)
	p := th.createProject("wasi")
	th.deploy(p.ID, siteFiles{"/index.html": "x"}, func(r *api.DeployRequest) {
		r.ServerCode = &api.ServerCode{Entrypoint: "app.wasm", Modules: map[string]api.Module{
			"app.wasm": {Content: base64.StdEncoding.EncodeToString(wasm)},
		}}
	})
	if resp, _ := th.fetch(p.ID+".localhost", "/raw/panic"); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("panic: %d", resp.StatusCode)
	}
	lines := th.logLines(p.ID)
	var stderr, failure bool
	for _, l := range lines {
		switch {
		case l.Source == api.LogStderr && l.Message == "about to panic" && l.Path == "/raw/panic":
			stderr = true
		case l.Source == api.LogFailure && l.Status == http.StatusBadGateway:
			failure = true
		}
	}
	if !stderr || !failure {
		t.Fatalf("stderr %v failure %v in %+v", stderr, failure, lines)
	}
}

// TestLogBounds: one project's lines stay under its bound, all projects'
// under the total, a long line is cut, and a follower that does not read
// loses lines (counted) instead of holding up the code that logs.
func TestLogBounds(t *testing.T) {
	t.Parallel()
	b := projectlog.New(projectlog.Config{ProjectBytes: 10_000, TotalBytes: 30_000, Followers: 1, MaxLine: 100})
	for i := range 1000 {
		b.Append("noisy", api.LogEntry{Source: api.LogConsole, Level: "log", Message: fmt.Sprintf("line %d %s", i, strings.Repeat("x", 50))})
	}
	lines := b.Lines("noisy")
	if len(lines) == 0 || len(lines) > 10_000/128 || !strings.HasPrefix(lines[len(lines)-1].Message, "line 999 ") {
		t.Fatalf("%d lines kept, last %q", len(lines), lines[len(lines)-1].Message)
	}
	b.Append("noisy", api.LogEntry{Message: strings.Repeat("é", 500)})
	if m := b.Lines("noisy"); len(m[len(m)-1].Message) > 100 || !strings.HasSuffix(m[len(m)-1].Message, "(cut)") {
		t.Errorf("long line kept as %q", m[len(m)-1].Message)
	}
	for p := range 20 {
		for i := range 100 {
			b.Append(fmt.Sprintf("p%d", p), api.LogEntry{Message: fmt.Sprint(i)})
		}
	}
	if got := b.Bytes(); got > 30_000 {
		t.Errorf("all projects hold %d bytes, bound 30000", got)
	}
	if len(b.Lines("p19")) == 0 {
		t.Error("the newest project lost everything")
	}

	_, f, err := b.Follow("quiet")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, err := b.Follow("quiet"); err != projectlog.ErrTooManyFollowers {
		t.Fatalf("second follower: %v", err)
	}
	for i := range 1000 {
		b.Append("quiet", api.LogEntry{Message: fmt.Sprint(i)})
	}
	if n := f.Dropped(); n != int64(1000-cap(f.C)) {
		t.Errorf("dropped %d, want %d", n, 1000-cap(f.C))
	}
}

// TestTenantTextStaysOutOfTheHostLog: what server code prints is the
// tenant's text and belongs in the project's log; the host's own log (at its
// default level) gets at most a short excerpt of a failure, so a tenant cannot
// fill the operator's disk by logging or failing on every request.
func TestTenantTextStaysOutOfTheHostLog(t *testing.T) {
	t.Parallel()
	hostLog := &lockedBuffer{}
	th := newTestHost(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(hostLog, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	p := th.createProject("chatty")
	th.deployJS(p.ID, `export default {
  fetch(request) {
    const line = "tenant-text-" + "x".repeat(8000);
    for (let i = 0; i < 200; i++) console.log(line);
    if (new URL(request.url).pathname === "/throw") throw new Error("tenant-error-" + "y".repeat(15000));
    return new Response("ok");
  },
};`)
	sub := p.ID + ".localhost"
	for range 3 {
		if resp, body := th.fetch(sub, "/api"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("fetch: %d %q", resp.StatusCode, body)
		}
		if resp, _ := th.fetch(sub, "/throw"); resp.StatusCode != 500 {
			t.Fatalf("throw: %d", resp.StatusCode)
		}
	}
	if lines := th.logLines(p.ID); len(lines) == 0 || !strings.HasPrefix(lines[0].Message, "tenant-text-") {
		t.Fatalf("the project's log lacks the console lines: %d lines", len(lines))
	}
	// Six requests printed 9.6 MB and threw 90 KB; the host log may hold the
	// three failures' excerpts and the access lines, nothing more.
	got := hostLog.String()
	if strings.Contains(got, "tenant-text-") || len(got) > 16<<10 {
		t.Fatalf("host log holds %d bytes of tenant text: %.300q", len(got), got)
	}
	if !strings.Contains(got, "tenant-error-") {
		t.Errorf("the failures are missing from the host log: %.300q", got)
	}
}

// Config.JSLimits reaches the JS runtime: a host whose requests may make
// two subrequests and keep one console line answers accordingly.
func TestJSLimitsFromTheHostConfig(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.JSLimits.Subrequests, c.JSLimits.ConsoleLines = 2, 1 })
	p := th.createProject("limited")
	th.deployJS(p.ID, `export default { async fetch(request, env) {
		let ok = 0;
		for (let i = 0; i < 5; i++) { try { await env.ASSETS.fetch("/x"); ok++; } catch { break; } }
		console.log("one"); console.log("two");
		return new Response(String(ok));
	} };`)
	if resp, body := th.fetch(p.ID+".localhost", "/run"); resp.StatusCode != 200 || body != "2" {
		t.Fatalf("got %d %q, want 200 \"2\" (two subrequests)", resp.StatusCode, body)
	}
	if lines := th.logLines(p.ID); len(lines) != 1 || lines[0].Message != "one" {
		t.Errorf("log lines %+v, want just \"one\"", lines)
	}
}
