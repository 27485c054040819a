package host

import (
	"context"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host/store/pgtest"
)

// TestSwitchDelayIsNotChargedAsDeployWork: a production deploy on
// PostgreSQL answers only after the replicas' switch delay, but that wait
// is not work; charged to the project's deploy pacer it made the site build
// after every deploy wait three times the delay (a replica served a new
// deploy 3 s after cfdeploy returned). Right after the deploy answers, the
// project's next turn for deploy work is free.
func TestSwitchDelayIsNotChargedAsDeployWork(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	th := newTestHost(t, func(c *Config) {
		c.Database = dsn
		c.SwitchDelay = 3 * time.Second
		c.DeployBurst = 2 * time.Second
	})
	p := th.createProject("switch")
	th.deploy(p.ID, siteFiles{"/index.html": "<p>one</p>"})

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	turn, err := th.h.heavyTurn(ctx, p.ID)
	if err != nil {
		t.Fatalf("the project's next deploy work waits after a deploy: %v", err)
	}
	turn.end()
}
