package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// fastOptions keep retries quick in tests.
func fastOptions() Options {
	return Options{Token: "tok", BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxAttempts: 4}
}

func newTestClient(t *testing.T, h http.Handler, opts Options) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeError(w http.ResponseWriter, status int, code api.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(api.NewErrorResponse(&api.Error{Code: code, Message: msg}))
}

func TestErrorDecoding(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantCode api.Code
		wantMsg  string
	}{
		{"code from body", 404, `{"success":false,"error":"no such project","errors":[{"code":"not_found","message":"no such project"}]}`, api.CodeNotFound, "no such project"},
		{"body code beats status", 400, `{"success":false,"error":"x","errors":[{"code":"too_large","message":"file too big"}]}`, api.CodeTooLarge, "file too big"},
		{"only error text", 409, `{"success":false,"error":"busy"}`, api.CodeConflict, "busy"},
		{"html from a proxy", 401, `<html>nope</html>`, api.CodeUnauthorized, "401 Unauthorized"},
		{"forbidden from the status", 403, `<html>nope</html>`, api.CodeForbidden, "403 Forbidden"},
		{"forbidden from the body", 403, `{"success":false,"error":"other project","errors":[{"code":"forbidden","message":"other project"}]}`, api.CodeForbidden, "other project"},
		{"empty body", 413, ``, api.CodeTooLarge, "413 Request Entity Too Large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}), fastOptions())
			_, err := c.GetProject(context.Background(), "p1")
			var ae *api.Error
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want *api.Error", err, err)
			}
			if ae.Code != tc.wantCode || ae.Message != tc.wantMsg {
				t.Errorf("got %q %q, want %q %q", ae.Code, ae.Message, tc.wantCode, tc.wantMsg)
			}
		})
	}
}

func TestRequestShape(t *testing.T) {
	var got *http.Request
	var body []byte
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		body, _ = io.ReadAll(r.Body)
		w.WriteHeader(201)
		io.WriteString(w, `{"success":true,"project":{"id":"abc","name":"n"}}`)
	}), fastOptions())
	p, err := c.CreateProject(context.Background(), "my site")
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "abc" || p.Name != "n" {
		t.Errorf("project = %+v", p)
	}
	if got.Method != "POST" || got.URL.Path != "/__api/projects" || got.Header.Get("Authorization") != "Bearer tok" {
		t.Errorf("request = %s %s auth %q", got.Method, got.URL.Path, got.Header.Get("Authorization"))
	}
	if string(body) != `{"name":"my site"}` {
		t.Errorf("body = %s", body)
	}
}

func TestProjectIDIsEscaped(t *testing.T) {
	var raw string
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw = r.URL.EscapedPath()
		io.WriteString(w, `{"success":true,"deployments":[]}`)
	}), fastOptions())
	if _, err := c.ListDeployments(context.Background(), "a/b?c"); err != nil {
		t.Fatal(err)
	}
	if raw != "/__api/projects/a%2Fb%3Fc/deployments" {
		t.Errorf("path = %s", raw)
	}
}

func TestPagination(t *testing.T) {
	pages := map[string]string{
		"":   `{"success":true,"projects":[{"id":"1"},{"id":"2"}],"cursor":"c2"}`,
		"c2": `{"success":true,"projects":[{"id":"3"}],"cursor":null}`,
	}
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, pages[r.URL.Query().Get("cursor")])
	}), fastOptions())
	ps, err := c.AllProjects(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 || ps[2].ID != "3" {
		t.Errorf("projects = %+v", ps)
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		call      func(*Client) error
		failures  int // answers with status before success
		status    int
		wantCalls int64
		wantErr   bool
	}{
		{"read retried on 500", func(c *Client) error { _, err := c.GetProject(context.Background(), "p"); return err }, 2, 500, 3, false},
		{"read gives up", func(c *Client) error { _, err := c.GetProject(context.Background(), "p"); return err }, 10, 502, 4, true},
		{"create not retried on 500", func(c *Client) error { _, err := c.CreateProject(context.Background(), "x"); return err }, 1, 500, 1, true},
		{"create retried on 503", func(c *Client) error { _, err := c.CreateProject(context.Background(), "x"); return err }, 1, 503, 2, false},
		{"4xx never retried", func(c *Client) error { _, err := c.GetProject(context.Background(), "p"); return err }, 1, 404, 1, true},
		{"429 retried", func(c *Client) error { _, err := c.GetProject(context.Background(), "p"); return err }, 1, 429, 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) <= int64(tc.failures) {
					writeError(w, tc.status, api.CodeForStatus(tc.status), "try again")
					return
				}
				w.WriteHeader(200)
				io.WriteString(w, `{"success":true,"project":{"id":"p"}}`)
			}), fastOptions())
			err := tc.call(c)
			if (err != nil) != tc.wantErr {
				t.Errorf("err = %v, want error %v", err, tc.wantErr)
			}
			if calls.Load() != tc.wantCalls {
				t.Errorf("calls = %d, want %d", calls.Load(), tc.wantCalls)
			}
		})
	}
}

