package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	_ "modernc.org/sqlite" // the driver the integrity check opens the database with

	"github.com/cfdeploy/cfdeploy/internal/host/store/pgtest"
	"github.com/cfdeploy/cfdeploy/internal/poll"
	"github.com/cfdeploy/cfdeploy/internal/wasmcache"
	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// This file holds the harness every test uses: the cfhost binary built once
// per test binary, a server process that can be started, killed with
// SIGKILL and restarted on the same address and data dir, and helpers for
// sites, fetching and checking the database.

var (
	workDir   string
	buildOnce sync.Once
	buildErr  error
	binPath   string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cfhost-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	pgtest.Stop() // the PostgreSQL server of the replica tests, if they ran
	os.RemoveAll(dir)
	os.Exit(code)
}

// soak reports whether the long variants were asked for with CFHOST_SOAK=1.
func soak() bool { return os.Getenv("CFHOST_SOAK") == "1" }

// envInt reads a positive integer from the environment, or returns def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// cfhostBinary builds ./cmd/cfhost once per test binary. CFHOST_E2E_RACE=1
// builds it with the race detector, to hunt data races in the server under
// the same faults (slower, so latency bounds are then only reported).
func cfhostBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binPath = filepath.Join(workDir, "cfhost")
		args := []string{"build", "-trimpath", "-o", binPath}
		if os.Getenv("CFHOST_E2E_RACE") == "1" {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "../../cmd/cfhost")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build cfhost: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// server is a cfhost process under test. It keeps its address and data dir
// across restarts, so a restart is what an operator's supervisor would do
// after a crash.
type server struct {
	t       testing.TB
	bin     string
	dataDir string
	addr    string
	token   string
	args    []string
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the current process has exited
	// starts counts process starts, for the report.
	starts int
}

// startServer starts cfhost serve with a fresh data dir (unless dataDir is
// given) and extra flags, and waits until it answers /__api/health.
func startServer(t testing.TB, dataDir string, extra ...string) *server {
	t.Helper()
	var caches []string
	if dataDir == "" {
		dataDir = filepath.Join(t.TempDir(), "data")
		// A fresh data dir starts with the machine code that earlier
		// servers compiled (internal/wasmcache); one a test brings (a
		// small file system, a crash's leftovers) is left as it is.
		caches = []string{filepath.Join(dataDir, "wasm-cache"), filepath.Join(dataDir, "js-cache")}
		wasmcache.Seed(caches...)
	}
	s := &server{
		t:       t,
		bin:     cfhostBinary(t),
		dataDir: dataDir,
		addr:    freeAddr(t),
		token:   randomHex(16),
		args:    extra,
		logPath: filepath.Join(t.TempDir(), "cfhost.log"),
	}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("cfhost log (last 4 KiB):\n%s", s.logTail(4096))
		}
		wasmcache.Keep(caches...)
	})
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// start runs the binary and waits for it to be healthy.
func (s *server) start() error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open server log: %w", err)
	}
	args := append([]string{"serve", "--listen", s.addr, "--data-dir", s.dataDir, "--api-token", s.token}, s.args...)
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start cfhost: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.starts++
	s.mu.Unlock()
	exited := false
	healthy := poll.Wait(60*time.Second, func() bool {
		select {
		case <-done:
			exited = true
			return true
		default:
		}
		resp, err := http.Get(s.url("/__api/health"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	switch {
	case exited:
		return fmt.Errorf("cfhost exited during start-up (%v); log:\n%s", cmd.ProcessState, s.logTail(4096))
	case !healthy:
		return fmt.Errorf("cfhost did not become healthy within 60s; log:\n%s", s.logTail(4096))
	}
	return nil
}

// sigkill sends SIGKILL to the running process without waiting, so it can
// be called from a progress callback at the exact moment wanted.
func (s *server) sigkill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGKILL)
	}
}

// waitExit waits for the current process to be gone.
func (s *server) waitExit() {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.t.Fatalf("cfhost (pid %d) did not exit", s.cmd.Process.Pid)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	s.sigkill()
	s.waitExit()
}

