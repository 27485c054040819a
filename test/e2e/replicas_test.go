package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cfdeploy/cfdeploy/internal/host/store/pgtest"
	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// roundRobin is the load balancer of the replica tests: an
// httputil.ReverseProxy that sends each request to the next replica, and
// to the one after when a replica does not answer (connection refused or
// reset), as nginx's proxy_next_upstream does.
type roundRobin struct {
	reps []*server
	next atomic.Uint64
	srv  *httptest.Server
	// failovers counts requests sent on to another replica.
	failovers atomic.Int64
}

func newRoundRobin(t *testing.T, reps []*server) *roundRobin {
	t.Helper()
	rr := &roundRobin{reps: reps}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "replica"
			r.Out.Host = r.In.Host
		},
		Transport:     rr,
		FlushInterval: -1,
	}
	rr.srv = httptest.NewServer(proxy)
	t.Cleanup(rr.srv.Close)
	return rr
}

var upstream = &http.Transport{
	MaxIdleConnsPerHost: 64,
	DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
}

// RoundTrip sends req to the replicas in turn until one answers. The body
// is read once so that it can be sent again.
func (rr *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	start := rr.next.Add(1)
	var lastErr error
	for i := range uint64(len(rr.reps)) {
		rep := rr.reps[(start+i)%uint64(len(rr.reps))]
		out := req.Clone(req.Context())
		out.URL.Host = rep.addr
		if body != nil {
			out.Body = io.NopCloser(strings.NewReader(string(body)))
			out.ContentLength = int64(len(body))
		}
		resp, err := upstream.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		rr.failovers.Add(1)
	}
	return nil, lastErr
}

var (
	cfdeployOnce sync.Once
	cfdeployPath string
	cfdeployErr  error
)

// cfdeployBinary builds ./cmd/cfdeploy once per test binary.
func cfdeployBinary(t *testing.T) string {
	t.Helper()
	cfdeployOnce.Do(func() {
		cfdeployPath = filepath.Join(workDir, "cfdeploy")
		if out, err := exec.Command("go", "build", "-trimpath", "-o", cfdeployPath, "../../cmd/cfdeploy").CombinedOutput(); err != nil {
			cfdeployErr = fmt.Errorf("build cfdeploy: %v\n%s", err, out)
		}
	})
	if cfdeployErr != nil {
		t.Fatal(cfdeployErr)
	}
	return cfdeployPath
}

// versionSite is version v of the replicated site: a page and a script
// that both name v, and filler files whose content is new in every
// version, so that each deploy uploads something.
func versionSite(v, filler, fillerSize int) site {
	st := site{
		"/index.html": fmt.Appendf(nil, "<!doctype html><title>v</title><script src=/app.js></script>page v=%d", v),
		"/app.js":     fmt.Appendf(nil, "var v = %d;", v),
	}
	for i := range filler {
		unit := fmt.Sprintf("v%d file %d ", v, i)
		b := []byte(strings.Repeat(unit, fillerSize/len(unit)+1))[:fillerSize]
		st[fmt.Sprintf("/files/%03d.txt", i)] = b
	}
	return st
}

var versionRE = regexp.MustCompile(`v(?:=| = )(\d+)`)

// servedVersion fetches path of the project at base and returns the
// version it names, the status, and any transport error.
func servedVersion(ctx context.Context, hc *http.Client, base, id, path string) (int, int, error) {
	resp, body, err := fetch(ctx, hc, base+"/__project/"+id+path, nil)
	if err != nil {
		return 0, 0, err
	}
	m := versionRE.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		return 0, resp.StatusCode, nil
	}
	v, _ := strconv.Atoi(string(m[1]))
	return v, resp.StatusCode, nil
}

