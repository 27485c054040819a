package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/poll"
	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// crashGrace is the --gc-grace of the crash test: short, so that garbage
// collection really runs (and is killed) during the test, long enough that a
// deploy's own fresh uploads are not collected under it.
const crashGrace = 3 * time.Second

// crashModel is what the test knows about one project, independently of the
// host: every site it tried to deploy, which one is surely active, which
// one may have become active when the server died mid-finalize, and which
// contents the host must, may or cannot hold.
type crashModel struct {
	id        string
	name      string
	sites     map[int]site
	confirmed int // seq of the surely-active deployment, -1 for none
	inflight  int // seq whose finalize was cut by the kill, -1 for none
	// durable are the contents of deployments that were active at some
	// point: deployments are never deleted, so neither is their content.
	durable map[string]bool
	// acked maps contents whose bucket the host acknowledged to the time
	// it did; they stay until garbage collection finds them older than
	// the grace period.
	acked map[string]time.Time
	// sent is every content ever put on the wire for this project,
	// acknowledged or not: the host cannot hold anything else for it.
	sent map[string]bool
}

func (m *crashModel) confirm(seq int) {
	m.confirmed = seq
	for h := range m.sites[seq].hashes() {
		m.durable[h] = true
		m.sent[h] = true
	}
	if m.inflight == seq {
		m.inflight = -1
	}
}

// needBounds returns how many of st's contents the host may ask this
// project to upload: at least those never sent, at most those neither
// durable nor acknowledged recently enough to have escaped collection.
func (m *crashModel) needBounds(st site) (lo, hi int) {
	safe := time.Now().Add(-crashGrace + 500*time.Millisecond)
	for h := range st.hashes() {
		if !m.sent[h] && !m.durable[h] {
			lo++
		}
		if t, ok := m.acked[h]; !m.durable[h] && !(ok && t.After(safe)) {
			hi++
		}
	}
	return lo, hi
}

// crashPhases are the moments the server is killed in, taken in turn.
var crashPhases = []string{"upload", "finalize", "gc", "compress"}

