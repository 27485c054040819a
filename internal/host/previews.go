package host

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
	"github.com/cfdeploy/cfdeploy/pkg/alias"
	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// errNoPreview means a preview label names no deployment or branch of an
// existing project.
var errNoPreview = errors.New("no such deployment or branch")

// previewKey is the site-cache key of a project's preview selector. Project
// ids and slugs never contain "/", so no live entry shares the prefix.
func previewKey(projectID, selector string) string { return projectID + "/" + selector }

// siteFor resolves the label that addressed a project — its id, its slug,
// or "<short-id|branch-slug>--<id|slug>" — to the site to serve. A project
// id goes straight to the live-site cache, as before previews existed. A
// name already found to name no project is refused without a query.
func (h *Host) siteFor(ctx context.Context, label string) (*site, error) {
	selector, project := alias.Parse(label)
	if h.sites.misses.has(project) {
		return nil, errNoProject
	}
	id, err := h.projectIDFor(ctx, project)
	if err != nil {
		return nil, err
	}
	if selector == "" {
		return h.sites.get(ctx, id)
	}
	return h.sites.getKey(ctx, previewKey(id, selector), id, selector)
}

// projectIDFor maps a project's id or slug to its id. Slugs come from the
// cache of those used; a slug-shaped name not cached is looked up once
// for all concurrent requests, and remembered as a miss when it names no
// project. Any other name is returned as is, for the site cache to find or
// refuse as an id.
func (h *Host) projectIDFor(ctx context.Context, name string) (string, error) {
	if len(name) > alias.MaxProjectSlug {
		return name, nil // an id: the live path stays one map lookup
	}
	c := h.sites
	c.mu.RLock()
	id, ok := c.slugs[name]
	c.mu.RUnlock()
	if ok || alias.ValidateProjectSlug(name) != nil {
		if !ok {
			id = name
		}
		return id, nil
	}
	// The lookup runs to its end even when the request that started it
	// goes away: the others waiting for it still want the answer. A
	// request that comes after the slugs changed does not join a lookup
	// begun before: the generation is part of the key.
	lctx := context.WithoutCancel(ctx)
	gen := c.misses.begin()
	key := strconv.FormatUint(gen, 10) + " " + name
	ch := c.lookups.DoChan(key, func() (any, error) { return h.lookupSlug(lctx, name, gen) })
	select {
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// lookupSlug asks the store for the project a slug names and caches the
// answer, found or not, unless the slugs changed meanwhile. Ids are longer
// than any slug, so a slug-shaped name that is no project's slug names no
// project.
func (h *Host) lookupSlug(ctx context.Context, name string, gen uint64) (string, error) {
	c := h.sites
	id, err := h.store.ProjectBySlug(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		c.misses.add(name, gen)
		return "", errNoProject
	case err != nil:
		return "", err
	}
	c.mu.Lock()
	if c.misses.current(gen) {
		c.slugs[name] = id
	}
	c.mu.Unlock()
	return id, nil
}

// forgetSlugs empties the slug cache and the names known to name no
// project, after a slug changed hands, a project came or went, or (on a
// shared database) anything changed on another replica.
func (c *siteCache) forgetSlugs() {
	// The generation moves first: a lookup that checks it after this
	// stores nothing, and one that checked before (under c.mu) stored
	// what the clear below removes.
	c.misses.forget()
	c.mu.Lock()
	clear(c.slugs)
	c.mu.Unlock()
}

// buildPreview builds the site of the deployment that selector names: the
// deployment whose short id it is, else the newest of the branch whose
// slug it is.
func (h *Host) buildPreview(ctx context.Context, t *turn, projectID, selector string) (*site, error) {
	snap, err := store.Snapshot{}, store.ErrNotFound
	if alias.IsShortID(selector) {
		snap, err = h.store.PreviewSnapshot(ctx, projectID, selector, "")
	}
	if errors.Is(err, store.ErrNotFound) {
		snap, err = h.store.PreviewSnapshot(ctx, projectID, "", selector)
	}
	if errors.Is(err, store.ErrNotFound) {
		if _, perr := h.store.Project(ctx, projectID); errors.Is(perr, store.ErrNotFound) {
			return nil, errNoProject
		} else if perr != nil {
			return nil, perr
		}
		return nil, errNoPreview
	}
	if err != nil {
		return nil, err
	}
	s, err := h.compileSite(ctx, t, snap)
	if err != nil {
		return nil, err
	}
	s.preview = true
	return s, nil
}

// noindexWriter marks a preview's responses noindex, whatever the project's
// rules or server code set, so that search engines keep to the live site.
type noindexWriter struct {
	http.ResponseWriter
	done bool
}

func noindex(w http.ResponseWriter) http.ResponseWriter { return &noindexWriter{ResponseWriter: w} }

func (w *noindexWriter) WriteHeader(code int) {
	if !w.done {
		w.done = true
		w.Header().Set("X-Robots-Tag", "noindex")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *noindexWriter) Write(b []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps the connection's sendfile path for asset bodies.
func (w *noindexWriter) ReadFrom(src io.Reader) (int64, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(struct{ io.Writer }{w.ResponseWriter}, src)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *noindexWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// previewURL is the subdomain URL of label under this host's base domain,
// with the scheme and port the request r came in with.
func (h *Host) previewURL(r *http.Request, label string) string {
	u := h.scheme(r) + "://" + label + h.dotBase
	if i := strings.LastIndexByte(r.Host, ':'); i >= 0 && !strings.HasSuffix(r.Host, "]") {
		u += r.Host[i:]
	}
	return u + "/"
}

// handlePromote makes a deployment (a preview, as a rule) the live one.
func (h *Host) handlePromote(w http.ResponseWriter, r *http.Request, id string) error {
	var req api.PromoteRequest
	if err := decodeJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	return h.makeLive(w, r, id, req.DeploymentID)
}

// makeLive moves a project's live pointer to one of its deployments, in one
// transaction, for rollback and promote alike; requests see the old
// deployment or the new one, never a mix.
func (h *Host) makeLive(w http.ResponseWriter, r *http.Request, id, deploymentID string) error {
	if deploymentID == "" {
		return api.Errorf(api.CodeInvalid, "deploymentId is required")
	}
	if _, err := h.project(r.Context(), id); err != nil {
		return err
	}
	if err := h.allowDeploy(w, id); err != nil {
		return err
	}
	p, d, err := h.store.Activate(r.Context(), id, deploymentID)
	if errors.Is(err, store.ErrNotFound) {
		return api.Errorf(api.CodeNotFound, "deployment %s not found in project %s", deploymentID, id)
	}
	if err != nil {
		return err
	}
	h.chargeDeploy(id, d.AssetsCount) // the site it builds
	h.sites.forget(id)
	h.waitLive(r.Context())
	writeJSON(w, http.StatusOK, api.RollbackResponse{Success: true, Project: toAPIProject(p), Deployment: h.toAPIDeployment(r, d)})
	return nil
}

// handleUpdateProject renames a project or changes its slug.
func (h *Host) handleUpdateProject(w http.ResponseWriter, r *http.Request, id string) error {
	var req api.UpdateProjectRequest
	if err := decodeJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	if req.Name == nil && req.Slug == nil {
		return api.Errorf(api.CodeInvalid, "nothing to change: give name or slug")
	}
	if req.Name != nil {
		name := strings.TrimSpace(*req.Name)
		if name == "" {
			return api.Errorf(api.CodeInvalid, "project name is empty")
		}
		if err := validateName("project", name); err != nil {
			return err
		}
		req.Name = &name
	}
	if req.Slug != nil && *req.Slug != "" {
		if err := alias.ValidateProjectSlug(*req.Slug); err != nil {
			return api.Errorf(api.CodeInvalid, "%v", err)
		}
	}
	if _, err := h.project(r.Context(), id); err != nil {
		return err
	}
	p, err := h.store.RenameProject(r.Context(), id, req.Name, req.Slug)
	switch {
	case errors.Is(err, store.ErrConflict):
		return slugTaken(*req.Slug)
	case errors.Is(err, store.ErrNotFound):
		return projectNotFound(id)
	case err != nil:
		return err
	}
	// The old slug must stop answering at once, and the new one may have
	// been cached as unknown nowhere: clearing the slug cache does both.
	h.sites.forgetSlugs()
	writeJSON(w, http.StatusOK, api.ProjectResponse{Success: true, Project: toAPIProject(p)})
	return nil
}

func slugTaken(slug string) error {
	return api.Errorf(api.CodeConflict, "slug %q belongs to another project", slug)
}
