package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host"
	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// These tests drive the deploy engine (pkg/client) against a real
// in-process host, with a proxy in between that misbehaves on purpose.

// startHost runs a host behind httptest and returns it with its URL.
func startHost(t *testing.T, cfg host.Config) (*host.Host, string) {
	t.Helper()
	cfg.DataDir = t.TempDir()
	cfg.APIToken = testToken
	h, err := newHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	return h, srv.URL
}

// makeSite writes n files of assorted sizes (a few large enough to span
// several read buffers) and returns their contents by asset path.
func makeSite(t *testing.T, n int) (string, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	files := map[string][]byte{}
	for i := range n {
		size := 200 + rng.IntN(8<<10)
		if i%50 == 0 {
			size = 300<<10 + rng.IntN(1000)
		}
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		rel := fmt.Sprintf("d%d/file-%04d.bin", i%7, i)
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files["/"+rel] = b
	}
	return dir, files
}

func newClient(t *testing.T, url string) *client.Client {
	t.Helper()
	c, err := client.New(url, client.Options{Token: testToken, BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, StallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkServed fetches every file through the host and compares bytes.
func checkServed(t *testing.T, hostURL, projectID string, files map[string][]byte) {
	t.Helper()
	for p, want := range files {
		resp, err := http.Get(hostURL + "/__project/" + projectID + p)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, want) {
			t.Fatalf("%s: status %d, %d bytes, want 200 and the %d bytes deployed", p, resp.StatusCode, len(got), len(want))
		}
	}
}

// flakyProxy forwards to the host, but every third upload request fails:
// in turn a 503, a connection dropped before the host sees the request, and
// a connection dropped after the host has processed it (the answer is lost).
type flakyProxy struct {
	next                       http.Handler
	uploads                    atomic.Int64
	unavailable, before, after atomic.Int64
}

func (p *flakyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/assets/upload") {
		p.next.ServeHTTP(w, r)
		return
	}
	n := p.uploads.Add(1)
	if n%3 != 0 {
		p.next.ServeHTTP(w, r)
		return
	}
	switch (n / 3) % 3 {
	case 1:
		p.unavailable.Add(1)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "<h1>503 upstream busy</h1>")
	case 2:
		p.before.Add(1)
		drop(w)
	default:
		p.after.Add(1)
		p.next.ServeHTTP(httptest.NewRecorder(), r)
		drop(w)
	}
}

// drop closes the client's connection without an answer.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

