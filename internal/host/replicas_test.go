package host

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cfdeploy/cfdeploy/internal/host/store/pgtest"
	"github.com/cfdeploy/cfdeploy/internal/poll"
	"github.com/cfdeploy/cfdeploy/pkg/api"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// newReplicas starts n hosts on one PostgreSQL database, each with its own
// scratch data directory.
func newReplicas(t *testing.T, n int) []*testHost {
	t.Helper()
	dsn := pgtest.DSN(t)
	hosts := make([]*testHost, n)
	for i := range hosts {
		hosts[i] = newTestHost(t, func(c *Config) { c.Database = dsn; c.DatabasePoll = time.Second })
	}
	return hosts
}

// eventually retries check until it passes or limit passes, and returns
// how long that took.
func eventually(t *testing.T, limit time.Duration, what string, check func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	poll.Until(t, limit, what, check)
	return time.Since(start)
}

// TestReplicasActAsOneHost: an upload whose session, buckets and deploy go
// to three different replicas succeeds; and a deploy, rollback, domain and
// delete through one replica reach the others, including one that had the
// project's old deployment cached.
func TestReplicasActAsOneHost(t *testing.T) {
	t.Parallel()
	r := newReplicas(t, 3)
	p := r[0].createProject("shared")
	files := siteFiles{"/index.html": "v1", "/a.txt": "aaa", "/b.txt": "bbb"}
	resp, body := r[0].do("POST", "/__api/projects/"+p.ID+"/assets-upload-session", api.UploadSessionRequest{Manifest: files.manifest()})
	sess := want[api.UploadSessionResponse](t, resp, body, http.StatusOK).Result
	byHash := map[string]string{}
	for _, c := range files {
		byHash[sha([]byte(c))] = c
	}
	var hashes []string
	for _, b := range sess.Buckets {
		hashes = append(hashes, b...)
	}
	var completion string
	for i, h := range hashes {
		payload := map[string]string{h: base64.StdEncoding.EncodeToString([]byte(byHash[h]))}
		resp, body := r[1+i%2].do("POST", "/__api/projects/"+p.ID+"/assets/upload", payload, "Authorization", "Bearer "+sess.JWT)
		status := http.StatusOK
		if i == len(hashes)-1 {
			status = http.StatusCreated
		}
		if res := want[api.UploadResponse](t, resp, body, status); res.Result.JWT != nil {
			completion = *res.Result.JWT
		}
	}
	resp, body = r[2].do("POST", "/__api/projects/"+p.ID+"/deploy", api.DeployRequest{CompletionJWT: completion})
	first := want[api.DeployResponse](t, resp, body, http.StatusOK).Deployment.ID
	host := p.ID + ".localhost"
	for i, th := range r {
		if _, page := th.fetch(host, "/"); page != "v1" {
			t.Fatalf("replica %d serves %q", i, page)
		}
	}

	r[0].deploy(p.ID, siteFiles{"/index.html": "v2"})
	for i, th := range r[1:] {
		took := eventually(t, 10*time.Second, "replica serves the new deploy", func() bool { _, page := th.fetch(host, "/"); return page == "v2" })
		t.Logf("replica %d served the deploy after %v", i+1, took)
	}

	resp, body = r[1].do("POST", "/__api/projects/"+p.ID+"/rollback", api.RollbackRequest{DeploymentID: first})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rollback: %d %s", resp.StatusCode, body)
	}
	eventually(t, 10*time.Second, "replica 0 serves the rollback", func() bool { _, page := r[0].fetch(host, "/"); return page == "v1" })

	resp, body = r[2].do("POST", "/__api/projects/"+p.ID+"/domains", map[string]string{"hostname": "www.example.test"})
	if resp.StatusCode/100 != 2 {
		t.Fatalf("add domain: %d %s", resp.StatusCode, body)
	}
	eventually(t, 10*time.Second, "replica 0 routes the new domain", func() bool { _, page := r[0].fetch("www.example.test", "/"); return page == "v1" })

	resp, body = r[0].do("DELETE", "/__api/projects/"+p.ID, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	for _, th := range r[1:] {
		eventually(t, 10*time.Second, "replica forgets the deleted project", func() bool { resp, _ := th.fetch(host, "/"); return resp.StatusCode == http.StatusNotFound })
	}
}