// stop sends SIGTERM and checks that the process exits cleanly.
func (s *server) stop() {
	s.t.Helper()
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	cmd.Process.Signal(syscall.SIGTERM)
	s.waitExit()
	if !cmd.ProcessState.Success() {
		s.t.Errorf("cfhost exited with %v after SIGTERM", cmd.ProcessState)
	}
}

// exited reports whether the current process has exited.
func (s *server) exited() bool {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// pid is the current process id.
func (s *server) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd.Process.Pid
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

// projectURL addresses a project in path mode.
func (s *server) projectURL(id, path string) string {
	return s.url("/__project/" + id + path)
}

func (s *server) dbPath() string { return filepath.Join(s.dataDir, "cfhost.db") }

// client returns an SDK client for the server with the given options (the
// token is filled in).
func (s *server) client(t testing.TB, opts client.Options) *client.Client {
	t.Helper()
	opts.Token = s.token
	c, err := client.New(s.url(""), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *server) logTail(n int64) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return string(b)
}

// rss reads the process's resident memory, in bytes.
func (s *server) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid()))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// rssGrowth runs fn while sampling the server's resident memory every few
// milliseconds, and returns how far it rose above where it was before.
func (s *server) rssGrowth(t testing.TB, fn func()) int64 {
	t.Helper()
	base, err := s.rss()
	if err != nil {
		t.Skipf("cannot read the server's memory: %v", err)
	}
	peak := base
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if n, err := s.rss(); err == nil && n > peak {
				peak = n
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return peak - base
}

// createProject makes a project through the SDK.
func createProject(t testing.TB, c *client.Client, name string) string {
	t.Helper()
	p, err := c.CreateProject(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// site is a deployable directory held in memory: asset path → content.
type site map[string][]byte

// write replaces dir with the site's files.
func (st site) write(t testing.TB, dir string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for p, b := range st {
		fp := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fp, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// files lists the site as manifest files rooted at dir (as written by
// write), sorted by path.
func (st site) files(dir string) []manifest.File {
	out := make([]manifest.File, 0, len(st))
	for p, b := range st {
		out = append(out, manifest.File{Path: p, OSPath: filepath.Join(dir, filepath.FromSlash(p)), Size: int64(len(b)), Hash: sha(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// manifest is the upload manifest of the site.
func (st site) manifest() api.Manifest {
	m := make(api.Manifest, len(st))
	for p, b := range st {
		m[p] = api.ManifestEntry{Hash: sha(b), Size: int64(len(b))}
	}
	return m
}

// hashes is the set of distinct contents of the site.
func (st site) hashes() map[string]bool {
	out := make(map[string]bool, len(st))
	for _, b := range st {
		out[sha(b)] = true
	}
	return out
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// fetch sends a GET with optional headers and returns the response with its
// body read (not decoded: Accept-Encoding is passed through as given).
func fetch(ctx context.Context, hc *http.Client, url string, hdr map[string]string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// decode undoes a Content-Encoding.
func decode(enc string, b []byte) ([]byte, error) {
	switch enc {
	case "", "identity":
		return b, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	case "br":
		return io.ReadAll(brotli.NewReader(bytes.NewReader(b)))
	}
	return nil, fmt.Errorf("unknown content encoding %q", enc)
}

// plainHTTP is a client that never adds Accept-Encoding or follows
// redirects, so tests see exactly what the host sent.
func plainHTTP() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableCompression = true
	return &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// checkDatabase opens the database of a stopped (or killed) server
// read-only and runs SQLite's own consistency checks: integrity_check must
// say "ok" and foreign_key_check must find nothing.
func checkDatabase(path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	var verdict []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		verdict = append(verdict, s)
	}
	rows.Close()
	if len(verdict) != 1 || verdict[0] != "ok" {
		return fmt.Errorf("integrity_check: %q", verdict)
	}
	rows, err = db.Query("PRAGMA foreign_key_check")
	if err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		var table string
		var rowid sql.NullInt64
		var parent string
		var fkid int
		rows.Scan(&table, &rowid, &parent, &fkid)
		return fmt.Errorf("foreign_key_check: a row of %s points at a missing row of %s", table, parent)
	}
	return rows.Err()
}
