package worker

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/poll"
	cfapi "github.com/cfdeploy/cfdeploy/pkg/api"
)

func TestServeEcho(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, Config{})
	p, _ := program(t, rt, "app")
	srv, _ := serveProgram(t, rt, p)

	t.Run("post with body", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/echo?x=1&y=%20", strings.NewReader("ping"))
		req.Header.Set("X-Test", "abc")
		req.Header.Set("Content-Type", "text/x-ping")
		res, body := do(t, req)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d, body %q", res.StatusCode, body)
		}
		got := lines(body)
		want := map[string]string{
			"method":       "POST",
			"url":          srv.URL + "/echo?x=1&y=%20",
			"host":         strings.TrimPrefix(srv.URL, "http://"),
			"tls":          "false",
			"x-test":       "abc",
			"content-type": "text/x-ping",
			"length":       "4",
			"body":         "ping",
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
		if !strings.HasPrefix(got["remote"], "127.0.0.1:") {
			t.Errorf("remote = %q, want the client's 127.0.0.1:port", got["remote"])
		}
		if cl := res.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
			t.Errorf("Content-Length %q for a %d byte body", cl, len(body))
		}
	})

	t.Run("chunked body is buffered and CONTENT_LENGTH set", func(t *testing.T) {
		// An io.Reader of unknown length makes the client send chunked.
		pr := strings.NewReader(strings.Repeat("z", 5000))
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/echo", struct{ *strings.Reader }{pr})
		res, body := do(t, req)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d", res.StatusCode)
		}
		got := lines(body)
		if got["length"] != "5000" || got["body"] != strings.Repeat("z", 5000) {
			t.Errorf("length %q, body of %d bytes", got["length"], len(got["body"]))
		}
	})

	t.Run("HEAD has no body but the length", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodHead, srv.URL+"/echo", nil)
		res, body := do(t, req)
		if res.StatusCode != http.StatusOK || body != "" {
			t.Fatalf("status %d body %q", res.StatusCode, body)
		}
		if n, _ := strconv.Atoi(res.Header.Get("Content-Length")); n == 0 {
			t.Errorf("HEAD Content-Length %q, want the GET length", res.Header.Get("Content-Length"))
		}
	})
}

func TestServeEnv(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, Config{})
	p, _ := program(t, rt, "app")
	p.Env = map[string]string{
		"GREETING":     "hello world",
		"API_KEY":      "s3cret",
		"HTTP_HOST":    "forged.test", // reserved: never overrides the request
		"REQUEST_URI":  "/forged",     // a CGI name
		"lower":        "x",           // not [A-Z][A-Z0-9_]*
		"CFHOST_THING": "x",           // platform namespace
	}
	srv, _ := serveProgram(t, rt, p)
	hostport := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := strings.Cut(hostport, ":")

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/env?q=a%2Fb", nil)
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Proxy", "http://evil.test")
	req.Header["X_Underscore"] = []string{"spoof"}
	req.Header.Add("X-Multi", "one")
	req.Header.Add("X-Multi", "two")
	req.Header.Add("Cookie", "a=1")
	req.Header.Add("Cookie", "b=2")
	req.Header.Set("Te", "trailers")
	res, body := do(t, req)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	env := lines(body)

	want := map[string]string{
		"GATEWAY_INTERFACE":  "CGI/1.1",
		"SERVER_SOFTWARE":    ServerSoftware,
		"SERVER_PROTOCOL":    "HTTP/1.1",
		"SERVER_NAME":        "127.0.0.1",
		"SERVER_PORT":        port,
		"REQUEST_METHOD":     "GET",
		"REQUEST_URI":        "/env?q=a%2Fb",
		"SCRIPT_NAME":        "",
		"PATH_INFO":          "/env",
		"X_RAW_PATH_INFO":    "/env",
		"PATH_TRANSLATED":    "/env",
		"QUERY_STRING":       "q=a%2Fb",
		"CONTENT_LENGTH":     "0",
		"REMOTE_ADDR":        "127.0.0.1",
		"REMOTE_HOST":        "127.0.0.1",
		"X_FULL_URL":         srv.URL + "/env?q=a%2Fb",
		"X_MATCHED_ROUTE":    "/...",
		"HTTP_HOST":          hostport,
		"AUTH_TYPE":          "",
		"REMOTE_USER":        "",
		"HTTP_AUTHORIZATION": "Bearer tok",
		"HTTP_X_MULTI":       "one, two",
		"HTTP_COOKIE":        "a=1; b=2",
		"GREETING":           "hello world",
		"API_KEY":            "s3cret",
		"CFHOST_ASSETS_DIR":  "/assets",
		"CFHOST_MODULES_DIR": "/modules",
	}
	for k, v := range want {
		got, ok := env[k]
		if !ok {
			t.Errorf("%s missing", k)
		} else if got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if _, err := strconv.Atoi(env["REMOTE_PORT"]); err != nil {
		t.Errorf("REMOTE_PORT = %q, want a number", env["REMOTE_PORT"])
	}
	for _, absent := range []string{"HTTP_PROXY", "HTTP_X_UNDERSCORE", "HTTP_TE", "HTTP_CONNECTION",
		"HTTPS", "CONTENT_TYPE", "lower", "CFHOST_THING", "HTTP_CONTENT_LENGTH"} {
		if v, ok := env[absent]; ok {
			t.Errorf("%s = %q, want it absent", absent, v)
		}
	}
}

