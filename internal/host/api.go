package host

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
	"github.com/cfdeploy/cfdeploy/pkg/alias"
	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

func (h *Host) handleHealth(w http.ResponseWriter, r *http.Request) error {
	var res api.HealthResponse
	res.Success = true
	res.Result.Status = "ok"
	status := http.StatusOK
	kind, version, err := h.databaseHealth(r.Context())
	res.Result.Database = &api.DatabaseHealth{Kind: kind, Status: "ok", SchemaVersion: version}
	if err != nil {
		// A replica without its database cannot deploy or build a site it
		// has not cached: load balancers should send traffic elsewhere.
		h.log.Warn("health: database unreachable", "err", err)
		res.Success = false
		res.Result.Status = "unavailable"
		res.Result.Database.Status = "unreachable"
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, res)
	return nil
}

// maxNameLength bounds project and token names, in bytes.
const maxNameLength = 200

// validateName checks a project or token name (what says which).
func validateName(what, name string) error {
	switch {
	case len(name) > maxNameLength:
		return api.Errorf(api.CodeInvalid, "%s name is longer than %d bytes", what, maxNameLength)
	case !utf8.ValidString(name):
		return api.Errorf(api.CodeInvalid, "%s name is not valid UTF-8", what)
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return api.Errorf(api.CodeInvalid, "%s name contains a control character", what)
		}
	}
	return nil
}

func (h *Host) handleCreateProject(w http.ResponseWriter, r *http.Request) error {
	var req api.CreateProjectRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, 64<<10, &req); err != nil {
			return err
		}
	}
	req.Name = strings.TrimSpace(req.Name)
	if err := validateName("project", req.Name); err != nil {
		return err
	}
	if req.Slug != "" {
		if err := alias.ValidateProjectSlug(req.Slug); err != nil {
			return api.Errorf(api.CodeInvalid, "%v", err)
		}
	}
	id := uuid.NewString()
	if req.Name == "" {
		req.Name = "project-" + id[:8]
	}
	p, err := h.store.CreateProject(r.Context(), store.Project{ID: id, Name: req.Name, Slug: req.Slug, CreatedAt: time.Now()})
	if errors.Is(err, store.ErrConflict) {
		return slugTaken(req.Slug)
	}
	if err != nil {
		return err
	}
	// Its slug may have been asked for, and remembered as no project's.
	h.sites.forgetSlugs()
	writeJSON(w, http.StatusCreated, api.ProjectResponse{Success: true, Project: toAPIProject(p)})
	return nil
}

// Page sizes of GET /__api/projects.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

func (h *Host) handleListProjects(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := defaultPageSize
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageSize {
			return api.Errorf(api.CodeInvalid, "limit must be a whole number from 1 to %d", maxPageSize)
		}
		limit = n
	}
	var after int64
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err == nil {
			after, err = strconv.ParseInt(string(b), 10, 64)
		}
		if err != nil || after < 0 {
			return api.Errorf(api.CodeInvalid, "cursor %q is not one this host gave out", c)
		}
	}
	// Ask for one more than the page to learn whether another page follows.
	ps, _, err := h.store.Projects(r.Context(), after, limit+1)
	if err != nil {
		return err
	}
	res := api.ProjectListResponse{Success: true, Projects: make([]api.Project, 0, len(ps))}
	if len(ps) > limit {
		ps = ps[:limit]
		_, last, err := h.store.Projects(r.Context(), after, limit)
		if err != nil {
			return err
		}
		c := base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(last, 10)))
		res.Cursor = &c
	}
	for _, p := range ps {
		res.Projects = append(res.Projects, toAPIProject(p))
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (h *Host) project(ctx context.Context, id string) (store.Project, error) {
	p, err := h.store.Project(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return p, projectNotFound(id)
	}
	return p, err
}

func (h *Host) handleGetProject(w http.ResponseWriter, r *http.Request, id string) error {
	p, err := h.project(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ProjectResponse{Success: true, Project: toAPIProject(p)})
	return nil
}

func (h *Host) handleDeleteProject(w http.ResponseWriter, r *http.Request, id string) error {
	if err := h.store.DeleteProject(r.Context(), id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return projectNotFound(id)
		}
		return err
	}
	h.sites.forget(id)
	h.logs.Forget(id)
	// Its domains went with it (the rows cascade); free their names.
	if err := h.reloadDomains(r.Context()); err != nil {
		return err
	}
	h.sites.forgetSlugs()
	writeJSON(w, http.StatusOK, api.DeleteProjectResponse{Success: true, Message: "Project deleted", ProjectID: id})
	return nil
}