func TestDeployThroughFlakyProxy(t *testing.T) {
	t.Parallel()
	_, hostURL := startHost(t, host.Config{})
	direct := newClient(t, hostURL)
	target, _ := http.NewRequest("GET", hostURL, nil)
	proxy := &flakyProxy{next: reverseTo(target.URL.Host)}
	ps := httptest.NewServer(proxy)
	t.Cleanup(ps.Close)

	dir, files := makeSite(t, 600)
	ctx := context.Background()
	p, err := direct.CreateProject(ctx, "flaky")
	if err != nil {
		t.Fatal(err)
	}
	var retries atomic.Int64
	var events []client.Event
	res, err := newClient(t, ps.URL).Deploy(ctx, client.DeployOptions{
		ProjectID: p.ID, Dir: dir, Concurrency: 3,
		Progress: func(ev client.Event) {
			if ev.Notice != "" && strings.HasPrefix(ev.Notice, "retrying") {
				retries.Add(1)
			}
			events = append(events, ev)
		},
	})
	if err != nil {
		t.Fatalf("deploy through the flaky proxy: %v", err)
	}
	if proxy.unavailable.Load() == 0 || proxy.before.Load() == 0 || proxy.after.Load() == 0 {
		t.Fatalf("proxy injected %d/%d/%d faults over %d uploads; the site is too small to test all three",
			proxy.unavailable.Load(), proxy.before.Load(), proxy.after.Load(), proxy.uploads.Load())
	}
	if retries.Load() == 0 {
		t.Error("no retry was reported as an event")
	}
	if res.DeployedAssets != len(files) || res.NewAssets != len(files) {
		t.Errorf("deployed %d (%d new), want %d all new", res.DeployedAssets, res.NewAssets, len(files))
	}
	var total int64
	for _, b := range files {
		total += int64(len(b))
	}
	if res.UploadedBytes != total || res.UploadedFiles != len(files) {
		t.Errorf("uploaded %d files / %d bytes, want %d / %d", res.UploadedFiles, res.UploadedBytes, len(files), total)
	}
	// The upload progress never overshoots and ends at the total.
	var last client.Event
	for _, ev := range events {
		if ev.Phase == client.PhaseUpload && ev.Notice == "" {
			if ev.BytesDone > ev.BytesTotal || ev.BytesDone < 0 {
				t.Fatalf("upload progress %d of %d", ev.BytesDone, ev.BytesTotal)
			}
			last = ev
		}
	}
	if last.BytesDone != total || last.FilesDone != len(files) {
		t.Errorf("last upload event %+v, want all %d files / %d bytes", last, len(files), total)
	}
	// The host holds every file intact: it serves the same bytes, and a new
	// session for the same site needs nothing.
	checkServed(t, hostURL, p.ID, files)
	again, err := direct.Deploy(ctx, client.DeployOptions{ProjectID: p.ID, Dir: dir, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if again.NeedFiles != 0 {
		t.Errorf("after the deploy the host still needs %d files", again.NeedFiles)
	}
}

// reverseTo forwards requests to host as they are.
func reverseTo(hostport string) http.Handler {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.URL.Scheme, out.URL.Host = "http", hostport
		resp, err := tr.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
}

func TestDeployResumesAfterTokenExpiry(t *testing.T) {
	t.Parallel()
	// The host's clock jumps past the tokens' lifetime (and jwt's leeway)
	// while the second upload is on its way, as on a slow link; the host
	// then refuses that upload with 401.
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	_, hostURL := startHost(t, host.Config{TokenTTL: time.Minute, Now: now})
	direct := newClient(t, hostURL)
	var uploads atomic.Int64
	target := strings.TrimPrefix(hostURL, "http://")
	next := reverseTo(target)
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/assets/upload") && uploads.Add(1) == 2 {
			skew.Add(int64(2 * time.Minute))
		}
		next.ServeHTTP(w, r)
	}))
	t.Cleanup(ps.Close)

	dir, files := makeSite(t, 150) // several buckets
	ctx := context.Background()
	p, err := direct.CreateProject(ctx, "resume")
	if err != nil {
		t.Fatal(err)
	}
	var notices []string
	var mu sync.Mutex
	res, err := newClient(t, ps.URL).Deploy(ctx, client.DeployOptions{
		ProjectID: p.ID, Dir: dir, Concurrency: 1,
		Progress: func(ev client.Event) {
			mu.Lock()
			defer mu.Unlock()
			if ev.Notice != "" {
				notices = append(notices, ev.Notice)
			}
		},
	})
	if err != nil {
		t.Fatalf("deploy: %v (notices: %q)", err, notices)
	}
	if res.Sessions < 2 {
		t.Errorf("deploy used %d session(s); the expired token should have forced a new one (notices: %q)", res.Sessions, notices)
	}
	if res.DeployedAssets != len(files) {
		t.Errorf("deployed %d, want %d", res.DeployedAssets, len(files))
	}
	checkServed(t, hostURL, p.ID, files)
}

func TestDeployCancelled(t *testing.T) {
	t.Parallel()
	_, hostURL := startHost(t, host.Config{})
	direct := newClient(t, hostURL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{}, 1)
	finished := make(chan struct{})
	target := strings.TrimPrefix(hostURL, "http://")
	next := reverseTo(target)
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/assets/upload") {
			select {
			case started <- struct{}{}:
			default:
			}
			io.Copy(io.Discard, r.Body)
			select { // never answer: the client has to give up by itself
			case <-r.Context().Done():
			case <-finished:
			}
			return
		}
		next.ServeHTTP(w, r)
	}))
	t.Cleanup(ps.Close)
	t.Cleanup(func() { close(finished) }) // runs before ps.Close
	dir, _ := makeSite(t, 20)
	p, err := direct.CreateProject(context.Background(), "cancel")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		<-started
		cancel()
	}()
	_, err = newClient(t, ps.URL).Deploy(ctx, client.DeployOptions{ProjectID: p.ID, Dir: dir})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	ds, err := direct.ListDeployments(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 0 {
		t.Errorf("a cancelled deploy left %d deployments", len(ds))
	}
}
