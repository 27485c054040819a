package host

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// Defaults of the deploy budget.
const (
	defaultDeployBudget = 200_000
	defaultDeployWindow = time.Minute
	// minDeployCharge is what the smallest deploy, rollback or promotion
	// counts: each costs a transaction and a site build however few files
	// it has.
	minDeployCharge = 100
)

// deployLimiter bounds the work one project's deploys make the host do.
// A deploy has the host read its manifest (an upload session) and, once
// live, build the site again; a rollback or promotion builds one too. Both
// cost in proportion to the files: for a 100,000-file site, seconds of CPU,
// and a tenant redeploying such a site in a loop took most of a core from
// its neighbours. So each project has a budget of files per window: an
// upload session counts the files of its manifest, a rollback or promotion
// those of the deployment it makes live, each at least minDeployCharge. A
// project whose budget is spent is answered 429 until its window ends:
// with the defaults a 100,000-file site deploys twice a minute, a small
// one as often as anyone would.
//
// It counts in fixed windows per project, as authLimiter does per client:
// a project's first charge opens a window. The check comes before the
// work and the charge after it, when the count is known, so the last
// operation in a window may go past the budget. The table holds the
// projects charged lately; ended windows are dropped when it doubles.
type deployLimiter struct {
	budget int
	window time.Duration

	mu       sync.Mutex
	projects map[string]*deployWindow
	sweepAt  int
}

type deployWindow struct {
	used int
	end  time.Time
}

func newDeployLimiter(budget int, window time.Duration) *deployLimiter {
	return &deployLimiter{budget: budget, window: window, projects: map[string]*deployWindow{}, sweepAt: 64}
}

// wait returns how long project must wait for its window to end when it
// has spent its budget, and false when it may go ahead.
func (l *deployLimiter) wait(project string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.projects[project]
	if w == nil || !now.Before(w.end) || w.used < l.budget {
		return 0, false
	}
	return w.end.Sub(now), true
}

// charge counts files (at least minDeployCharge) against project's budget.
func (l *deployLimiter) charge(project string, files int, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.projects[project]
	if w == nil {
		if len(l.projects) >= l.sweepAt {
			for k, e := range l.projects {
				if !now.Before(e.end) {
					delete(l.projects, k)
				}
			}
			l.sweepAt = max(64, 2*len(l.projects))
		}
		w = &deployWindow{}
		l.projects[project] = w
	}
	if !now.Before(w.end) {
		w.used, w.end = 0, now.Add(l.window)
	}
	w.used += max(files, minDeployCharge)
}

// manifestEntryBytes is about the size of one manifest entry in JSON (a
// path, a 64-digit hash and a size), for charging bodies that are not a
// manifest.
const manifestEntryBytes = 100

// maxRefusedCharge caps what a refused upload session counts: a body cut
// at the size limit is not a deploy of its size's worth of files.
const maxRefusedCharge = 10_000

// countingBody counts the bytes read from a request body.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

// allowDeploy answers 429 with Retry-After when project has spent its
// deploy budget for the current window.
func (h *Host) allowDeploy(w http.ResponseWriter, project string) error {
	wait, refused := h.deployLimit.wait(project, time.Now())
	if !refused {
		return nil
	}
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return api.Errorf(api.CodeRateLimited, "project %s used its deploy budget of %d files per %v (deploys, rollbacks and promotions count their files, at least %d each); try again in %d seconds",
		project, h.cfg.DeployBudget, h.cfg.DeployWindow, minDeployCharge, secs)
}

// chargeDeploy counts files against project's deploy budget.
func (h *Host) chargeDeploy(project string, files int) {
	h.deployLimit.charge(project, files, time.Now())
}