// TestCrashSafety deploys in a loop through pkg/client and kills the server
// with SIGKILL at random moments: mid-upload (at a random byte of the
// buckets), mid-finalize, while garbage collection deletes a deleted
// project's content, and while background compression writes variants.
// After every kill the database passes SQLite's integrity and foreign-key
// checks, the server restarts on the same data, every project serves its
// active deployment completely (every asset, in every stored encoding, with
// the right bytes), and the interrupted deploy run again completes and
// uploads only what the host lacks.
//
// CFHOST_E2E_KILLS sets the number of kills (default 24; 200 with
// CFHOST_SOAK=1); CFHOST_E2E_SEED replays a run.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills and restarts the real binary many times")
	}
	kills := envInt("CFHOST_E2E_KILLS", 24)
	if soak() {
		kills = envInt("CFHOST_E2E_KILLS", 200)
	}
	seed := uint64(envInt("CFHOST_E2E_SEED", int(time.Now().UnixNano()%1e9)))
	t.Logf("seed %d (CFHOST_E2E_SEED=%d replays this run), %d kills", seed, seed, kills)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))

	// Every kill mid-upload or mid-finalize leaves a session open, far more
	// than --max-upload-sessions in a soak run; the quota is not under test.
	srv := startServer(t, "", "--gc-grace", crashGrace.String(), "--gc-interval", "100ms", "--access-log=false", "--log-level", "warn",
		"--max-upload-sessions", "1000")
	// The interrupted calls must fail at once when the server dies, not
	// retry into the restarted one.
	once := srv.client(t, client.Options{MaxAttempts: 1, RequestTimeout: 30 * time.Second})
	patient := srv.client(t, client.Options{})
	hc := plainHTTP()
	root := t.TempDir()

	models := make([]*crashModel, 3)
	for i := range models {
		name := fmt.Sprintf("crash-%d", i)
		m := &crashModel{id: createProject(t, patient, name), name: name, sites: map[int]site{},
			confirmed: -1, inflight: -1, durable: map[string]bool{}, acked: map[string]time.Time{}, sent: map[string]bool{}}
		models[i] = m
		st := crashSite(rng, m.name, 0, "")
		m.sites[0] = st
		deployChecked(t, patient, m, 0, filepath.Join(root, m.name))
	}

	seq := 0
	counts := map[string]int{}
	for i := range kills {
		phase := crashPhases[i%len(crashPhases)]
		m := models[rng.IntN(len(models))]
		seq++
		st := crashSite(rng, m.name, seq, phase)
		m.sites[seq] = st
		dir := filepath.Join(root, m.name)
		st.write(t, dir)

		var detail string
		switch phase {
		case "upload":
			detail = killDuringUpload(t, srv, once, m, seq, dir, rng)
		case "finalize":
			detail = killDuringFinalize(t, srv, once, m, seq, dir, rng)
		case "gc":
			detail = killDuringGC(t, srv, patient, root, rng)
		case "compress":
			detail = killDuringCompression(t, srv, patient, m, seq, dir, rng)
		}
		srv.waitExit()
		counts[phase]++
		t.Logf("kill %2d: %-8s %s: %s", i+1, phase, m.name, detail)
		if err := checkDatabase(srv.dbPath()); err != nil {
			t.Fatalf("kill %d (%s, %s): database damaged: %v", i+1, phase, detail, err)
		}
		if err := srv.start(); err != nil {
			t.Fatalf("kill %d (%s, %s): restart: %v", i+1, phase, detail, err)
		}
		for _, pm := range models {
			verifyActive(t, srv, hc, pm, fmt.Sprintf("after kill %d (%s, %s)", i+1, phase, detail))
		}
		// Run the interrupted deploy again (or, when it had landed, the
		// same content once more): it completes and uploads only what the
		// host lacks.
		deployChecked(t, patient, m, seq, dir)
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("survived %d SIGKILLs (%v) and %d restarts; every restart passed integrity_check and served every asset intact",
		kills, counts, srv.starts-1)

	// Compression cut by kills resumes: every large page ends up served
	// as brotli and gzip that decode to the deployed bytes.
	waitForVariants(t, srv, hc, models)
	for _, pm := range models {
		verifyActive(t, srv, hc, pm, "at the end")
	}

	// Once the dust settles, garbage collection leaves nothing behind that
	// no deployment uses: crashes leak no blobs.
	time.Sleep(crashGrace + 500*time.Millisecond)
	srv.stop()
	if err := checkDatabase(srv.dbPath()); err != nil {
		t.Fatalf("after a clean stop: %v", err)
	}
	if n, err := orphanBlobs(srv.dbPath()); err != nil || n != 0 {
		t.Errorf("%d blobs no deployment uses outlived garbage collection (%v)", n, err)
	}
}

// waitForVariants waits until the large pages of every project's active
// deployment are offered precompressed in both encodings.
func waitForVariants(t *testing.T, srv *server, hc *http.Client, models []*crashModel) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for _, m := range models {
		for p := range m.sites[m.confirmed] {
			if !strings.HasPrefix(p, "/docs/") {
				continue
			}
			for _, enc := range []string{"br", "gzip"} {
				var err error
				if !poll.Wait(time.Until(deadline), func() bool {
					var resp *http.Response
					resp, _, err = fetch(ctx, hc, srv.projectURL(m.id, canonicalPath(p)), map[string]string{"Accept-Encoding": enc})
					return err == nil && resp.Header.Get("Content-Encoding") == enc
				}) {
					t.Fatalf("%s %s is still not offered as %s a minute after the last deploy (%v)", m.name, p, enc, err)
				}
			}
		}
	}
}

// orphanBlobs counts stored blobs that no deployment uses.
func orphanBlobs(dbPath string) (int, error) {
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	if err != nil {
		return -1, err
	}
	defer db.Close()
	var n int
	err = db.QueryRow(`SELECT count(*) FROM blobs b
		WHERE NOT EXISTS (SELECT 1 FROM deployment_assets a WHERE a.hash = b.hash)
		AND NOT EXISTS (SELECT 1 FROM deployment_modules m WHERE m.hash = b.hash)`).Scan(&n)
	return n, err
}

