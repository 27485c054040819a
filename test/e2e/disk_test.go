package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// smallDisk mounts a tmpfs of size bytes on a fresh directory and returns
// it; the test is skipped, saying why, where mounting is not permitted.
func smallDisk(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a small tmpfs for the full-disk test (needs root or CAP_SYS_ADMIN): %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// freeBytes is what the filesystem holding dir still has for us.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// TestFullDisk runs cfhost on a 64 MiB filesystem. A deploy larger than the
// space left must fail with a clear error, while the site already deployed
// keeps serving every byte; once space is freed (a ballast file removed, as
// an operator would delete old logs) the same deploy succeeds, and the
// database passes integrity_check, live and after a clean stop.
func TestFullDisk(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("mounts a filesystem and runs the real binary")
	}
	disk := smallDisk(t, 64<<20)
	data := filepath.Join(disk, "data")
	srv := startServer(t, data, "--log-level", "warn", "--access-log=false")
	c := srv.client(t, client.Options{MaxAttempts: 2})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	root := t.TempDir() // on the big disk: only the host's data is on the small one

	// A site that fits, deployed first.
	small := site{"/index.html": []byte("<h1>still here</h1>")}
	for k := range 20 {
		small[fmt.Sprintf("/img/%02d.bin", k)] = randomBytes(rng, 20<<10)
	}
	smallID := createProject(t, c, "small")
	small.write(t, filepath.Join(root, "small"))
	if _, err := c.Deploy(ctx, client.DeployOptions{ProjectID: smallID, Dir: filepath.Join(root, "small"), Ignorer: manifest.NewIgnorer(nil)}); err != nil {
		t.Fatal(err)
	}

	// Ballast leaves about 12 MiB free; the big site needs 24 MiB.
	ballast := filepath.Join(disk, "ballast")
	if err := os.WriteFile(ballast, make([]byte, freeBytes(t, disk)-12<<20), 0o644); err != nil {
		t.Fatalf("write ballast: %v", err)
	}
	big := site{"/index.html": []byte("<h1>big</h1>")}
	for k := range 24 {
		big[fmt.Sprintf("/video/%02d.bin", k)] = randomBytes(rng, 1<<20)
	}
	bigDir := filepath.Join(root, "big")
	big.write(t, bigDir)
	bigID := createProject(t, c, "big")
	t.Logf("free before the big deploy: %d MiB", freeBytes(t, disk)>>20)
	_, err := c.Deploy(ctx, client.DeployOptions{ProjectID: bigID, Dir: bigDir, Ignorer: manifest.NewIgnorer(nil)})
	if err == nil {
		t.Fatal("a 24 MiB deploy succeeded with 12 MiB free")
	}
	t.Logf("the deploy on a full disk failed with: %v", err)
	var ae *api.Error
	if !errors.As(err, &ae) {
		t.Fatalf("the failure is not an answer from the host: %v", err)
	}
	if ae.Code != api.CodeUnavailable || !strings.Contains(strings.ToLower(ae.Message), "disk") && !strings.Contains(strings.ToLower(ae.Message), "space") {
		t.Errorf("the error does not say the host is out of disk space (code %s): %q", ae.Code, ae.Message)
	}
	if srv.exited() {
		t.Fatalf("the server died on a full disk: %s", srv.logTail(4096))
	}

	// The site already deployed keeps serving, every byte, while the disk is
	// still full.
	checkServes(t, srv, smallID, small)
	if err := checkDatabase(srv.dbPath()); err != nil {
		t.Fatalf("database damaged by the full disk: %v", err)
	}

	// Free space; the same deploy now goes through.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	t.Logf("free after removing the ballast: %d MiB", freeBytes(t, disk)>>20)
	res, err := c.Deploy(ctx, client.DeployOptions{ProjectID: bigID, Dir: bigDir, Ignorer: manifest.NewIgnorer(nil)})
	if err != nil {
		t.Fatalf("deploy after space was freed: %v\n%s", err, srv.logTail(2048))
	}
	t.Logf("after space was freed: deployed %d assets, uploaded %d files", res.DeployedAssets, res.UploadedFiles)
	checkServes(t, srv, bigID, big)
	checkServes(t, srv, smallID, small)
	srv.stop()
	if err := checkDatabase(srv.dbPath()); err != nil {
		t.Fatalf("after a clean stop: %v", err)
	}
}

// checkServes fetches every file of st from project id and compares bytes.
func checkServes(t *testing.T, srv *server, id string, st site) {
	t.Helper()
	hc := plainHTTP()
	for p, want := range st {
		resp, body, err := fetch(context.Background(), hc, srv.projectURL(id, canonicalPath(p)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || sha(body) != sha(want) {
			t.Fatalf("%s %s: %s, %d bytes (want %d)", id, p, resp.Status, len(body), len(want))
		}
	}
}