func (h *Host) handleListDeployments(w http.ResponseWriter, r *http.Request, id string) error {
	if _, err := h.project(r.Context(), id); err != nil {
		return err
	}
	ds, err := h.store.Deployments(r.Context(), id)
	if err != nil {
		return err
	}
	res := api.DeploymentListResponse{Success: true, Deployments: make([]api.Deployment, 0, len(ds))}
	for _, d := range ds {
		res.Deployments = append(res.Deployments, h.toAPIDeployment(r, d))
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// handleDeploymentFiles lists a deployment's files (path, hash, size), so
// that a dry run can show what a deploy would add, change or remove.
func (h *Host) handleDeploymentFiles(w http.ResponseWriter, r *http.Request, id, did string) error {
	if _, err := h.project(r.Context(), id); err != nil {
		return err
	}
	assets, err := h.store.DeploymentAssets(r.Context(), id, did)
	if errors.Is(err, store.ErrNotFound) {
		return api.Errorf(api.CodeNotFound, "deployment %s not found in project %s", did, id)
	}
	if err != nil {
		return err
	}
	res := api.DeploymentFilesResponse{Success: true, Files: make(api.Manifest, len(assets))}
	for _, a := range assets {
		res.Files[a.Path] = api.ManifestEntry{Hash: a.Hash, Size: a.Size}
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// handleGetDeployment answers one deployment with the settings, rules and
// server-code entrypoint it was deployed with (what the dashboard shows on a
// deployment's page); env values stay out of it.
func (h *Host) handleGetDeployment(w http.ResponseWriter, r *http.Request, id, did string) error {
	if _, err := h.project(r.Context(), id); err != nil {
		return err
	}
	d, err := h.store.Deployment(r.Context(), id, did)
	if errors.Is(err, store.ErrNotFound) {
		return api.Errorf(api.CodeNotFound, "deployment %s not found in project %s", did, id)
	}
	if err != nil {
		return err
	}
	var cfg rules.Config
	if d.Config != "" {
		if err := json.Unmarshal([]byte(d.Config), &cfg); err != nil {
			return fmt.Errorf("deployment %s: stored config: %w", d.ID, err)
		}
	}
	writeJSON(w, http.StatusOK, api.DeploymentResponse{Success: true, Deployment: api.DeploymentDetail{
		Deployment: h.toAPIDeployment(r, d),
		Config: api.AssetConfig{HTMLHandling: cfg.HTMLHandling, NotFoundHandling: cfg.NotFoundHandling,
			Redirects: d.Redirects, Headers: d.Headers},
		Entrypoint: d.Entrypoint, CompatibilityDate: d.CompatibilityDate, CompatibilityFlags: d.CompatibilityFlags,
	}})
	return nil
}

func (h *Host) handleRollback(w http.ResponseWriter, r *http.Request, id string) error {
	var req api.RollbackRequest
	if err := decodeJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	return h.makeLive(w, r, id, req.DeploymentID)
}

func toAPIProject(p store.Project) api.Project {
	out := api.Project{
		ID: p.ID, Name: p.Name, Slug: p.Slug, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		HasServerCode: p.HasServerCode, AssetsCount: p.AssetsCount,
	}
	if p.ActiveDeploymentID != "" {
		id := p.ActiveDeploymentID
		out.ActiveDeploymentID = &id
	}
	return out
}

// toAPIDeployment is a deployment as the API reports it, with its URLs
// in the scheme and port that request r used.
func (h *Host) toAPIDeployment(r *http.Request, d store.Deployment) api.Deployment {
	out := api.Deployment{
		ID: d.ID, ProjectID: d.ProjectID, CreatedAt: d.CreatedAt,
		AssetsCount: d.AssetsCount, HasServerCode: d.HasServerCode(), Active: d.Active,
		ShortID: alias.ShortID(d.ID), Branch: d.Branch, Production: !d.Preview, Live: d.Active,
	}
	out.URL = h.previewURL(r, alias.Label(out.ShortID, d.ProjectID))
	if d.BranchSlug != "" {
		out.BranchURL = h.previewURL(r, alias.Label(d.BranchSlug, d.ProjectID))
	}
	return out
}
