package host

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// serveAPI routes /__api/… (path is what follows "/__api"). Routing is by
// hand rather than through http.ServeMux so that unknown routes and wrong
// methods get the JSON error body too.
func (h *Host) serveAPI(w http.ResponseWriter, r *http.Request, path string) {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	route := func(method string, fn func(http.ResponseWriter, *http.Request) error) {
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			h.writeError(w, r, api.Errorf(api.CodeMethod, "method %s is not allowed on %s; use %s", r.Method, r.URL.Path, method))
			return
		}
		if err := fn(w, r); err != nil {
			h.writeError(w, r, err)
		}
	}
	// admin wraps a route only the host's admin token may use; scoped one
	// that acts on project id, which that project's tokens may use too.
	admin := func(fn func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
		return func(w http.ResponseWriter, r *http.Request) error {
			if err := h.authorize(w, r, "", true); err != nil {
				return err
			}
			return fn(w, r)
		}
	}
	scoped := func(id string, fn func(http.ResponseWriter, *http.Request, string) error) func(http.ResponseWriter, *http.Request) error {
		return func(w http.ResponseWriter, r *http.Request) error {
			if err := h.authorize(w, r, id, false); err != nil {
				return err
			}
			return fn(w, r, id)
		}
	}
	switch {
	case len(seg) == 1 && seg[0] == "health":
		route(http.MethodGet, h.handleHealth)
	case len(seg) == 1 && seg[0] == "projects":
		if r.Method == http.MethodPost {
			route(http.MethodPost, admin(h.handleCreateProject))
		} else {
			route(http.MethodGet, admin(h.handleListProjects))
		}
	case len(seg) == 2 && seg[0] == "projects":
		id := seg[1]
		if r.Method == http.MethodDelete {
			route(http.MethodDelete, admin(func(w http.ResponseWriter, r *http.Request) error { return h.handleDeleteProject(w, r, id) }))
		} else {
			route(http.MethodGet, scoped(id, h.handleGetProject))
		}
	case len(seg) == 3 && seg[0] == "projects":
		id := seg[1]
		switch seg[2] {
		case "assets-upload-session":
			route(http.MethodPost, scoped(id, h.handleUploadSession))
		case "deploy":
			route(http.MethodPost, scoped(id, h.handleDeploy))
		case "deployments":
			route(http.MethodGet, scoped(id, h.handleListDeployments))
		case "rollback":
			route(http.MethodPost, scoped(id, h.handleRollback))
		case "env", "secrets":
			secret := seg[2] == "secrets"
			route(http.MethodGet, scoped(id, func(w http.ResponseWriter, r *http.Request, id string) error {
				return h.handleListVars(w, r, id, secret)
			}))
		case "tokens":
			if r.Method == http.MethodPost {
				route(http.MethodPost, admin(func(w http.ResponseWriter, r *http.Request) error { return h.handleCreateToken(w, r, id) }))
			} else {
				route(http.MethodGet, admin(func(w http.ResponseWriter, r *http.Request) error { return h.handleListTokens(w, r, id) }))
			}
		default:
			h.writeError(w, r, api.Errorf(api.CodeNotFound, "no API route %s %s", r.Method, r.URL.Path))
		}
	case len(seg) == 4 && seg[0] == "projects" && (seg[2] == "env" || seg[2] == "secrets"):
		id, name, secret := seg[1], seg[3], seg[2] == "secrets"
		if r.Method == http.MethodDelete {
			route(http.MethodDelete, scoped(id, func(w http.ResponseWriter, r *http.Request, id string) error {
				return h.handleDeleteVar(w, r, id, name, secret)
			}))
		} else {
			route(http.MethodPut, scoped(id, func(w http.ResponseWriter, r *http.Request, id string) error {
				return h.handlePutVar(w, r, id, name, secret)
			}))
		}
	case len(seg) == 5 && seg[0] == "projects" && seg[2] == "deployments" && seg[4] == "files":
		id, did := seg[1], seg[3]
		route(http.MethodGet, scoped(id, func(w http.ResponseWriter, r *http.Request, id string) error {
			return h.handleDeploymentFiles(w, r, id, did)
		}))
	case len(seg) == 4 && seg[0] == "projects" && seg[2] == "tokens":
		id, tokenID := seg[1], seg[3]
		route(http.MethodDelete, admin(func(w http.ResponseWriter, r *http.Request) error { return h.handleRevokeToken(w, r, id, tokenID) }))
	case len(seg) == 4 && seg[0] == "projects" && seg[2] == "assets" && seg[3] == "upload":
		// Authorised by the upload token, not the API token.
		id := seg[1]
		route(http.MethodPost, func(w http.ResponseWriter, r *http.Request) error { return h.handleUpload(w, r, id) })
	default:
		h.writeError(w, r, api.Errorf(api.CodeNotFound, "no API route %s %s", r.Method, r.URL.Path))
	}
}

