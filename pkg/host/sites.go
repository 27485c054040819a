package host

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/cfdeploy/cfdeploy/pkg/host/store"
)

// site is what the host keeps in memory for a project's active deployment,
// built once per deployment so that serving a cached asset needs no query.
type site struct {
	projectID  string
	deployment string // "" when nothing is deployed
	snapshot   store.Snapshot
}

// siteCache maps project ids to their compiled active deployment. Entries are
// dropped when a deploy, rollback or delete changes the project.
type siteCache struct {
	h  *Host
	mu sync.RWMutex
	m  map[string]*site
	// gen counts invalidations, so a build that raced with a deploy is not
	// cached over the newer state.
	gen map[string]uint64
}

func newSiteCache(h *Host) *siteCache {
	return &siteCache{h: h, m: make(map[string]*site), gen: make(map[string]uint64)}
}

// errNoProject means the id names no project.
var errNoProject = errors.New("no such project")

func (c *siteCache) get(ctx context.Context, projectID string) (*site, error) {
	c.mu.RLock()
	s, ok := c.m[projectID]
	gen := c.gen[projectID]
	c.mu.RUnlock()
	if ok {
		return s, nil
	}
	s, err := c.build(ctx, projectID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen[projectID] == gen {
		c.m[projectID] = s
	}
	c.mu.Unlock()
	return s, nil
}

func (c *siteCache) build(ctx context.Context, projectID string) (*site, error) {
	snap, err := c.h.store.ActiveSnapshot(ctx, projectID)
	if errors.Is(err, store.ErrNotFound) {
		if _, perr := c.h.store.Project(ctx, projectID); errors.Is(perr, store.ErrNotFound) {
			return nil, errNoProject
		} else if perr != nil {
			return nil, perr
		}
		return &site{projectID: projectID}, nil
	}
	if err != nil {
		return nil, err
	}
	return &site{projectID: projectID, deployment: snap.Deployment.ID, snapshot: snap}, nil
}

// forget drops a project's entry after its active deployment changed.
func (c *siteCache) forget(projectID string) {
	c.mu.Lock()
	delete(c.m, projectID)
	c.gen[projectID]++
	c.mu.Unlock()
}

// serveProject serves a request for project id; prefix is "/__project/<id>"
// in path mode and "" in subdomain mode.
func (h *Host) serveProject(w http.ResponseWriter, r *http.Request, id, prefix string) {
	s, err := h.sites.get(r.Context(), id)
	switch {
	case errors.Is(err, errNoProject):
		textError(w, http.StatusNotFound, "No project "+id+" on this host.\n")
		return
	case err != nil:
		h.log.Error("load deployment", "project", id, "err", err)
		textError(w, http.StatusInternalServerError, "Internal error loading this project; see the host's log.\n")
		return
	case s.deployment == "":
		textError(w, http.StatusNotFound, "Project "+id+" has nothing deployed yet. Deploy with: cfdeploy deploy ./dist --project "+id+"\n")
		return
	}
	textError(w, http.StatusNotFound, "Not found\n")
}

func textError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(msg))
}
