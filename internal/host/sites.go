package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/cfdeploy/cfdeploy/internal/host/assets"
	"github.com/cfdeploy/cfdeploy/internal/host/coalesce"
	"github.com/cfdeploy/cfdeploy/internal/host/jsrt"
	"github.com/cfdeploy/cfdeploy/internal/host/store"
	"github.com/cfdeploy/cfdeploy/internal/host/worker"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// site is what the host keeps in memory for a project's active deployment,
// built once per deployment so that serving a cached asset needs no query.
type site struct {
	projectID  string
	deployment string // "" when nothing is deployed
	// until, when set, is when this stops being the project's live
	// deployment (a switch is pending on a shared database); the next
	// request from then on builds the site again.
	until  time.Time
	assets *assets.Site
	// program is the deployment's server code, nil without.
	program *worker.Program
	// js builds the deployment's JS server code (a js entrypoint), nil
	// without; the JS runtime loads it by deployment id.
	js    func() (*jsrt.Program, error)
	jsKey string // the deployment id and its env's hash
	rwf   rules.RunWorkerFirst
	// navigation is the assets_navigation_prefers_asset_serving flag
	// (docs/asset-serving.md#run-worker-first).
	navigation bool
	// isolate is set when the deployment's _headers set a header that
	// browser isolation rewrites (isolation.go); only then do its asset
	// responses go through an isolatingWriter.
	isolate bool
	// preview is set for a deployment served at a preview address rather
	// than as the project's live one; its responses say noindex.
	preview bool
}

// siteCache maps project ids to their compiled active deployment. Entries are
// dropped when a deploy, rollback or delete changes the project.
//
// A deployment is built once however many requests want it at the same
// time: building a 100,000-file site costs tens of megabytes and a second of
// CPU, and a tenant can redeploy cheaply, so one build per request would let
// a burst of first requests multiply both. Requests for a project whose build
// is in flight wait for that build (builds, keyed by project id).
//
// No state outlives a project: a build that raced with a deploy (or a
// delete) is recognised by the flag forget sets on the builds in flight,
// not by a per-project counter kept forever.
type siteCache struct {
	h      *Host
	builds singleflight.Group

	mu sync.RWMutex
	// m holds live deployments under their project's id; pm holds
	// previews under previewKey, apart, so that however many previews
	// strangers ask for they never push a live site out of the cache.
	m, pm map[string]*site
	// maxSites and maxPreviews bound m and pm (maxCachedSites and
	// maxCachedPreviews; tests lower them).
	maxSites, maxPreviews int
	// slugs maps project slugs to ids, for the slugs requests used; a
	// rename or delete clears it.
	slugs map[string]string
	// misses remembers the names that named no project; lookups lets
	// concurrent requests for one slug not cached share one query.
	misses  *missCache
	lookups singleflight.Group
	// inflight is the newest build of each project being built; forget
	// marks it stale, so that what it read from the store before the
	// change is not cached over the newer state.
	inflight map[string]*siteBuild
	// built counts builds started, for tests.
	built atomic.Int64
}

// siteBuild is one build in flight.
type siteBuild struct{ stale bool }

func newSiteCache(h *Host) *siteCache {
	return &siteCache{h: h, m: make(map[string]*site), pm: make(map[string]*site),
		maxSites: maxCachedSites, maxPreviews: maxCachedPreviews, slugs: make(map[string]string), inflight: make(map[string]*siteBuild),
		misses: newMissCache(h.cfg.MaxCachedMisses)}
}

// maxCachedSites bounds how many compiled deployments stay in memory; a
// project past it is compiled again from the store when next requested.
const maxCachedSites = 1024

// maxCachedPreviews bounds how many compiled previews stay in memory.
// Previews are looked at by few, so rebuilding one now and then is cheap;
// anyone may request the address of any old deployment, so they are kept
// apart from live sites.
const maxCachedPreviews = 64

// errNoProject means the id names no project.
var errNoProject = errors.New("no such project")

// get returns the project's compiled active deployment, building it (once,
// for all concurrent callers) when it is not cached.
func (c *siteCache) get(ctx context.Context, projectID string) (*site, error) {
	return c.getKey(ctx, projectID, projectID, "")
}