func TestServeHTTPSAndRequestOverride(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, Config{})
	p, _ := program(t, rt, "app")
	// A host behind a TLS-terminating proxy passes what the client saw.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt.Serve(w, r, p, Request{Scheme: "https", Host: "app.example.test", RemoteAddr: "192.0.2.1:1234"}, nil)
	}))
	defer srv.Close()
	_, body := get(t, srv.URL+"/echo")
	got := lines(body)
	if got["url"] != "https://app.example.test/echo" || got["tls"] != "true" || got["remote"] != "192.0.2.1:1234" {
		t.Errorf("url %q tls %q remote %q", got["url"], got["tls"], got["remote"])
	}
	_, body = get(t, srv.URL+"/env")
	env := lines(body)
	for k, v := range map[string]string{"HTTPS": "on", "SERVER_PORT": "443", "SERVER_NAME": "app.example.test", "REMOTE_PORT": "1234"} {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
}

func TestServeFiles(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, Config{})
	p, _ := program(t, rt, "app")
	srv, _ := serveProgram(t, rt, p)
	tests := []struct {
		path, want string
		status     int
	}{
		{"/read/assets/static.txt", "static asset\n", 200},
		{"/read/assets/dir/a.json", `{"a":1}`, 200},
		{"/read/modules/notes.txt", "module notes\n", 200},
		{"/read/assets/missing.txt", "", 404},
		{"/read/etc/passwd", "", 404},
		{"/static/static.txt", "static asset\n", 200},
		{"/write", "write error: true", 200},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, body := get(t, srv.URL+tt.path)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%q)", res.StatusCode, tt.status, body)
			}
			if tt.want != "" && body != tt.want {
				t.Errorf("body %q, want %q", body, tt.want)
			}
		})
	}
}

func TestServeHandoff(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, Config{})
	p, _ := program(t, rt, "app")
	srv, ah := serveProgram(t, rt, p)

	t.Run("local redirect", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/raw/local-redirect", strings.NewReader("data"))
		res, body := do(t, req)
		if res.StatusCode != 200 || body != "static asset\n" {
			t.Fatalf("status %d body %q", res.StatusCode, body)
		}
		if res.Header.Get("X-Asset-Pipeline") != "1" || res.Header.Get("X-Extra") != "kept" || res.Header.Get("Set-Cookie") != "s=1" {
			t.Errorf("headers %v", res.Header)
		}
		if got := ah.requests(); len(got) == 0 || got[len(got)-1] != "GET /static.txt?v=1" {
			t.Errorf("asset pipeline got %v, want a GET of /static.txt?v=1", got)
		}
	})
	t.Run("local redirect keeps HEAD", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodHead, srv.URL+"/raw/local-redirect", nil)
		res, _ := do(t, req)
		if res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
		if got := ah.requests(); got[len(got)-1] != "HEAD /static.txt?v=1" {
			t.Errorf("asset pipeline got %v", got)
		}
	})
	t.Run("X-Accel-Redirect from net/http", func(t *testing.T) {
		res, body := get(t, srv.URL+"/accel?to=/static.txt")
		// The asset's status and type win over the guest's 418 and text/guest.
		if res.StatusCode != 200 || body != "static asset\n" {
			t.Fatalf("status %d body %q", res.StatusCode, body)
		}
		if ct := res.Header.Get("Content-Type"); strings.Contains(ct, "guest") {
			t.Errorf("Content-Type %q leaked from the guest", ct)
		}
		if res.Header.Get("X-From-Guest") != "yes" {
			t.Errorf("guest header not added: %v", res.Header)
		}
	})
	t.Run("X-Accel-Redirect to a missing asset", func(t *testing.T) {
		res, _ := get(t, srv.URL+"/accel?to=/nope.txt")
		if res.StatusCode != 404 || res.Header.Get("X-From-Guest") != "yes" {
			t.Fatalf("status %d headers %v", res.StatusCode, res.Header)
		}
	})
	t.Run("X-Accel-Redirect to another host is refused", func(t *testing.T) {
		res, _ := get(t, srv.URL+"/accel?to=//evil.test/x")
		if res.StatusCode != http.StatusBadGateway {
			t.Fatalf("status %d, want 502", res.StatusCode)
		}
	})
}