func (h *Host) handleHealth(w http.ResponseWriter, r *http.Request) error {
	var res api.HealthResponse
	res.Success = true
	res.Result.Status = "ok"
	writeJSON(w, http.StatusOK, res)
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
	id := uuid.NewString()
	if req.Name == "" {
		req.Name = "project-" + id[:8]
	}
	p, err := h.store.CreateProject(r.Context(), store.Project{ID: id, Name: req.Name, CreatedAt: time.Now()})
	if err != nil {
		return err
	}
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

func (h *Host) project(r *http.Request, id string) (store.Project, error) {
	p, err := h.store.Project(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return p, projectNotFound(id)
	}
	return p, err
}

func (h *Host) handleGetProject(w http.ResponseWriter, r *http.Request, id string) error {
	p, err := h.project(r, id)
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
	writeJSON(w, http.StatusOK, api.DeleteProjectResponse{Success: true, Message: "Project deleted", ProjectID: id})
	return nil
}

func (h *Host) handleListDeployments(w http.ResponseWriter, r *http.Request, id string) error {
	if _, err := h.project(r, id); err != nil {
		return err
	}
	ds, err := h.store.Deployments(r.Context(), id)
	if err != nil {
		return err
	}
	res := api.DeploymentListResponse{Success: true, Deployments: make([]api.Deployment, 0, len(ds))}
	for _, d := range ds {
		res.Deployments = append(res.Deployments, toAPIDeployment(d))
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// handleDeploymentFiles lists a deployment's files (path, hash, size), so
// that a dry run can show what a deploy would add, change or remove.
func (h *Host) handleDeploymentFiles(w http.ResponseWriter, r *http.Request, id, did string) error {
	if _, err := h.project(r, id); err != nil {
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

func (h *Host) handleRollback(w http.ResponseWriter, r *http.Request, id string) error {
	var req api.RollbackRequest
	if err := decodeJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	if req.DeploymentID == "" {
		return api.Errorf(api.CodeInvalid, "deploymentId is required")
	}
	if _, err := h.project(r, id); err != nil {
		return err
	}
	p, d, err := h.store.Activate(r.Context(), id, req.DeploymentID)
	if errors.Is(err, store.ErrNotFound) {
		return api.Errorf(api.CodeNotFound, "deployment %s not found in project %s", req.DeploymentID, id)
	}
	if err != nil {
		return err
	}
	h.sites.forget(id)
	writeJSON(w, http.StatusOK, api.RollbackResponse{Success: true, Project: toAPIProject(p), Deployment: toAPIDeployment(d)})
	return nil
}

func toAPIProject(p store.Project) api.Project {
	out := api.Project{
		ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		HasServerCode: p.HasServerCode, AssetsCount: p.AssetsCount,
	}
	if p.ActiveDeploymentID != "" {
		id := p.ActiveDeploymentID
		out.ActiveDeploymentID = &id
	}
	return out
}

func toAPIDeployment(d store.Deployment) api.Deployment {
	return api.Deployment{
		ID: d.ID, ProjectID: d.ProjectID, CreatedAt: d.CreatedAt,
		AssetsCount: d.AssetsCount, HasServerCode: d.HasServerCode(), Active: d.Active,
	}
}
