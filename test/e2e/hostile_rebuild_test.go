package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// rebuildPage is the content every path of the rebuild attack's site
// shares: one blob, as many rows as paths.
var rebuildPage = []byte("<p>same page</p>")

// TestHostileRebuildPaced redeploys a 5,000-path site in a loop, with a
// request for it after each redeploy, as a tenant would to make the host
// decode a manifest, write a deployment and build a site again and again
// (bench/neighbour.sh's rebuild attack, whose 100,000-path redeploys left
// a neighbour's static site a fifth of its throughput on one core). It
// runs for 5 s against a host that paces deploy work to a
// twentieth of a core (--deploy-share 5, with a burst of 1ms) and against
// one that does not (--deploy-share 100). Paced, the same loop gets far
// fewer redeploys through: its work pauses 19 times as long as it ran,
// leaving the core to others. Counting redeploys rather than timing them
// keeps the test steady on a loaded machine, as the pauses grow with the
// time the work took, load included. Every redeploy that went through is
// served whole, and a neighbour is answered during the attack.
func TestHostileRebuildPaced(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	const paths = 5_000
	hash := sha(rebuildPage)
	m := make(api.Manifest, paths)
	for i := range paths {
		m[fmt.Sprintf("/p/%05d.html", i)] = api.ManifestEntry{Hash: hash, Size: int64(len(rebuildPage))}
	}
	blob := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(blob, rebuildPage, 0o644); err != nil {
		t.Fatal(err)
	}
	attack := func(t *testing.T, share string) (redeploys int, cpu, wall time.Duration) {
		srv := startServer(t, "", "--log-level", "warn", "--access-log=false", "--deploy-budget", "100000000",
			"--deploy-share", share, "--deploy-burst", "1ms")
		c := srv.client(t, client.Options{MaxAttempts: 1})
		attacker := createProject(t, c, "rebuilder")
		neighbour := deployRules(t, c, "neighbour", api.AssetConfig{})
		if err := redeployBig(context.Background(), c, attacker, m, blob); err != nil {
			t.Fatalf("first deploy of the big site: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		neighbourDone := make(chan struct{})
		go func() {
			defer close(neighbourDone)
			time.Sleep(time.Second) // the attack is under way
			if status, err := rawStatus(context.Background(), srv.addr, neighbour+".localhost", "/"); err != nil || status != 200 {
				t.Errorf("the neighbour's page under the attack: %d %v", status, err)
			}
		}()
		cpu, wall = serverCPU(t, srv, func() {
			for i := 0; ctx.Err() == nil; i++ {
				if err := redeployBig(ctx, c, attacker, m, blob); err != nil {
					if ctx.Err() == nil {
						t.Fatalf("redeploy %d: %v", i+1, err)
					}
					return
				}
				target := fmt.Sprintf("/p/%05d", i*1999%paths)
				if status, err := rawStatus(context.Background(), srv.addr, attacker+".localhost", target); err != nil || status != 200 {
					t.Fatalf("GET %s after redeploy %d: %d %v, want the page", target, i+1, status, err)
				}
				redeploys++
			}
		})
		<-neighbourDone
		return redeploys, cpu, wall
	}
	unpaced, unpacedCPU, unpacedWall := attack(t, "100")
	paced, pacedCPU, pacedWall := attack(t, "5")
	t.Logf("redeploys of a %d-path site in 5 s: %d unpaced (%v of server CPU in %v), %d paced to 5 %% (%v in %v)",
		paths, unpaced, unpacedCPU.Round(time.Millisecond), unpacedWall.Round(time.Millisecond),
		paced, pacedCPU.Round(time.Millisecond), pacedWall.Round(time.Millisecond))
	if unpaced < 8 {
		t.Skipf("only %d redeploys without pacing: the machine is too busy to compare", unpaced)
	}
	// Paced to a twentieth of a core, expect a small fraction of the
	// redeploys (the client's own work per redeploy is not paced); a
	// third is far from both.
	if paced*3 > unpaced {
		t.Errorf("paced, the loop got %d redeploys through against %d unpaced: its deploy work was not paced", paced, unpaced)
	}
}

// redeployBig deploys manifest m to project id once more: an upload
// session, the one blob from blobFile when the host lacks it, a finalize.
func redeployBig(ctx context.Context, c *client.Client, id string, m api.Manifest, blobFile string) error {
	sess, err := c.CreateUploadSession(ctx, id, m)
	if err != nil {
		return err
	}
	completion := sess.JWT
	for _, bucket := range sess.Buckets {
		var files []manifest.File
		for _, h := range bucket {
			files = append(files, manifest.File{Path: "/blob", OSPath: blobFile, Size: int64(len(rebuildPage)), Hash: h})
		}
		jwt, err := c.UploadBucket(ctx, id, sess.JWT, files, nil)
		if err != nil {
			return err
		}
		if jwt != "" {
			completion = jwt
		}
	}
	_, err = c.Finalize(ctx, id, api.DeployRequest{CompletionJWT: completion})
	return err
}