// withAppName sets the PostgreSQL application_name of a replica's
// connections, so the test can tell which replica holds a lock.
func withAppName(dsn, name string) string {
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestReplicasOnPostgres runs PostgreSQL and three cfhost replicas behind a
// round-robin proxy. A real `cfdeploy deploy` through the proxy (session,
// buckets and deploy spread over the replicas) succeeds and every replica
// serves it within a second, though each had the old version cached; 64
// connections loading pages across the replicas during 20 redeploys see
// no 5xx and no page whose script is older than the page; a replica killed
// mid-deploy leaves the others serving and the re-run deploy completes, a
// replica killed while it holds the garbage-collection job leaves another
// to take it over, and a killed replica restarted later catches up.
func TestReplicasOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("three replicas under load through two dozen deploys and three kills (internal/host's replica tests cover the basics)")
	}
	dsn := pgtest.DSN(t)
	token := randomHex(16)
	reps := make([]*server, 3)
	for i := range reps {
		reps[i] = startServer(t, "", "--database", withAppName(dsn, fmt.Sprintf("cfhost-%d", i)), "--api-token", token,
			"--gc-interval", "200ms", "--gc-grace", "2s", "--access-log=false")
		reps[i].token = token
	}
	lb := newRoundRobin(t, reps)
	ctx := context.Background()
	c, err := client.New(lb.srv.URL, client.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	id := createProject(t, c, "replicated")
	hc := plainHTTP()
	dir := filepath.Join(t.TempDir(), "site")
	deploy := func(v, filler, size int, progress func(client.Event)) error {
		versionSite(v, filler, size).write(t, dir)
		_, err := c.Deploy(ctx, client.DeployOptions{ProjectID: id, Dir: dir, Progress: progress})
		return err
	}

	// Every replica has version 0 cached.
	if err := deploy(0, 20, 2000, nil); err != nil {
		t.Fatal(err)
	}
	for i, rep := range reps {
		if v, status, err := servedVersion(ctx, hc, rep.url(""), id, "/"); v != 0 || status != 200 || err != nil {
			t.Fatalf("replica %d serves v%d (%d, %v)", i, v, status, err)
		}
	}

	// A real cfdeploy deploy through the proxy.
	versionSite(1, 50, 3000).write(t, dir)
	out, err := exec.Command(cfdeployBinary(t), "deploy", dir, "--host", lb.srv.URL, "--token", token, "--project", id).CombinedOutput()
	if err != nil {
		t.Fatalf("cfdeploy deploy: %v\n%s", err, out)
	}
	deployed := time.Now()
	var slowest time.Duration
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, rep := range reps {
		wg.Go(func() {
			for {
				v, _, _ := servedVersion(ctx, hc, rep.url(""), id, "/")
				if v == 1 {
					took := time.Since(deployed)
					mu.Lock()
					slowest = max(slowest, took)
					mu.Unlock()
					return
				}
				if time.Since(deployed) > 10*time.Second {
					t.Errorf("replica %d still serves v%d 10s after the deploy", i, v)
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	t.Logf("the slowest replica served the new deploy %v after cfdeploy returned", slowest)
	if slowest > time.Second {
		t.Errorf("a replica took %v to serve the new deploy, over 1s", slowest)
	}

	// Page loads through the proxy from here to the end.
	var loads, mixed, errs5xx, failed atomic.Int64
	var firstFailure atomic.Value
	lctx, stopLoads := context.WithCancel(ctx)
	var loaders sync.WaitGroup
	for range 64 {
		loaders.Go(func() {
			for lctx.Err() == nil {
				pv, ps, perr := servedVersion(lctx, hc, lb.srv.URL, id, "/")
				jv, js, jerr := servedVersion(lctx, hc, lb.srv.URL, id, "/app.js")
				if lctx.Err() != nil {
					return
				}
				loads.Add(1)
				switch {
				case perr != nil || jerr != nil:
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprint(errors.Join(perr, jerr)))
				case ps >= 500 || js >= 500:
					errs5xx.Add(1)
				case ps != 200 || js != 200:
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("statuses %d %d", ps, js))
				case jv < pv:
					mixed.Add(1)
				}
			}
		})
	}
	for v := 2; v <= 21; v++ {
		if err := deploy(v, 20, 2000, nil); err != nil {
			t.Fatalf("redeploy %d: %v", v, err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	t.Logf("20 redeploys under load: %d page loads, %d with a 5xx, %d failed, %d mixed (script older than page)",
		loads.Load(), errs5xx.Load(), failed.Load(), mixed.Load())

	// A replica killed mid-deploy: the deploy may fail, a re-run completes.
	var killOnce sync.Once
	err = deploy(22, 200, 8000, func(e client.Event) {
		if e.Phase == client.PhaseUpload && e.FilesDone > 20 {
			killOnce.Do(reps[1].sigkill)
		}
	})
	killOnce.Do(reps[1].sigkill)
	reps[1].waitExit()
	t.Logf("deploy with a replica killed midway: %v", err)
	if err := deploy(22, 200, 8000, nil); err != nil {
		t.Fatalf("re-run deploy with a replica down: %v", err)
	}
	for _, i := range []int{0, 2} {
		if v, _, err := servedVersion(ctx, hc, reps[i].url(""), id, "/"); v != 22 || err != nil {
			t.Fatalf("replica %d serves v%d after the re-run (%v)", i, v, err)
		}
	}

	// A replica killed while it holds the garbage-collection job.
	watcher, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close(ctx)
	gcHolder := func() string {
		var name string
		err := watcher.QueryRow(ctx, `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 LIMIT 1`,
			uint32(gcJobKey>>32), uint32(gcJobKey&0xffffffff)).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		return name
	}
	var victim string
	for deadline := time.Now().Add(30 * time.Second); victim == "" && time.Now().Before(deadline); {
		if h := gcHolder(); h == "cfhost-0" || h == "cfhost-2" {
			victim = h
		}
	}
	if victim == "" {
		t.Fatal("no replica was ever seen collecting garbage")
	}
	vi, _ := strconv.Atoi(strings.TrimPrefix(victim, "cfhost-"))
	reps[vi].sigkill()
	reps[vi].waitExit()
	t.Logf("killed %s while it held the garbage-collection job", victim)
	survivor := reps[2-vi]
	for deadline := time.Now().Add(30 * time.Second); ; {
		if gcHolder() == fmt.Sprintf("cfhost-%d", 2-vi) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the surviving replica never took the garbage-collection job over")
		}
	}
	if v, _, err := servedVersion(ctx, hc, survivor.url(""), id, "/"); v != 22 || err != nil {
		t.Fatalf("the surviving replica serves v%d (%v)", v, err)
	}

	// The killed replicas restart and catch up with a deploy made while
	// they were down.
	if err := deploy(23, 20, 2000, nil); err != nil {
		t.Fatalf("deploy with one replica up: %v", err)
	}
	for _, i := range []int{1, vi} {
		if err := reps[i].start(); err != nil {
			t.Fatal(err)
		}
		if v, _, err := servedVersion(ctx, hc, reps[i].url(""), id, "/"); v != 23 || err != nil {
			t.Fatalf("restarted replica %d serves v%d (%v)", i, v, err)
		}
	}
	stopLoads()
	loaders.Wait()
	t.Logf("page loads through the proxy: %d, %d with a 5xx, %d failed, %d mixed; the proxy failed over %d requests",
		loads.Load(), errs5xx.Load(), failed.Load(), mixed.Load(), rr(lb))
	if errs5xx.Load() != 0 || failed.Load() != 0 || mixed.Load() != 0 {
		t.Errorf("page loads saw %d 5xx, %d failures (first: %v), %d mixed versions", errs5xx.Load(), failed.Load(), firstFailure.Load(), mixed.Load())
	}

	// Nothing the kills interrupted left the database inconsistent: every
	// listed file has its blob and its bytes, and every file of the live
	// deployment reads back through every replica.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var lost, chunkless int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM deployment_assets a WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = a.hash)`).Scan(&lost); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM blob_chunks c WHERE c.hash = b.hash AND c.encoding = '')`).Scan(&chunkless); err != nil {
		t.Fatal(err)
	}
	if lost != 0 || chunkless != 0 {
		t.Fatalf("%d listed files without a blob, %d blobs without their bytes", lost, chunkless)
	}
	final := versionSite(23, 20, 2000)
	for i, rep := range reps {
		for p, want := range final {
			resp, body, err := fetch(ctx, hc, rep.url("/__project/"+id+strings.TrimSuffix(p, "index.html")), nil)
			if err != nil || resp.StatusCode != 200 || string(body) != string(want) {
				t.Fatalf("replica %d %s: %v %v", i, p, err, resp)
			}
		}
	}
}

// gcJobKey is the advisory lock key of the garbage-collection job (the
// store's lockJobs + jobGC).
const gcJobKey int64 = 0x636668_1000

func rr(lb *roundRobin) int64 { return lb.failovers.Load() }

// TestReplicasRefuseBadDatabase: cfhost serve refuses to start, with a
// message saying why, on a database that does not answer and on one whose
// schema a newer cfhost wrote.
func TestReplicasRefuseBadDatabase(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	rep := startServer(t, "", "--database", dsn)
	rep.kill()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "INSERT INTO schema_migrations(version, applied_at) VALUES (9999, 0)"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, database, want string }{
		{"unreachable", "postgres://nobody@127.0.0.1:1/none?connect_timeout=3", "unreachable"},
		{"newer schema", dsn, "newer than this cfhost knows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, cfhostBinary(t), "serve", "--listen", freeAddr(t), "--data-dir", t.TempDir(),
				"--database", tc.database).CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || !strings.Contains(string(out), tc.want) {
				t.Fatalf("cfhost serve: %v, output:\n%s\nwant a failure saying %q", err, out, tc.want)
			}
		})
	}
}