// crashSite builds version seq of a project's site. Every version shares a
// set of library files with the others (so dedup is exercised) and has its
// own pages; the upload phase adds many random files (several buckets and
// megabytes to cut through) and the compress phase large compressible text.
func crashSite(rng *rand.Rand, project string, seq int, phase string) site {
	st := site{
		"/index.html":  fmt.Appendf(nil, "<!doctype html><title>%s</title><h1>%s build %d</h1>\n", project, project, seq),
		"/version.txt": []byte(strconv.Itoa(seq)),
	}
	for k := range 8 {
		st[fmt.Sprintf("/lib/shared-%d.js", k)] = fmt.Appendf(nil, "// %s shared library %d\nexport const n = %d;\n%s", project, k, k, strings.Repeat("/* padding */\n", 40*(k+1)))
	}
	for k := range 4 {
		st[fmt.Sprintf("/pages/p%d-%d.html", seq, k)] = fmt.Appendf(nil, "<p>%s page %d of build %d</p>%s", project, k, seq, strings.Repeat("<span>text</span>", 30))
	}
	switch phase {
	case "upload":
		for k := range 110 {
			st[fmt.Sprintf("/data/d%d-%03d.bin", seq, k)] = randomBytes(rng, 2<<10+rng.IntN(14<<10))
		}
		st[fmt.Sprintf("/media/big-%d-a.bin", seq)] = randomBytes(rng, 1<<20+rng.IntN(1<<20))
		st[fmt.Sprintf("/media/big-%d-b.bin", seq)] = randomBytes(rng, 1<<20+rng.IntN(1<<20))
	case "compress":
		for k := range 3 {
			var b strings.Builder
			for b.Len() < 600<<10 {
				fmt.Fprintf(&b, "<p>%s build %d paragraph %d: %x</p>\n", project, seq, rng.IntN(1000), rng.Uint32())
			}
			st[fmt.Sprintf("/docs/long-%d-%d.html", seq, k)] = []byte(b.String())
		}
	}
	return st
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// openSession opens an upload session for site seq and indexes the site's
// files by hash, for sending the buckets the host asks for.
func openSession(t *testing.T, c *client.Client, m *crashModel, seq int, dir string) (*api.UploadSessionResult, map[string]manifest.File) {
	t.Helper()
	st := m.sites[seq]
	sess, err := c.CreateUploadSession(context.Background(), m.id, st.manifest())
	if err != nil {
		t.Fatalf("upload session: %v", err)
	}
	byHash := map[string]manifest.File{}
	for _, f := range st.files(dir) {
		byHash[f.Hash] = f
	}
	return sess, byHash
}

// killDuringUpload opens an upload session, then sends the buckets one by
// one and kills the server once a random number of body bytes has left the
// client: mid-bucket, or between two.
func killDuringUpload(t *testing.T, srv *server, c *client.Client, m *crashModel, seq int, dir string, rng *rand.Rand) string {
	t.Helper()
	ctx := context.Background()
	st := m.sites[seq]
	sess, byHash := openSession(t, c, m, seq, dir)
	var total int64
	for _, b := range sess.Buckets {
		for _, h := range b {
			total += byHash[h].Size
		}
	}
	if total == 0 {
		t.Fatalf("the host asked for nothing of a site with %d new random files", len(st))
	}
	killAt := rng.Int64N(total)
	var sent atomic.Int64
	acked := 0
	for _, b := range sess.Buckets {
		files := make([]manifest.File, len(b))
		for i, h := range b {
			files[i] = byHash[h]
			m.sent[h] = true
		}
		_, err := c.UploadBucket(ctx, m.id, sess.JWT, files, func(d int64) {
			if sent.Add(d) >= killAt && sent.Load()-d < killAt {
				srv.sigkill()
			}
		})
		if err != nil {
			return fmt.Sprintf("killed at byte %d of %d, after %d of %d buckets", killAt, total, acked, len(sess.Buckets))
		}
		acked++
		for _, h := range b {
			m.acked[h] = time.Now()
		}
	}
	// The kill landed after the last byte; the server may have answered
	// before dying.
	srv.sigkill()
	return fmt.Sprintf("killed after all %d buckets", len(sess.Buckets))
}

// killDuringFinalize uploads everything, then kills the server a random
// moment (0–8 ms) after the finalize call leaves: before it arrives,
// inside its transaction, or after it committed.
func killDuringFinalize(t *testing.T, srv *server, c *client.Client, m *crashModel, seq int, dir string, rng *rand.Rand) string {
	t.Helper()
	ctx := context.Background()
	sess, byHash := openSession(t, c, m, seq, dir)
	completion := sess.JWT
	for _, b := range sess.Buckets {
		files := make([]manifest.File, len(b))
		for i, h := range b {
			files[i] = byHash[h]
			m.sent[h] = true
		}
		jwt, err := c.UploadBucket(ctx, m.id, sess.JWT, files, nil)
		if err != nil {
			t.Fatalf("upload bucket: %v", err)
		}
		for _, h := range b {
			m.acked[h] = time.Now()
		}
		if jwt != "" {
			completion = jwt
		}
	}
	delay := time.Duration(rng.Int64N(int64(8 * time.Millisecond)))
	m.inflight = seq
	errc := make(chan error, 1)
	go func() {
		_, err := c.Finalize(ctx, m.id, api.DeployRequest{CompletionJWT: completion})
		errc <- err
	}()
	time.Sleep(delay)
	srv.sigkill()
	if err := <-errc; err == nil {
		m.confirm(seq)
		return fmt.Sprintf("killed %s into finalize, after it answered", delay)
	}
	return fmt.Sprintf("killed %s into finalize", delay)
}

// killDuringGC makes garbage (a throwaway project with a few hundred
// blobs, deployed and deleted), waits until it is old enough to collect,
// and kills the server at a random moment around the collection that
// deletes it (collection runs every 100 ms).
func killDuringGC(t *testing.T, srv *server, c *client.Client, root string, rng *rand.Rand) string {
	t.Helper()
	ctx := context.Background()
	id := createProject(t, c, "garbage")
	st := site{}
	for k := range 300 {
		st[fmt.Sprintf("/junk/%03d.bin", k)] = randomBytes(rng, 4<<10+rng.IntN(16<<10))
	}
	dir := filepath.Join(root, "garbage")
	st.write(t, dir)
	if _, err := c.Deploy(ctx, client.DeployOptions{ProjectID: id, Dir: dir}); err != nil {
		t.Fatalf("deploy garbage: %v", err)
	}
	uploaded := time.Now()
	if err := c.DeleteProject(ctx, id); err != nil {
		t.Fatal(err)
	}
	if resp, _, err := fetch(ctx, http.DefaultClient, srv.projectURL(id, "/junk/000.bin"), nil); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a deleted project still answers: %v %v", resp.Status, err)
	}
	at := crashGrace - 50*time.Millisecond + time.Duration(rng.Int64N(int64(300*time.Millisecond)))
	time.Sleep(time.Until(uploaded.Add(at)))
	srv.sigkill()
	return fmt.Sprintf("killed %s after 300 blobs became garbage", at-crashGrace)
}