// TestAuthRateLimitNotRetried: a 429 that says the host refuses this
// address's authentications is reported at once, not waited out.
func TestAuthRateLimitNotRetried(t *testing.T) {
	var calls atomic.Int64
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "60")
		writeError(w, 429, api.CodeRateLimited, "too many failed authentications")
	}), fastOptions())
	_, err := c.GetProject(context.Background(), "p")
	if api.ErrorCode(err) != api.CodeRateLimited || calls.Load() != 1 {
		t.Fatalf("err %v after %d calls; want rate_limited after 1", err, calls.Load())
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	var calls atomic.Int64
	var waits []time.Duration
	opts := fastOptions()
	opts.MaxRetryAfter = 1500 * time.Millisecond
	opts.OnRetry = func(ri RetryInfo) { waits = append(waits, ri.Wait) }
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "1")
			writeError(w, 503, api.CodeUnavailable, "busy")
		case 2:
			w.Header().Set("Retry-After", "3600") // capped by MaxRetryAfter
			writeError(w, 429, api.CodeUnavailable, "slow down")
		default:
			io.WriteString(w, `{"success":true,"result":{"status":"ok"}}`)
		}
	}), opts)
	if _, err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{time.Second, 1500 * time.Millisecond}
	if len(waits) != 2 || waits[0] != want[0] || waits[1] != want[1] {
		t.Errorf("waits = %v, want %v", waits, want)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"5":                             5 * time.Second,
		"0":                             0,
		"-3":                            0,
		"soon":                          0,
		"Wed, 01 Jan 2025 00:00:30 GMT": 30 * time.Second,
		"Tue, 31 Dec 2024 23:00:00 GMT": 0,
	}
	for in, want := range tests {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	c, err := New(url, fastOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.AllProjects(context.Background())
	var ue *UnreachableError
	if !errors.As(err, &ue) || ue.URL != url+"/__api/projects" {
		t.Fatalf("err = %v, want *UnreachableError for %s", err, url)
	}
}

func TestNewRejectsBadHost(t *testing.T) {
	for _, h := range []string{"", "localhost:8788", "ftp://x", "http://"} {
		if _, err := New(h, Options{}); err == nil {
			t.Errorf("New(%q) succeeded", h)
		}
	}
}

// bucketFiles writes files and returns them hashed, ready for UploadBucket.
func bucketFiles(t testing.TB, contents ...string) []manifest.File {
	t.Helper()
	dir := t.TempDir()
	var files []manifest.File
	for i, s := range contents {
		p := filepath.Join(dir, string(rune('a'+i)))
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, manifest.File{Path: "/" + filepath.Base(p), OSPath: p, Size: int64(len(s)), Hash: manifest.HashBytes([]byte(s))})
	}
	return files
}

func TestUploadBucketBody(t *testing.T) {
	big := string(make([]byte, 300<<10+1)) // spans several read buffers, odd length
	files := bucketFiles(t, "hello", "", big, "x")
	var mu sync.Mutex
	var progress int64
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer upload-jwt" {
			t.Errorf("auth = %q", r.Header.Get("Authorization"))
		}
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		if int64(len(raw)) != r.ContentLength {
			t.Errorf("body is %d bytes, Content-Length said %d", len(raw), r.ContentLength)
		}
		var body map[string]string
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("body is not JSON: %v", err)
		}
		for _, f := range files {
			b, err := base64.StdEncoding.DecodeString(body[f.Hash])
			if err != nil || manifest.HashBytes(b) != f.Hash {
				t.Errorf("%s: content does not match its hash", f.Path)
			}
		}
		w.WriteHeader(201)
		io.WriteString(w, `{"success":true,"result":{"jwt":"done"}}`)
	}), fastOptions())
	jwt, err := c.UploadBucket(context.Background(), "p", "upload-jwt", files, func(d int64) {
		mu.Lock()
		progress += d
		mu.Unlock()
	})
	if err != nil || jwt != "done" {
		t.Fatalf("UploadBucket = %q, %v", jwt, err)
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	if progress != total {
		t.Errorf("progress reported %d bytes, want %d", progress, total)
	}
}