func TestServeResponses(t *testing.T) {
	t.Parallel()
	rt, logs := newRuntime(t, Config{MaxStdout: 1 << 20, MaxStderr: 1 << 10})
	p, _ := program(t, rt, "app")
	srv, _ := serveProgram(t, rt, p)
	tests := []struct {
		name, path string
		status     int
		check      func(t *testing.T, res *http.Response, body string)
		log        string // expected in the host log
	}{
		{name: "two cookies", path: "/cookies", status: 200, check: func(t *testing.T, res *http.Response, _ string) {
			if c := res.Header.Values("Set-Cookie"); len(c) != 2 || c[0] != "a=1" || c[1] != "b=2" {
				t.Errorf("Set-Cookie %q, want both", c)
			}
		}},
		{name: "redirect with status", path: "/redirect", status: 301, check: func(t *testing.T, res *http.Response, _ string) {
			if res.Header.Get("Location") != "/elsewhere" {
				t.Errorf("Location %q", res.Header.Get("Location"))
			}
		}},
		{name: "client redirect without status", path: "/raw/client-redirect", status: 302, check: func(t *testing.T, res *http.Response, _ string) {
			if res.Header.Get("Location") != "https://example.test/x" {
				t.Errorf("Location %q", res.Header.Get("Location"))
			}
		}},
		{name: "LF line ends", path: "/raw/lf", status: 200, check: func(t *testing.T, res *http.Response, body string) {
			if body != "body with LF" || res.Header.Get("X-Mixed") != "1" {
				t.Errorf("body %q headers %v", body, res.Header)
			}
		}},
		{name: "net/http 404", path: "/no/such/route", status: 404},
		{name: "malformed header", path: "/raw/malformed", status: 502, log: "malformed CGI response"},
		{name: "no blank line", path: "/raw/no-blank-line", status: 502, log: "no blank line"},
		{name: "panic", path: "/raw/panic", status: 502, log: "guest panic on purpose"},
		{name: "exit 3", path: "/raw/exit3", status: 502, log: "exit_code=3"},
		{name: "stdout over the cap", path: "/raw/huge", status: 502, log: "stdout_overflow=true"},
		{name: "stderr over the cap is cut", path: "/raw/stderr", status: 200, log: "bytes dropped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := get(t, srv.URL+tt.path)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %q", res.StatusCode, tt.status, body)
			}
			if tt.check != nil {
				tt.check(t, res, body)
			}
			if tt.log != "" && !strings.Contains(logs.String(), tt.log) {
				t.Errorf("log lacks %q:\n%s", tt.log, logs.String())
			}
		})
	}
	// The host keeps serving after every failure.
	if res, _ := get(t, srv.URL+"/echo"); res.StatusCode != 200 {
		t.Fatalf("after failures: status %d", res.StatusCode)
	}
}

func TestServeRealClocksAndRandom(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, Config{})
	p, _ := program(t, rt, "app")
	srv, _ := serveProgram(t, rt, p)
	seen := map[string]bool{}
	for range 2 {
		_, body := get(t, srv.URL+"/entropy")
		f := strings.Fields(body)
		if len(f) != 3 {
			t.Fatalf("body %q", body)
		}
		if seen[f[0]] {
			t.Errorf("random bytes %s repeated: the random source is deterministic", f[0])
		}
		seen[f[0]] = true
		unix, _ := strconv.ParseInt(f[1], 10, 64)
		if d := time.Since(time.Unix(unix, 0)); d < -time.Minute || d > time.Minute {
			t.Errorf("guest clock off by %v: walltime is fake", d)
		}
		// A fake nanosleep returns at once; a real one sleeps.
		if slept, _ := strconv.Atoi(f[2]); slept < 20 {
			t.Errorf("time.Sleep(20ms) took %d ms in the guest", slept)
		}
	}
}