// killDuringCompression deploys large compressible pages and kills the
// server at a random moment while the background compressor (which starts
// one second after the last upload) stores their gzip and brotli variants.
func killDuringCompression(t *testing.T, srv *server, c *client.Client, m *crashModel, seq int, dir string, rng *rand.Rand) string {
	t.Helper()
	deployChecked(t, c, m, seq, dir)
	at := 900*time.Millisecond + time.Duration(rng.Int64N(int64(900*time.Millisecond)))
	time.Sleep(at)
	srv.sigkill()
	return fmt.Sprintf("killed %s after a deploy of compressible pages", at)
}

// deployChecked deploys version seq of m with the full engine and checks
// that it uploaded exactly what the host could lack.
func deployChecked(t *testing.T, c *client.Client, m *crashModel, seq int, dir string) {
	t.Helper()
	st := m.sites[seq]
	st.write(t, dir)
	lo, hi := m.needBounds(st)
	res, err := c.Deploy(context.Background(), client.DeployOptions{ProjectID: m.id, Dir: dir, Ignorer: manifest.NewIgnorer(nil)})
	if err != nil {
		t.Fatalf("deploy %s build %d: %v", m.name, seq, err)
	}
	if res.NeedFiles < lo || res.NeedFiles > hi {
		t.Errorf("deploy %s build %d: the host asked for %d files; it can only lack between %d and %d", m.name, seq, res.NeedFiles, lo, hi)
	}
	if res.UploadedFiles != res.NeedFiles || res.UploadedBytes != res.NeedBytes {
		t.Errorf("deploy %s build %d: uploaded %d files (%d bytes), the host asked for %d (%d bytes)",
			m.name, seq, res.UploadedFiles, res.UploadedBytes, res.NeedFiles, res.NeedBytes)
	}
	if res.DeployedAssets != len(st) {
		t.Errorf("deploy %s build %d: %d assets deployed, the site has %d", m.name, seq, res.DeployedAssets, len(st))
	}
	m.confirm(seq)
	for h := range st.hashes() {
		m.acked[h] = time.Now()
	}
}