func TestUploadBucketFileChanged(t *testing.T) {
	files := bucketFiles(t, "original")
	if err := os.WriteFile(files[0].OSPath, []byte("ORIGINAL"), 0o644); err != nil { // same size
		t.Fatal(err)
	}
	var calls atomic.Int64
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"success":true,"result":{"jwt":null}}`)
	}), fastOptions())
	_, err := c.UploadBucket(context.Background(), "p", "jwt", files, nil)
	var fc *FileChangedError
	if !errors.As(err, &fc) || fc.Path != files[0].Path {
		t.Fatalf("err = %v, want *FileChangedError for %s", err, files[0].Path)
	}
	if calls.Load() > 1 {
		t.Errorf("a changed file was retried %d times", calls.Load())
	}
}

func TestUploadStallIsRetried(t *testing.T) {
	files := bucketFiles(t, string(make([]byte, 4<<20)))
	var calls atomic.Int64
	release := make(chan struct{})
	opts := fastOptions()
	opts.StallTimeout = 100 * time.Millisecond
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			// Read nothing and answer nothing: the upload stalls once the
			// socket buffers are full.
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"success":true,"result":{"jwt":"ok"}}`)
	}), opts)
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	jwt, err := c.UploadBucket(context.Background(), "p", "jwt", files, nil)
	if err != nil || jwt != "ok" {
		t.Fatalf("UploadBucket = %q, %v", jwt, err)
	}
	if calls.Load() != 2 {
		t.Errorf("calls = %d, want 2 (one stalled, one good)", calls.Load())
	}
}

func TestCancelStopsRetries(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	opts := fastOptions()
	opts.MaxAttempts = 1000
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cancel()
		writeError(w, 503, api.CodeUnavailable, "busy")
	}), opts)
	if _, err := c.GetProject(ctx, "p"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestLoadServerCode(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"app.wasm": "\x00asm", "data.json": `{"a":1}`, "notes.txt": "hi", "blob.bin": "\x01", "other/app.wasm": "x"} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sc, err := LoadServerCode(filepath.Join(dir, "app.wasm"), []string{filepath.Join(dir, "data.json"), filepath.Join(dir, "notes.txt"), filepath.Join(dir, "blob.bin")})
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := map[string]string{"app.wasm": "wasm", "data.json": "json", "notes.txt": "text", "blob.bin": "data"}
	if sc.Entrypoint != "app.wasm" || len(sc.Modules) != 4 {
		t.Fatalf("server code = %+v", sc)
	}
	for name, typ := range wantTypes {
		if sc.Modules[name].Type != typ {
			t.Errorf("%s type = %q, want %q", name, sc.Modules[name].Type, typ)
		}
	}
	if b, _ := base64.StdEncoding.DecodeString(sc.Modules["data.json"].Content); string(b) != `{"a":1}` {
		t.Errorf("data.json content = %q", b)
	}
	bad := []struct {
		name    string
		entry   string
		modules []string
	}{
		{"modules without entrypoint", "", []string{filepath.Join(dir, "data.json")}},
		{"entrypoint not wasm", filepath.Join(dir, "data.json"), nil},
		{"duplicate names", filepath.Join(dir, "app.wasm"), []string{filepath.Join(dir, "other/app.wasm")}},
		{"missing file", filepath.Join(dir, "nope.wasm"), nil},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := LoadServerCode(tc.entry, tc.modules); err == nil {
				t.Error("no error")
			}
		})
	}
	if sc, err := LoadServerCode("", nil); sc != nil || err != nil {
		t.Errorf("no server code: %v, %v", sc, err)
	}
}