func TestServeLimits(t *testing.T) {
	t.Parallel()
	t.Run("deadline is 504 and the runtime keeps serving", func(t *testing.T) {
		rt, logs := newRuntime(t, Config{Timeout: 300 * time.Millisecond})
		p, _ := program(t, rt, "app")
		srv, _ := serveProgram(t, rt, p)
		if res, _ := get(t, srv.URL+"/raw/loop"); res.StatusCode != http.StatusGatewayTimeout {
			t.Fatalf("status %d, want 504", res.StatusCode)
		}
		if !strings.Contains(logs.String(), "timed out") {
			t.Errorf("no timeout in the log:\n%s", logs)
		}
		if res, _ := get(t, srv.URL+"/echo"); res.StatusCode != 200 {
			t.Fatalf("next request: status %d", res.StatusCode)
		}
	})

	t.Run("memory limit", func(t *testing.T) {
		rt, _ := newRuntime(t, Config{})
		p, _ := program(t, rt, "app")
		small := p
		small.MemoryLimit = 32 << 20
		srvDefault, _ := serveProgram(t, rt, p)
		srvSmall, _ := serveProgram(t, rt, small)
		tests := []struct {
			name   string
			srv    *httptest.Server
			path   string
			status int
		}{
			{"64 MiB under the default 128 MiB", srvDefault, "/raw/hog/64", 200},
			{"64 MiB over 32 MiB", srvSmall, "/raw/hog/64", 502},
			{"8 MiB under 32 MiB", srvSmall, "/raw/hog/8", 200},
			{"200 MiB over the default", srvDefault, "/raw/hog/200", 502},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res, body := get(t, tt.srv.URL+tt.path)
				if res.StatusCode != tt.status {
					t.Fatalf("status %d, want %d (%q)", res.StatusCode, tt.status, body)
				}
			})
		}
	})

	t.Run("body over the limit is 413", func(t *testing.T) {
		rt, _ := newRuntime(t, Config{MaxBody: 1024})
		p, _ := program(t, rt, "app")
		srv, _ := serveProgram(t, rt, p)
		big := strings.Repeat("b", 2000)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/echo", strings.NewReader(big))
		if res, _ := do(t, req); res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("with Content-Length: status %d", res.StatusCode)
		}
		req, _ = http.NewRequest(http.MethodPost, srv.URL+"/echo", struct{ *strings.Reader }{strings.NewReader(big)})
		if res, _ := do(t, req); res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked: status %d", res.StatusCode)
		}
		req, _ = http.NewRequest(http.MethodPost, srv.URL+"/echo", strings.NewReader(big[:1024]))
		if res, _ := do(t, req); res.StatusCode != 200 {
			t.Errorf("at the limit: status %d", res.StatusCode)
		}
	})

	t.Run("full queue is 503", func(t *testing.T) {
		rt, _ := newRuntime(t, Config{Concurrency: 1, QueueSize: 1, Timeout: 5 * time.Second})
		p, _ := program(t, rt, "plain")
		srv, _ := serveProgram(t, rt, p)
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i], _ = fetch(http.NewRequest(http.MethodGet, srv.URL+"/sleep", nil))
			}()
			// Wait until the first runs and the second waits.
			waitFor(t, func() bool { return rt.Stats() == Stats{Running: 1, Waiting: i, Loaded: 1} })
		}
		res, _ := get(t, srv.URL+"/sleep")
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
			t.Errorf("third request: status %d, want 503 with Retry-After", res.StatusCode)
		}
		wg.Wait()
		if statuses[0] != 200 || statuses[1] != 200 {
			t.Errorf("running and queued requests got %v, want 200s", statuses)
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	poll.Until(t, 10*time.Second, "the condition", cond)
}