// verifyActive checks that the project serves a whole deployment that it
// may have: the confirmed one, or the one whose finalize the kill cut.
// Every asset must come back with the right bytes, in every encoding the
// host offers.
func verifyActive(t *testing.T, srv *server, hc *http.Client, m *crashModel, when string) {
	t.Helper()
	ctx := context.Background()
	resp, body, err := fetch(ctx, hc, srv.projectURL(m.id, "/version.txt"), nil)
	if err != nil {
		t.Fatalf("%s: %s: %v", when, m.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s /version.txt: %s %q", when, m.name, resp.Status, body)
	}
	seq, err := strconv.Atoi(string(body))
	if err != nil || (seq != m.confirmed && seq != m.inflight) {
		t.Fatalf("%s: %s serves build %q; it may only serve build %d (or %d, whose finalize was cut)", when, m.name, body, m.confirmed, m.inflight)
	}
	if seq == m.inflight {
		m.confirm(seq)
	}
	m.inflight = -1
	for p, want := range m.sites[seq] {
		for _, enc := range []string{"", "gzip", "br"} {
			if enc != "" && !strings.HasSuffix(p, ".html") && !strings.HasSuffix(p, ".js") {
				continue
			}
			hdr := map[string]string{"Accept-Encoding": enc}
			if enc == "" {
				hdr["Accept-Encoding"] = "identity"
			}
			resp, body, err := fetch(ctx, hc, srv.projectURL(m.id, canonicalPath(p)), hdr)
			if err != nil {
				t.Fatalf("%s: %s %s: %v", when, m.name, p, err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %s %s (%s): %s", when, m.name, p, hdr["Accept-Encoding"], resp.Status)
			}
			got, err := decode(resp.Header.Get("Content-Encoding"), body)
			if err != nil {
				t.Fatalf("%s: %s %s: %s body does not decode: %v", when, m.name, p, resp.Header.Get("Content-Encoding"), err)
			}
			if sha(got) != sha(want) {
				t.Fatalf("%s: %s %s (%s): %d bytes that are not the deployed %d bytes", when, m.name, p, resp.Header.Get("Content-Encoding"), len(got), len(want))
			}
		}
	}
}

// canonicalPath is where html_handling "auto-trailing-slash" serves an
// asset: /index.html at /, /a/index.html at /a/, /a.html at /a.
func canonicalPath(p string) string {
	if d, ok := strings.CutSuffix(p, "/index.html"); ok {
		return d + "/"
	}
	if d, ok := strings.CutSuffix(p, ".html"); ok {
		return d
	}
	return p
}