// getKey returns the site cached under key, building it when missing:
// the project's live deployment for selector "", else the preview that
// selector names.
func (c *siteCache) getKey(ctx context.Context, key, projectID, selector string) (*site, error) {
	c.mu.RLock()
	m := c.m
	if selector != "" {
		m = c.pm
	}
	s, ok := m[key]
	c.mu.RUnlock()
	if ok && (s.until.IsZero() || time.Now().Before(s.until)) {
		return s, nil
	}
	for {
		if ok {
			c.expire(key, s)
		}
		// The build runs to its end even when the request that started it
		// goes away: the others waiting for it still want it, and its cost
		// is paid once per deployment either way.
		bctx := context.WithoutCancel(ctx)
		ch := c.builds.DoChan(key, func() (any, error) { return c.build(bctx, key, projectID, selector) })
		select {
		case res := <-ch:
			if res.Err != nil {
				return nil, res.Err
			}
			s, ok = res.Val.(*site), true
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		// A build joined before a pending switch's moment may return the
		// deployment it replaces: this request came after, so it builds
		// again.
		if s.until.IsZero() || time.Now().Before(s.until) {
			return s, nil
		}
	}
}

// expire drops the entry key if it still holds s, whose time is over.
func (c *siteCache) expire(key string, s *site) {
	c.mu.Lock()
	if c.m[key] == s {
		delete(c.m, key)
	}
	if c.pm[key] == s {
		delete(c.pm, key)
	}
	c.mu.Unlock()
	c.builds.Forget(key)
}

// build builds a project's site and caches it unless the project changed
// while it was being built.
func (c *siteCache) build(ctx context.Context, key, projectID, selector string) (*site, error) {
	// The flight before this one may have found that the name names no
	// project after this request checked the miss cache (siteFor) and
	// before it joined a flight: the answer is known, ask nothing.
	if c.misses.has(projectID) {
		return nil, errNoProject
	}
	b := &siteBuild{}
	c.mu.Lock()
	c.inflight[key] = b
	c.mu.Unlock()
	c.built.Add(1)
	gen := c.misses.begin()
	// A build costs in proportion to the site's files: it runs in the
	// project's turn for deploy work (heavy.go).
	t, err := c.h.heavyTurn(ctx, projectID)
	var s *site
	if err == nil {
		s, err = c.h.buildSite(ctx, t, projectID, selector)
		t.end()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight[key] == b {
		delete(c.inflight, key)
	}
	if errors.Is(err, errNoProject) {
		// Stored before the build's flight ends, so that no request can
		// start another lookup of the name in between.
		c.misses.add(projectID, gen)
	}
	if err != nil {
		return nil, err
	}
	if !b.stale {
		m, limit := c.m, c.maxSites
		if selector != "" {
			m, limit = c.pm, c.maxPreviews
		}
		if len(m) >= limit {
			// Evict an arbitrary entry: Go's map order is random, which is
			// as good as LRU for a bound that only busy hosts reach, and
			// costs no bookkeeping on the hot path.
			for id := range m {
				delete(m, id)
				break
			}
		}
		m[key] = s
	}
	return s, nil
}

// forget drops a project's entries, live and previews, after its active
// deployment or its settings changed (or the project was deleted). A build
// in flight is marked stale, and later requests start a new build instead
// of waiting for it.
func (c *siteCache) forget(projectID string) {
	c.drop(projectID, true)
}

// forgetAll drops every entry and marks every build in flight stale, after
// changes this host may not have heard of one by one.
func (c *siteCache) forgetAll() {
	c.mu.Lock()
	var keys []string
	for k := range c.inflight {
		keys = append(keys, k)
	}
	for _, b := range c.inflight {
		b.stale = true
	}
	clear(c.inflight)
	clear(c.m)
	clear(c.pm)
	c.mu.Unlock()
	for _, k := range keys {
		c.builds.Forget(k)
	}
}

// forgetPreviews drops a project's preview entries only, after a preview
// deploy moved a branch alias; the live deployment stays cached.
func (c *siteCache) forgetPreviews(projectID string) {
	c.drop(projectID, false)
}

func (c *siteCache) drop(projectID string, live bool) {
	var keys []string
	c.mu.Lock()
	if live {
		keys = append(keys, projectID)
	}
	// Previews are few and deploys rare: a scan of the cache is cheaper
	// than an index kept up to date on every build.
	prefix := previewKey(projectID, "")
	for k := range c.pm {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	for k := range c.inflight {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		delete(c.m, k)
		delete(c.pm, k)
		if b := c.inflight[k]; b != nil {
			b.stale = true
			delete(c.inflight, k)
		}
	}
	c.mu.Unlock()
	for _, k := range keys {
		c.builds.Forget(k)
	}
}

// buildSite loads the active deployment (or, with a selector, the preview
// it names) and compiles it: path table, rules, and the server-code
// program.
func (h *Host) buildSite(ctx context.Context, t *turn, projectID, selector string) (*site, error) {
	if selector != "" {
		return h.buildPreview(ctx, t, projectID, selector)
	}
	snap, err := h.store.ActiveSnapshot(ctx, projectID)
	if errors.Is(err, store.ErrNotFound) {
		if _, perr := h.store.Project(ctx, projectID); errors.Is(perr, store.ErrNotFound) {
			return nil, errNoProject
		} else if perr != nil {
			return nil, perr
		}
		return &site{projectID: projectID}, nil
	}
	if err != nil {
		return nil, err
	}
	s, err := h.compileSite(ctx, t, snap)
	if err != nil {
		return nil, err
	}
	s.until = snap.Until
	return s, nil
}

// compileSite compiles a deployment read from the store, yielding to t
// between chunks.
func (h *Host) compileSite(ctx context.Context, t *turn, snap store.Snapshot) (*site, error) {
	d := snap.Deployment
	projectID := d.ProjectID
	var err error
	var cfg rules.Config
	if err := json.Unmarshal([]byte(d.Config), &cfg); err != nil {
		return nil, fmt.Errorf("deployment %s config: %w", d.ID, err)
	}
	ad := assets.Deployment{ID: d.ID, Config: cfg, Files: make([]assets.File, 0, len(snap.Assets)), Limits: h.cfg.RuleLimits, Logger: h.log,
		Yield: func() error { return t.yield(ctx) }}
	// The texts were validated at deploy; parsing again only rebuilds the
	// rules, and warnings were reported then. A deployment made before a
	// limit existed (such as the placeholders per rule) may be over it:
	// it serves the rules within the limits rather than fail every request.
	if d.Redirects != "" {
		if ad.Redirects, _, err = rules.ParseRedirects(d.Redirects, cfg.HTMLHandling); err != nil {
			h.log.Warn("deployment rules over a limit; serving those within it", "deployment", d.ID, "file", "_redirects", "err", err)
		}
	}
	if d.Headers != "" {
		if ad.Headers, _, err = rules.ParseHeaders(d.Headers); err != nil {
			h.log.Warn("deployment rules over a limit; serving those within it", "deployment", d.ID, "file", "_headers", "err", err)
		}
	}
	if err := t.yield(ctx); err != nil {
		return nil, err
	}
	// Server code reads the assets as files; without it no table of them
	// is needed.
	var files map[string]blobFile
	if d.HasServerCode() {
		files = make(map[string]blobFile, len(snap.Assets))
	}
	for i, a := range snap.Assets {
		if i%yieldEvery == yieldEvery-1 {
			if err := t.yield(ctx); err != nil {
				return nil, err
			}
		}
		ad.Files = append(ad.Files, assets.File{Path: a.Path, Asset: assets.Asset{Hash: a.Hash, Size: a.Size, ContentType: a.ContentType}})
		if files != nil {
			files[a.Path] = blobFile{hash: a.Hash, size: a.Size}
		}
	}
	if err := t.yield(ctx); err != nil {
		return nil, err
	}
	s := &site{projectID: projectID, deployment: d.ID, isolate: headersNeedIsolation(ad.Headers)}
	if s.assets, err = assets.Compile(ad, h.cache); err != nil {
		return nil, fmt.Errorf("compile deployment %s: %w", d.ID, err)
	}
	if s.rwf, err = rules.ParseRunWorkerFirst(json.RawMessage(d.RunWorkerFirst)); err != nil {
		return nil, fmt.Errorf("deployment %s run_worker_first: %w", d.ID, err)
	}
	if d.HasServerCode() {
		if snap.Deployment.Env, err = h.projectEnv(ctx, projectID, d.Env); err != nil {
			return nil, fmt.Errorf("deployment %s settings: %w", d.ID, err)
		}
		if entryType(snap) == manifest.ModuleJS {
			s.js, s.jsKey = h.jsProgram(snap), jsKey(snap)
		} else if s.program, err = h.program(snap, files); err != nil {
			return nil, err
		}
		s.navigation = rules.NavigationPrefersAssets(d.CompatibilityDate, d.CompatibilityFlags)
	}
	return s, nil
}

// entryType is the module type of a deployment's entrypoint.
func entryType(snap store.Snapshot) string {
	for _, m := range snap.Modules {
		if m.Name == snap.Deployment.Entrypoint {
			return m.Type
		}
	}
	return ""
}

// program builds the worker program of a deployment with server code.
func (h *Host) program(snap store.Snapshot, files map[string]blobFile) (*worker.Program, error) {
	d := snap.Deployment
	var entry store.Module
	modules := map[string]blobFile{}
	for _, m := range snap.Modules {
		if m.Name == d.Entrypoint {
			entry = m
			continue
		}
		modules[m.Name] = blobFile{hash: m.Hash}
	}
	if entry.Hash == "" {
		return nil, fmt.Errorf("deployment %s: entrypoint %q is not among its modules", d.ID, d.Entrypoint)
	}
	// Module sizes are needed for Stat; they are small, so read them once.
	for name, f := range modules {
		_, size, err := h.store.OpenBlob(context.Background(), f.hash, "")
		if err != nil {
			return nil, fmt.Errorf("deployment %s module %s: %w", d.ID, name, err)
		}
		f.size = size
		modules[name] = f
	}
	return &worker.Program{
		Hash: entry.Hash,
		Load: func(ctx context.Context) ([]byte, error) {
			ra, size, err := h.store.OpenBlob(ctx, entry.Hash, "")
			if err != nil {
				return nil, err
			}
			b := make([]byte, size)
			_, err = ra.ReadAt(b, 0)
			return b, err
		},
		Assets:     newBlobFS(h.store, d.CreatedAt, files),
		Modules:    newBlobFS(h.store, d.CreatedAt, modules),
		Env:        d.Env,
		Deployment: d.ID,
		Name:       snap.Deployment.ProjectID,
		Tenant:     snap.Deployment.ProjectID,
		Log: func(method, path, source, level, msg string, status int) {
			h.projectLog(d.ProjectID, d.ID, method, path)(source, level, msg, status)
		},
	}, nil
}

// serveProject serves a request for project id. pathname and search are the
// request target after WHATWG normalisation, with the /__project/<id>
// prefix (passed in prefix) already removed in path mode.
func (h *Host) serveProject(w http.ResponseWriter, r *http.Request, id, prefix, pathname, search string) {
	// The work a long request did before its turn ends here: what follows
	// may wait for the site to be built, which is deploy work, paced in
	// its own turn (heavy.go), and must not be charged again.
	before := handlerSince(w)
	s, err := h.siteFor(r.Context(), id)
	switch {
	case errors.Is(err, errNoProject):
		textError(w, http.StatusNotFound, "No project "+id+" on this host.\n")
		return
	case errors.Is(err, errNoPreview):
		textError(w, http.StatusNotFound, "No deployment or branch "+id+" on this host.\n")
		return
	case err != nil:
		h.log.Error("load deployment", "project", id, "err", err)
		textError(w, http.StatusInternalServerError, "Internal error loading this project; see the host's log.\n")
		return
	case s.deployment == "":
		textError(w, http.StatusNotFound, "Project "+id+" has nothing deployed yet. Deploy with: cfdeploy deploy ./dist --project "+id+"\n")
		return
	}
	cls := w // what setClass looks for, before any wrapping
	if s.preview {
		w = noindex(w)
	}
	req := assets.Request{Pathname: pathname, Search: search, Host: r.Host, Prefix: prefix, Scheme: h.scheme(r)}
	// A long path is an expensive static request: it waits for its
	// project's turn (pace.go). Server code has run slots of its own, so
	// the turn ends before a request goes to it.
	var done func()
	if len(pathname) > h.cfg.LongRequestPath {
		var err error
		if done, err = h.pace.wait(r.Context(), s.projectID, before); err != nil {
			return // the client went away
		}
	}
	if (s.program == nil && s.js == nil) || !h.routeToWorker(s, r, req) {
		if done != nil {
			// The turn ends when the answer starts (or here, at the
			// latest), not once a client has read it.
			tw := &turnWriter{ResponseWriter: w, done: done}
			defer tw.end()
			w = tw
		}
		setClass(cls, classAsset)
		c := coalesce.From(r.Context())
		c.Hold()
		if s.isolate {
			s.assets.Serve(h.isolating(w, r, prefix, false), r, req)
		} else {
			s.assets.Serve(w, r, req)
		}
		c.Done(w)
		return
	}
	if done != nil {
		done()
	}
	setClass(cls, classWorker)
	// Server code may send any header, so its responses are always
	// isolated; a run costs far more than the wrapper.
	w = h.isolating(w, r, prefix, prefix != "")
	if s.js != nil {
		h.serveJS(w, r, s, id, req, pathname, search)
		return
	}
	wreq := worker.Request{Scheme: req.Scheme, Host: r.Host, RawPath: pathname, RawQuery: trimQuestion(search), RemoteAddr: h.clientAddr(r)}
	h.worker.Serve(w, r, *s.program, wreq, func(w http.ResponseWriter, r *http.Request) {
		// The guest's env.ASSETS.fetch(): the rewritten request's target is
		// a project path.
		// Its Locations stay project-relative here: w adds the prefix.
		pn, se := assets.ParseTarget(r.RequestURI)
		s.assets.Serve(w, r, assets.Request{Pathname: pn, Search: se, Host: req.Host, Scheme: req.Scheme})
	})
}

// routeToWorker decides between server code and assets
// (docs/asset-serving.md#run-worker-first).
func (h *Host) routeToWorker(s *site, r *http.Request, req assets.Request) bool {
	return s.assets.Route(r, req, assets.RouteOptions{
		HasWorker: true, RunWorkerFirst: s.rwf, NavigationPrefersAssets: s.navigation,
	}) == rules.RouteWorker
}

func trimQuestion(search string) string {
	if len(search) > 0 && search[0] == '?' {
		return search[1:]
	}
	return search
}

func textError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(msg))
}