// TestReplicasShareTheAPIToken: replicas without a configured token all
// accept the one the first of them stored in the database, and each writes
// it to its data directory for the operator.
func TestReplicasShareTheAPIToken(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	var dirs []string
	for range 2 {
		dir := t.TempDir()
		h, err := New(t.Context(), Config{DataDir: dir, Database: dsn})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		dirs = append(dirs, dir)
	}
	a, _ := os.ReadFile(filepath.Join(dirs[0], "api-token"))
	b, _ := os.ReadFile(filepath.Join(dirs[1], "api-token"))
	if len(strings.TrimSpace(string(a))) < 32 || string(a) != string(b) {
		t.Fatalf("replicas' api-token files differ: %q and %q", a, b)
	}
}

// TestHealthReportsDatabase: the health endpoint names the store, and a
// replica whose database is gone answers 503.
func TestHealthReportsDatabase(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	resp, body := th.do("GET", "/__api/health", nil)
	if h := want[api.HealthResponse](t, resp, body, http.StatusOK); h.Result.Database == nil || h.Result.Database.Kind != "sqlite" {
		t.Fatalf("health %s", body)
	}
	r := newReplicas(t, 1)[0]
	resp, body = r.do("GET", "/__api/health", nil)
	if h := want[api.HealthResponse](t, resp, body, http.StatusOK); h.Result.Database.Kind != "postgres" || h.Result.Database.SchemaVersion < 1 {
		t.Fatalf("health %s", body)
	}
	r.h.pg.Close()
	resp, body = r.do("GET", "/__api/health", nil)
	if h := want[api.HealthResponse](t, resp, body, http.StatusServiceUnavailable); h.Result.Database.Status != "unreachable" {
		t.Fatalf("health without its database %s", body)
	}
}

// TestReplicasLearnOfVariants: a replica that served a file before any
// replica compressed it serves the compressed variant once one has been
// stored, though its asset cache remembered that there was none.
func TestReplicasLearnOfVariants(t *testing.T) {
	t.Parallel()
	r := newReplicas(t, 2)
	p := r[0].createProject("gz")
	page := strings.Repeat("<p>hello compression</p>\n", 100)
	r[0].deploy(p.ID, siteFiles{"/index.html": page})
	encoding := func(th *testHost) string {
		req, _ := http.NewRequest("GET", th.srv.URL+"/", nil)
		req.Host = p.ID + ".localhost"
		req.Header.Set("Accept-Encoding", "br")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Content-Encoding")
	}
	if enc := encoding(r[1]); enc != "" {
		t.Skipf("compressed before the first request (%q): nothing to test", enc)
	}
	waitCompressed(t, r[0])
	eventually(t, 10*time.Second, "replica 1 serves the br variant", func() bool { return encoding(r[1]) == "br" })
}

// TestReplicaRecheckAfterReconnect: a replica whose database connection
// for change notifications drops misses what is deployed meanwhile, and
// once reconnected drops its caches and serves the new deploy.
func TestReplicaRecheckAfterReconnect(t *testing.T) {
	t.Parallel()
	r := newReplicas(t, 2)
	p := r[0].createProject("reconnect")
	r[0].deploy(p.ID, siteFiles{"/index.html": "v1"})
	host := p.ID + ".localhost"
	if _, page := r[1].fetch(host, "/"); page != "v1" {
		t.Fatalf("replica 1 serves %q", page)
	}
	// Cut every replica's notification connection; they reconnect after a
	// second, and the deploy commits before that.
	conn, err := pgx.Connect(t.Context(), r[0].h.cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var cut int
	if err := conn.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name LIKE '%changes'`).Scan(&cut); err != nil || cut != 2 {
		t.Fatalf("cut %d listeners (%v), want 2", cut, err)
	}
	r[0].deploy(p.ID, siteFiles{"/index.html": "v2"})
	eventually(t, 20*time.Second, "replica 1 serves the deploy made while it was not listening", func() bool {
		_, page := r[1].fetch(host, "/")
		return page == "v2"
	})
}
