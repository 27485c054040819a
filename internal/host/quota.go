package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// Defaults of the upload quotas (Config).
const (
	defaultMaxUploadSessions     = 8
	defaultUploadSessionStale    = 10 * time.Minute
	defaultMaxProjectBytes       = 10 << 30
	defaultUploadBytesInFlight   = 64 << 20
	defaultUploadBytesTotalLimit = 512 << 20
)

// quotaError turns the store's refusal of a session into the API's answer.
func quotaError(err error) error {
	var qe *store.QuotaError
	if !errors.As(err, &qe) {
		return err
	}
	if qe.OpenSessions > 0 {
		return api.Errorf(api.CodeConflict, "this project has %d upload sessions open, the most allowed (cfhost serve --max-upload-sessions %d): "+
			"deploy one of them, or try again once the oldest is %s old and gives its place (--upload-session-stale)",
			qe.OpenSessions, qe.Quota.OpenSessions, qe.Quota.StaleAfter)
	}
	return api.Errorf(api.CodeTooLarge, "this upload would bring the project to %d bytes stored, over its quota of %d bytes (cfhost serve --max-project-bytes)",
		qe.StoredBytes, qe.Quota.StoredBytes)
}

// uploadBudget bounds the bytes of upload bodies being read and decoded at
// once, per project and for the whole host. A bucket body is held in memory
// whole, with its decoded files beside it, so without a bound a few
// concurrent 60 MB buckets (valid or not) cost gigabytes. A request waits
// for its share before reading a byte of its body: one project's uploads
// queue behind each other and never take the budget of another project
// beyond the host-wide one.
//
// A project's semaphore lives only while requests use it, so nothing is
// kept for projects that stopped uploading or were deleted.
type uploadBudget struct {
	perProject int64
	total      *semaphore.Weighted
	totalLimit int64

	mu       sync.Mutex
	projects map[string]*projectBudget
}

type projectBudget struct {
	sem   *semaphore.Weighted
	users int
}

func newUploadBudget(perProject, total int64) *uploadBudget {
	return &uploadBudget{
		perProject: perProject,
		total:      semaphore.NewWeighted(total),
		totalLimit: total,
		projects:   make(map[string]*projectBudget),
	}
}

// acquire waits until n more body bytes of the project may be in flight,
// and returns the function that gives them back. n beyond a budget is
// counted as the whole budget: such a request runs alone.
func (b *uploadBudget) acquire(ctx context.Context, projectID string, n int64) (func(), error) {
	b.mu.Lock()
	p := b.projects[projectID]
	if p == nil {
		p = &projectBudget{sem: semaphore.NewWeighted(b.perProject)}
		b.projects[projectID] = p
	}
	p.users++
	b.mu.Unlock()
	leave := func() {
		b.mu.Lock()
		if p.users--; p.users == 0 {
			delete(b.projects, projectID)
		}
		b.mu.Unlock()
	}
	pn, tn := min(max(n, 1), b.perProject), min(max(n, 1), b.totalLimit)
	if err := p.sem.Acquire(ctx, pn); err != nil {
		leave()
		return nil, fmt.Errorf("wait for upload budget: %w", err)
	}
	if err := b.total.Acquire(ctx, tn); err != nil {
		p.sem.Release(pn)
		leave()
		return nil, fmt.Errorf("wait for upload budget: %w", err)
	}
	return func() {
		b.total.Release(tn)
		p.sem.Release(pn)
		leave()
	}, nil
}

// inUse reports how many projects hold or wait for budget, for tests.
func (b *uploadBudget) inUse() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.projects)
}