// A guest looping in one project must not stop another project's requests.
func TestLoopingGuestIsolated(t *testing.T) {
	rt, _ := newRuntime(t, Config{Concurrency: 2, Timeout: 5 * time.Second})
	looper, _ := program(t, rt, "app")
	other, _ := program(t, rt, "plain")
	loopSrv, _ := serveProgram(t, rt, looper)
	otherSrv, _ := serveProgram(t, rt, other)

	loopDone := make(chan int, 1)
	getInBackground(t, loopSrv.URL+"/raw/loop", loopDone)
	waitFor(t, func() bool { return len(rt.slots) == 1 })

	for i := range 5 {
		res, body := get(t, otherSrv.URL+"/ok")
		if res.StatusCode != 200 || body != "plain GET /ok " {
			t.Fatalf("request %d to the other project: %d %q", i, res.StatusCode, body)
		}
	}
	select {
	case st := <-loopDone:
		t.Fatalf("the loop ended (%d) before the other project was served; the test proves nothing", st)
	default:
	}
	// The loop's 504 is TestServeLimits' business (with a short deadline); cancelling it
	// here saves waiting out the deadline.
}

// getInBackground GETs url on its own goroutine and sends the status to
// done, 0 when the request failed. The request is cancelled when the test
// ends, which stops a looping guest instead of waiting out its deadline.
func getInBackground(t *testing.T, url string, done chan<- int) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			done <- 0
			return
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		res.Body.Close()
		done <- res.StatusCode
	}()
}

// A project that keeps every slot busy with looping guests must still leave
// one for other projects: it may hold TenantConcurrency slots, fewer than
// all of them.
func TestLoopingTenantCannotTakeEverySlot(t *testing.T) {
	rt, _ := newRuntime(t, Config{Concurrency: 2, Timeout: 5 * time.Second})
	looper, _ := program(t, rt, "app")
	looper.Tenant = "greedy"
	other, _ := program(t, rt, "plain")
	other.Tenant = "polite"
	loopSrv, _ := serveProgram(t, rt, looper)
	otherSrv, _ := serveProgram(t, rt, other)

	const loops = 3
	loopDone := make(chan int, loops)
	for range loops {
		getInBackground(t, loopSrv.URL+"/raw/loop", loopDone)
	}
	// The greedy tenant runs one guest and queues the others.
	waitFor(t, func() bool { return rt.waiting.Load() == loops-1 })
	if n := len(rt.slots); n != 1 {
		t.Fatalf("the looping tenant holds %d of 2 slots", n)
	}
	res, body := get(t, otherSrv.URL+"/ok")
	if res.StatusCode != 200 || body != "plain GET /ok " {
		t.Fatalf("the other tenant: %d %q", res.StatusCode, body)
	}
	select {
	case st := <-loopDone:
		t.Fatalf("a loop ended (%d) before the other tenant was served; the test proves nothing", st)
	default:
	}
}

func TestServeClientGone(t *testing.T) {
	t.Parallel()
	rt, logs := newRuntime(t, Config{Timeout: 10 * time.Second})
	p, _ := program(t, rt, "app")
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://app.test/raw/loop", nil)
	w := &recordingWriter{header: http.Header{}}
	done := make(chan struct{})
	go func() {
		rt.Serve(w, req, p, Request{}, nil)
		close(done)
	}()
	waitFor(t, func() bool { return len(rt.slots) == 1 })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the client went away")
	}
	if w.status != 0 || w.n != 0 {
		t.Errorf("wrote status %d and %d bytes to a client that is gone", w.status, w.n)
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a client going away was logged as a guest failure:\n%s", logs)
	}
}

type recordingWriter struct {
	header http.Header
	status int
	n      int
}

func (w *recordingWriter) Header() http.Header { return w.header }
func (w *recordingWriter) WriteHeader(s int)   { w.status = s }
func (w *recordingWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}

func TestPrepareRejects(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, Config{MaxModuleSize: 4 << 20, MemoryLimit: 1 << 20})
	app := guest(t, "app")
	tests := []struct {
		name   string
		wasm   []byte
		hash   string // defaults to Hash(wasm)
		reason string
	}{
		{"not wasm", []byte("#!/bin/sh\necho hi\n"), "", "not a WebAssembly module"},
		{"empty", nil, "", "not a WebAssembly module"},
		{"component", []byte("\x00asm\x0d\x00\x01\x00"), "", "component"},
		{"truncated", app[:4000], "", "truncated"},
		{"imports env", guest(t, "importenv"), "", `from module "env"`},
		{"reactor", guest(t, "reactor"), "", "reactor"},
		{"oversized", app, "", "over the limit"},
		{"hash mismatch", guest(t, "plain"), strings.Repeat("0", 64), "does not match"},
		{"initial memory over the limit", guest(t, "plain"), "", "memory at start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hash := tt.hash
			if hash == "" {
				hash = Hash(tt.wasm)
			}
			err := rt.Prepare(context.Background(), hash, tt.wasm)
			if err == nil {
				t.Fatal("accepted")
			}
			if code := cfapi.ErrorCode(err); code != cfapi.CodeInvalid {
				t.Errorf("code %q, want invalid: %v", code, err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not say %q", err, tt.reason)
			}
		})
	}
}

