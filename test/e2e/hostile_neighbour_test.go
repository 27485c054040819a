package e2e

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// TestHostileNeighbourOneCore runs cfhost as on a one-core machine
// (GOMAXPROCS=1, the default run slots) and holds one project's server
// code busy with slow requests: another project's server code must still
// answer while they run, not after. With one run slot in all, a project
// allowed "at least one" slot held every slot the host had
// (bench/neighbour.sh measured the victim waiting ~12 s behind a flood).
func TestHostileNeighbourOneCore(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	t.Setenv("GOMAXPROCS", "1") // inherited by the cfhost process
	srv := startServer(t, "", "--log-level", "warn", "--access-log=false")
	c := srv.client(t, client.Options{})
	wasm := buildGuest(t, "slow")
	attacker := deployGuest(t, c, "slow-tenant", wasm)
	victim := deployGuest(t, c, "neighbour", wasm)

	// Two requests that each hold the attacker's guest for 20 s: one runs,
	// one waits in the attacker's queue.
	// (They end with the server; the test does not wait for them.)
	var attackDone atomic.Int64
	for range 2 {
		go func() {
			resp, err := http.Get(srv.projectURL(attacker, "/?ms=20000"))
			if err == nil {
				resp.Body.Close()
			}
			attackDone.Add(1)
		}()
	}
	time.Sleep(2 * time.Second) // the first slow run is under way
	resp, body := getText(t, srv.projectURL(victim, "/?ms=0"))
	finished := attackDone.Load()
	if resp.StatusCode != 200 || body != "slow read 0 bytes\n" {
		t.Fatalf("the neighbour's server code: %s %q", resp.Status, body)
	}
	if finished > 0 {
		t.Errorf("the neighbour's server code answered only after %d of the other project's slow runs finished: that project held every run slot", finished)
	}
}
