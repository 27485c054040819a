package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// hostileQuotas attacks what a tenant can make the host hold: memory by
// asking for a freshly deployed large site from many connections at once and
// by sending many large invalid buckets at once, and sessions and stored
// bytes by asking for more than the quotas allow. Each must be refused with a
// clear error or cost a bounded amount of memory, measured on the real
// process.
func hostileQuotas(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	srv := startServer(t, "", "--max-project-bytes", "1MiB", "--log-level", "warn", "--access-log=false")
	c := srv.client(t, client.Options{})
	ctx := context.Background()
	auth := "Bearer " + srv.token

	t.Run("concurrent first requests build once", func(t *testing.T) {
		id := createProject(t, c, "big site")
		// 100,000 paths of one small blob: a deploy that costs the tenant
		// one bucket and the host a large site to build.
		const paths = 100_000
		content := []byte("<p>same page</p>")
		m := make(api.Manifest, paths)
		for i := range paths {
			m[fmt.Sprintf("/p/%06d.html", i)] = api.ManifestEntry{Hash: sha(content), Size: int64(len(content))}
		}
		deployManifest(t, srv, c, id, m, map[string][]byte{sha(content): content})
		const requests = 50
		var took time.Duration
		statuses := make(chan int, requests)
		grew := srv.rssGrowth(t, func() {
			start := time.Now()
			var wg sync.WaitGroup
			for i := range requests {
				wg.Go(func() {
					resp, _, err := fetch(ctx, plainHTTP(), srv.projectURL(id, fmt.Sprintf("/p/%06d", i*1999)), nil)
					if err != nil {
						statuses <- 0
						return
					}
					statuses <- resp.StatusCode
				})
			}
			wg.Wait()
			took = time.Since(start)
		})
		close(statuses)
		for s := range statuses {
			if s != http.StatusOK {
				t.Fatalf("status %d, want 200", s)
			}
		}
		t.Logf("%d concurrent first requests for a %d-path site: answered in %s; server memory grew by %d MiB",
			requests, paths, took.Round(time.Millisecond), grew>>20)
		if grew > 768<<20 {
			t.Errorf("the server's memory grew by %d MiB: the site was built more than once", grew>>20)
		}
	})

	t.Run("concurrent invalid buckets", func(t *testing.T) {
		id := createProject(t, c, "bucket flood")
		sess, err := c.CreateUploadSession(ctx, id, site{"/one.txt": []byte("one")}.manifest())
		if err != nil {
			t.Fatal(err)
		}
		// 60 MB bodies whose one file the session never asked for.
		value := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'x'}, 44<<20))
		body := []byte(`{"` + strings.Repeat("0", 64) + `":"` + value + `"}`)
		// A neighbour's static file, fetched one request at a time.
		neighbour := createProject(t, c, "bucket neighbour")
		deployManifest(t, srv, c, neighbour, site{"/static.txt": []byte("static of neighbour")}.manifest(),
			map[string][]byte{sha([]byte("static of neighbour")): []byte("static of neighbour")})
		staticOnce := func() {
			resp, b, err := fetch(ctx, plainHTTP(), srv.projectURL(neighbour, "/static.txt"), nil)
			if err != nil || resp.StatusCode != http.StatusOK || string(b) != "static of neighbour" {
				t.Errorf("the neighbour's static file: %v %v %q", resp, err, b)
			}
		}
		n, start := 0, time.Now()
		for time.Since(start) < 2*time.Second {
			staticOnce()
			n++
		}
		before := float64(n) / time.Since(start).Seconds()
		var during float64
		const buckets = 10
		statuses := make(chan int, buckets)
		grew := srv.rssGrowth(t, func() {
			var wg sync.WaitGroup
			defer func() {
				n, start := 0, time.Now()
				done := make(chan struct{})
				go func() { wg.Wait(); close(done) }()
				for waiting := true; waiting; {
					select {
					case <-done:
						waiting = false
					default:
						staticOnce()
						n++
					}
				}
				during = float64(n) / time.Since(start).Seconds()
			}()
			for range buckets {
				wg.Go(func() {
					req, _ := http.NewRequest("POST", srv.url("/__api/projects/"+id+"/assets/upload"), bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+sess.JWT)
					req.Header.Set("Content-Type", "application/json")
					// The buckets wait in line for the upload budget, each
					// for the ones before it: allow for a slow machine.
					hc := plainHTTP()
					hc.Timeout = 3 * time.Minute
					resp, err := hc.Do(req)
					if err != nil {
						statuses <- 0
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					statuses <- resp.StatusCode
				})
			}
		})
		close(statuses)
		t.Logf("a neighbour's static file, one request at a time: %.0f req/s before, %.0f req/s during the flood", before, during)
		if during < before/4 {
			t.Errorf("the neighbour fell from %.0f to %.0f req/s", before, during)
		}
		for s := range statuses {
			if s != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", s)
			}
		}
		t.Logf("%d concurrent invalid %d MB buckets: server memory grew by %d MiB", buckets, len(body)>>20, grew>>20)
		if grew > 640<<20 {
			t.Errorf("the server's memory grew by %d MiB", grew>>20)
		}
	})

	t.Run("open upload sessions", func(t *testing.T) {
		id := createProject(t, c, "hoarder")
		path := "/__api/projects/" + id + "/assets-upload-session"
		for i := range 9 {
			m := site{"/f.txt": []byte(fmt.Sprint("session ", i))}.manifest()
			resp, body := postJSON(t, srv, path, auth, api.UploadSessionRequest{Manifest: m})
			if i < 8 {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("session %d: %d %s", i+1, resp.StatusCode, body)
				}
				continue
			}
			wantAPIError(t, resp, body, http.StatusConflict)
			if !bytes.Contains(body, []byte("--max-upload-sessions")) {
				t.Fatalf("unclear error: %s", body)
			}
		}
	})

	t.Run("stored bytes", func(t *testing.T) {
		id := createProject(t, c, "filler")
		m := site{"/big.bin": bytes.Repeat([]byte{'b'}, 2<<20)}.manifest()
		resp, body := postJSON(t, srv, "/__api/projects/"+id+"/assets-upload-session", auth, api.UploadSessionRequest{Manifest: m})
		wantAPIError(t, resp, body, http.StatusRequestEntityTooLarge)
		if !bytes.Contains(body, []byte("--max-project-bytes")) {
			t.Fatalf("unclear error: %s", body)
		}
		// What fits is accepted, by the real client.
		dir := t.TempDir()
		small := site{"/small.bin": bytes.Repeat([]byte{'s'}, 512<<10)}
		small.write(t, dir)
		if _, err := c.Deploy(ctx, client.DeployOptions{ProjectID: id, Dir: dir}); err != nil {
			t.Fatal(err)
		}
	})
}

// postJSON sends v as a JSON body.
func postJSON(t *testing.T, srv *server, path, auth string, v any) (*http.Response, []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(v); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", srv.url(path), &b)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := plainHTTP().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// deployManifest deploys a manifest through the SDK's three phases, with
// the contents of the hashes it asks for.
func deployManifest(t *testing.T, srv *server, c *client.Client, id string, m api.Manifest, contents map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	sess, err := c.CreateUploadSession(ctx, id, m)
	if err != nil {
		t.Fatal(err)
	}
	completion := sess.JWT
	for _, bucket := range sess.Buckets {
		payload := map[string]string{}
		for _, h := range bucket {
			payload[h] = base64.StdEncoding.EncodeToString(contents[h])
		}
		resp, body := postJSON(t, srv, "/__api/projects/"+id+"/assets/upload", "Bearer "+sess.JWT, payload)
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
			t.Fatalf("bucket: %d %s", resp.StatusCode, body)
		}
		var r api.UploadResponse
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		if r.Result.JWT != nil {
			completion = *r.Result.JWT
		}
	}
	if _, err := c.Finalize(ctx, id, api.DeployRequest{CompletionJWT: completion}); err != nil {
		t.Fatal(err)
	}
}
