package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// TestBackupUnderLoad backs the database up with `cfhost backup` while
// three projects are being redeployed, restores the copy into a new data
// dir with `cfhost restore`, and serves every deployment the copy holds:
// each one, made live by a rollback, answers with the bytes it was deployed
// with.
func TestBackupUnderLoad(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts cfhost twice and deploys under load")
	}
	srv := startServer(t, "", "--access-log=false", "--log-level", "warn")
	c := srv.client(t, client.Options{})
	ctx := context.Background()

	var mu sync.Mutex
	content := map[string]string{} // deployment id → the page it serves
	deploy := func(id string, v int) error {
		page := fmt.Sprintf("<h1>%s version %d</h1>%s", id, v, strings.Repeat("x", v*37%4096))
		dir := filepath.Join(t.TempDir(), "site")
		st := site{"/index.html": []byte(page), fmt.Sprintf("/v%d.txt", v): []byte(page)}
		st.write(t, dir)
		res, err := c.Deploy(ctx, client.DeployOptions{ProjectID: id, Dir: dir})
		if err != nil {
			return err
		}
		mu.Lock()
		content[res.Deployment.ID] = page
		mu.Unlock()
		return nil
	}
	var ids []string
	for i := range 3 {
		id := createProject(t, c, fmt.Sprintf("backed-up-%d", i))
		ids = append(ids, id)
		if err := deploy(id, 0); err != nil {
			t.Fatal(err)
		}
	}

	// Write load: every project redeployed over and over until the
	// backups are done.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := 1; ; v++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := deploy(id, v); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	backups := filepath.Join(t.TempDir(), "backups")
	os.MkdirAll(backups, 0o755)
	var last string
	for i := range 3 {
		time.Sleep(300 * time.Millisecond)
		last = filepath.Join(backups, fmt.Sprintf("cfhost-%d.db", i))
		if out, err := exec.Command(srv.bin, "backup", last, "--data-dir", srv.dataDir).CombinedOutput(); err != nil {
			t.Fatalf("backup under load: %v\n%s", err, out)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("deploy during backup: %v", err)
	}
	if out, err := exec.Command(srv.bin, "backup", last, "--data-dir", srv.dataDir).CombinedOutput(); err == nil || !strings.Contains(string(out), "already exists") {
		t.Fatalf("backup over an existing file: %v\n%s", err, out)
	}
	if out, err := exec.Command(srv.bin, "restore", last, "--data-dir", srv.dataDir).CombinedOutput(); err == nil || !strings.Contains(string(out), "in use") {
		t.Fatalf("restore into a served data dir: %v\n%s", err, out)
	}
	srv.stop()

	restored := filepath.Join(t.TempDir(), "restored")
	if out, err := exec.Command(srv.bin, "restore", last, "--data-dir", restored).CombinedOutput(); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	srv2 := startServer(t, restored, "--access-log=false", "--log-level", "warn")
	c2 := srv2.client(t, client.Options{})
	served := 0
	for _, id := range ids {
		ds, err := c2.ListDeployments(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) < 2 {
			t.Fatalf("project %s has %d deployments in the backup; the load made more", id, len(ds))
		}
		for _, d := range ds {
			mu.Lock()
			want, ok := content[d.ID]
			mu.Unlock()
			if !ok {
				t.Fatalf("the backup has deployment %s that no deploy reported", d.ID)
			}
			if !d.Active {
				if _, err := c2.Rollback(ctx, id, d.ID); err != nil {
					t.Fatal(err)
				}
			}
			resp, err := http.Get(srv2.projectURL(id, "/"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != want {
				t.Fatalf("deployment %s from the backup answers %d %.60q, want %.60q", d.ID, resp.StatusCode, body, want)
			}
			served++
		}
	}
	t.Logf("%d deployments of %d projects served from the restored backup", served, len(ids))

	// Restoring over a data dir keeps what it replaces.
	srv2.stop()
	out, err := exec.Command(srv.bin, "restore", filepath.Join(backups, "cfhost-0.db"), "--data-dir", restored).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "before-restore") {
		t.Fatalf("second restore: %v\n%s", err, out)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.db")
	os.WriteFile(garbage, []byte("not a database at all, but long enough to look like a header..................................."), 0o644)
	if out, err := exec.Command(srv.bin, "restore", garbage, "--data-dir", restored).CombinedOutput(); err == nil {
		t.Fatalf("restore of a non-database succeeded:\n%s", out)
	}
}
