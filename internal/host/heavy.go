package host

import (
	"context"
	"fmt"
	"time"
)

// Defaults of the deploy-work pacer.
const (
	defaultDeployShare = 25
	defaultDeployBurst = 500 * time.Millisecond
)

// yieldEvery is how many items (manifest entries, assets) long deploy work
// handles between two yields: a few milliseconds of work.
const yieldEvery = 2048

// A deploy makes the host work in proportion to its files: decoding and
// checking the manifest, writing a row per file, and then building the
// site (reading the rows back, building its path table). For a
// 100,000-file site that is over a second of CPU, and a tenant may
// redeploy such a site as often as --deploy-budget lets it; unpaced, each
// redeploy held a core for seconds and left a neighbour's static site a
// fifth of its throughput on a one-core host.
//
// So a project's deploy work runs in one turn at a time of h.heavy (upload
// sessions, deploys and site builds of one project take turns), yielding
// between chunks, and is paced to --deploy-share percent of a core once it
// has used --deploy-burst since it was last paid up: a small site's deploy
// never waits, a big one's slows to its share. A chunk that cannot be cut
// (one SQL statement, one JSON decode) is paid for by the pause after it.
// Nothing sleeps inside a write transaction, which would hold the store's
// one writer from every other project.
//
// The work is charged in wall time, as long requests are. Charging the
// CPU time of the turn's thread instead (locked to it) was tried: it
// spared small deploys on a loaded host, but it leaves out the garbage
// collection the work causes, and bench/neighbour.sh measured the
// neighbour keeping 17 % and 51 % of its throughput against 95 % and
// 105 % with wall time.

// heavyTurn takes project's turn for deploy work; the caller ends it.
func (h *Host) heavyTurn(ctx context.Context, project string) (*turn, error) {
	t, err := h.heavy.start(ctx, project)
	if err != nil {
		return nil, fmt.Errorf("wait for the project's earlier deploy work: %w", err)
	}
	return t, nil
}
