package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/cfdeploy/cfdeploy/internal/wasmcache"
)

// This file builds the test guests from source, once per test binary, and
// holds the helpers every test uses to run them behind a real httptest
// server.

var (
	guestsOnce sync.Once
	guestsDir  string
	guestsErr  error
	// cacheDir is a wazero compilation cache shared by all runtimes of
	// this test binary, so each guest is compiled only once, and seeded
	// with what earlier runs compiled (internal/wasmcache).
	cacheDir string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "worker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	guestsDir = filepath.Join(dir, "guests")
	cacheDir = filepath.Join(dir, "cache")
	wasmcache.Seed(cacheDir)
	code := m.Run()
	wasmcache.Keep(cacheDir)
	os.RemoveAll(dir)
	os.Exit(code)
}

// guestSources maps guest names to package directories relative to this
// package, and whether they build as a reactor (-buildmode=c-shared).
var guestSources = []struct {
	name, dir string
	reactor   bool
}{
	{"app", "./testdata/guests/app", false},
	{"plain", "./testdata/guests/plain", false},
	{"importenv", "./testdata/guests/importenv", false},
	{"reactor", "./testdata/guests/reactor", true},
	{"hello", "../../../examples/go-hello", false},
	{"counter", "./testdata/guests/counter", true},
	{"hello-guest", "../../../examples/go-guest", true},
}

// guest returns the bytes of a guest module, building all guests with
// GOOS=wasip1 GOARCH=wasm on first use.
func guest(tb testing.TB, name string) []byte {
	tb.Helper()
	guestsOnce.Do(func() { guestsErr = buildGuests() })
	if guestsErr != nil {
		tb.Fatalf("build guests: %v", guestsErr)
	}
	b, err := os.ReadFile(filepath.Join(guestsDir, name+".wasm"))
	if err != nil {
		tb.Fatalf("read guest: %v", err)
	}
	return b
}

// buildGuests builds the commands with one go build and each reactor
// (-buildmode=c-shared takes one package) with its own, all at once: the
// go command's start-up and staleness checks, not the links Go caches, are
// what these builds cost.
func buildGuests() error {
	cmds := filepath.Join(guestsDir, "cmd")
	if err := os.MkdirAll(cmds, 0o755); err != nil {
		return err
	}
	builds := [][]string{{"build", "-trimpath", "-o", cmds + string(filepath.Separator)}}
	for _, g := range guestSources {
		if g.reactor {
			builds = append(builds, []string{"build", "-trimpath", "-buildmode=c-shared", "-o", filepath.Join(guestsDir, g.name+".wasm"), g.dir})
		} else {
			builds[0] = append(builds[0], g.dir)
		}
	}
	errs := make([]error, len(builds))
	var wg sync.WaitGroup
	for i, args := range builds {
		wg.Go(func() {
			cmd := exec.Command("go", args...)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// go build names a command after its directory.
	for _, g := range guestSources {
		if !g.reactor {
			if err := os.Rename(filepath.Join(cmds, filepath.Base(g.dir)), filepath.Join(guestsDir, g.name+".wasm")); err != nil {
				return err
			}
		}
	}
	return nil
}

// logBuffer collects a runtime's log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newRuntime starts a runtime on the shared cache and closes it with the test.
func newRuntime(tb testing.TB, cfg Config) (*Runtime, *logBuffer) {
	tb.Helper()
	logs := &logBuffer{}
	if cfg.CacheDir == "" {
		cfg.CacheDir = cacheDir
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rt, err := New(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { _ = rt.Close(context.Background()) })
	return rt, logs
}

// testAssets is the static asset tree every test program mounts.
var testAssets = fstest.MapFS{
	"static.txt":  {Data: []byte("static asset\n")},
	"index.html":  {Data: []byte("<h1>index</h1>\n")},
	"dir/a.json":  {Data: []byte(`{"a":1}`)},
	"nested/b.md": {Data: []byte("# b\n")},
}

var testModules = fstest.MapFS{
	"notes.txt": {Data: []byte("module notes\n")},
}

// program prepares a guest and returns a Program for it whose Load counts
// its calls.
func program(tb testing.TB, rt *Runtime, name string) (Program, *loadCounter) {
	tb.Helper()
	wasm := guest(tb, name)
	hash := Hash(wasm)
	if err := rt.Prepare(context.Background(), hash, wasm); err != nil {
		tb.Fatalf("Prepare %s: %v", name, err)
	}
	lc := &loadCounter{wasm: wasm}
	return Program{
		Hash:    hash,
		Load:    lc.load,
		Assets:  testAssets,
		Modules: testModules,
		Env:     map[string]string{"GREETING": "hello"},
		Name:    name,
	}, lc
}

type loadCounter struct {
	mu    sync.Mutex
	n     int
	wasm  []byte
	calls []string
}

func (l *loadCounter) load(context.Context) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	return l.wasm, nil
}

func (l *loadCounter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// assetHandoff is the stand-in for the host's asset pipeline: a file server
// over testAssets that marks its responses and records what it was asked.
type assetHandoff struct {
	mu   sync.Mutex
	reqs []string
}

func (a *assetHandoff) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.reqs = append(a.reqs, r.Method+" "+r.URL.RequestURI())
	a.mu.Unlock()
	w.Header().Set("X-Asset-Pipeline", "1")
	http.FileServerFS(testAssets).ServeHTTP(w, r)
}

func (a *assetHandoff) requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.reqs...)
}

// serveProgram starts an httptest server that runs p for every request.
func serveProgram(tb testing.TB, rt *Runtime, p Program) (*httptest.Server, *assetHandoff) {
	tb.Helper()
	ah := &assetHandoff{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt.Serve(w, r, p, Request{}, ah.serve)
	}))
	tb.Cleanup(srv.Close)
	return srv, ah
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}}

// do sends a request and returns the response with its body read.
func do(tb testing.TB, req *http.Request) (*http.Response, string) {
	tb.Helper()
	res, err := noRedirects.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatalf("read body: %v", err)
	}
	return res, string(b)
}

func get(tb testing.TB, url string) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return do(tb, req)
}

// fetch is do for goroutines other than the test's: it reports failures
// as status 0 instead of stopping the test.
func fetch(req *http.Request, err error) (int, string) {
	if err != nil {
		return 0, err.Error()
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, err.Error()
	}
	return res.StatusCode, string(b)
}

// lines turns "k=v" lines into a map.
func lines(body string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(body, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}