func TestModuleCacheReloads(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, Config{LoadedModules: 1})
	plain, plainLoads := program(t, rt, "plain")
	app, appLoads := program(t, rt, "app")
	plainSrv, _ := serveProgram(t, rt, plain)
	appSrv, _ := serveProgram(t, rt, app)

	steps := []struct {
		srv                  *httptest.Server
		path                 string
		plainLoads, appLoads int
	}{
		{appSrv, "/echo", 0, 0}, // app was prepared last: loaded
		{plainSrv, "/x", 1, 0},  // plain was evicted by app
		{plainSrv, "/x", 1, 0},  // now loaded
		{appSrv, "/echo", 1, 1}, // app evicted by plain
	}
	for i, s := range steps {
		if res, _ := get(t, s.srv.URL+s.path); res.StatusCode != 200 {
			t.Fatalf("step %d: status %d", i, res.StatusCode)
		}
		if plainLoads.count() != s.plainLoads || appLoads.count() != s.appLoads {
			t.Fatalf("step %d: loads plain=%d app=%d, want %d %d", i, plainLoads.count(), appLoads.count(), s.plainLoads, s.appLoads)
		}
		if n := rt.Stats().Loaded; n != 1 {
			t.Fatalf("step %d: %d modules loaded, want 1", i, n)
		}
	}

	t.Run("a new process loads from the disk cache without Prepare", func(t *testing.T) {
		rt2, _ := newRuntime(t, Config{})
		p := plain
		srv, _ := serveProgram(t, rt2, p)
		if res, body := get(t, srv.URL+"/again"); res.StatusCode != 200 || body != "plain GET /again " {
			t.Fatalf("status %d body %q", res.StatusCode, body)
		}
	})

	t.Run("unknown module without Load is a 500", func(t *testing.T) {
		p := plain
		p.Hash = strings.Repeat("ab", 32)
		p.Load = nil
		srv, _ := serveProgram(t, rt, p)
		if res, _ := get(t, srv.URL+"/"); res.StatusCode != 500 {
			t.Fatalf("status %d", res.StatusCode)
		}
	})

	t.Run("Load returning other bytes is refused", func(t *testing.T) {
		p := plain
		p.Hash = strings.Repeat("cd", 32)
		srv, _ := serveProgram(t, rt, p)
		if res, _ := get(t, srv.URL+"/"); res.StatusCode != 500 {
			t.Fatalf("status %d", res.StatusCode)
		}
	})
}

func TestServeConcurrent(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, Config{Concurrency: 2})
	p, _ := program(t, rt, "plain")
	srv, _ := serveProgram(t, rt, p)
	var wg sync.WaitGroup
	errs := make(chan string, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := strconv.Itoa(i)
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/c", strings.NewReader(body))
			status, got := fetch(req, nil)
			if status != 200 || got != "plain POST /c "+body {
				errs <- got
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("wrong response %q: requests leaked into each other", e)
	}
}

// Linear memories are pooled and, for Go guests, start from a copy-on-write
// image of the data segments. No write of one request may be visible to the
// next, in the image or beyond it.
func TestMemoryIsFreshPerRequest(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, Config{Concurrency: 1})
	p, _ := program(t, rt, "app")
	if imagesSupported {
		mod, err := rt.modules.get(context.Background(), p.Hash, nil)
		if err != nil {
			t.Fatal(err)
		}
		hasImage := mod.prog.image != nil
		rt.modules.done(context.Background(), mod)
		if !hasImage {
			t.Fatal("the Go guest's data segments were not lifted into a memory image")
		}
	}
	srv, _ := serveProgram(t, rt, p)
	for i := range 3 {
		res, body := get(t, srv.URL+"/raw/state")
		if res.StatusCode != 200 || body != "original 0000000000000000" {
			t.Fatalf("request %d: %d %q", i, res.StatusCode, body)
		}
	}
}
