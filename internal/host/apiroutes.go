package host

import (
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// apiHandler is an API handler that reports failure as an error, which
// serveAPI turns into the JSON error body.
type apiHandler func(http.ResponseWriter, *http.Request) error

// apiRoute is one route of the management API.
type apiRoute struct {
	method, path string // a ServeMux pattern's two halves
	handle       apiHandler
}

// apiRoutes lists every route of the management API: the one place that
// says which methods and paths exist (docs/openapi.yaml is checked against
// it). Wildcards match the path as sent (see serveAPI), so an id is never
// unescaped on its way to a handler.
func (h *Host) apiRoutes() []apiRoute {
	// admin: only the host's admin token. scoped: the admin token or a
	// token of the project the path names.
	admin := func(fn apiHandler) apiHandler {
		return func(w http.ResponseWriter, r *http.Request) error {
			if err := h.authorize(w, r, "", true); err != nil {
				return err
			}
			return fn(w, r)
		}
	}
	scoped := func(fn func(http.ResponseWriter, *http.Request, string) error) apiHandler {
		return func(w http.ResponseWriter, r *http.Request) error {
			id := r.PathValue("id")
			if err := h.authorize(w, r, id, false); err != nil {
				return err
			}
			return fn(w, r, id)
		}
	}
	id := func(fn func(http.ResponseWriter, *http.Request, string) error) apiHandler {
		return func(w http.ResponseWriter, r *http.Request) error { return fn(w, r, r.PathValue("id")) }
	}
	vars := func(secret bool) []apiRoute {
		kind := "env"
		if secret {
			kind = "secrets"
		}
		return []apiRoute{
			{"GET", "/__api/projects/{id}/" + kind, scoped(func(w http.ResponseWriter, r *http.Request, id string) error {
				return h.handleListVars(w, r, id, secret)
			})},
			{"PUT", "/__api/projects/{id}/" + kind + "/{name}", scoped(func(w http.ResponseWriter, r *http.Request, id string) error {
				return h.handlePutVar(w, r, id, r.PathValue("name"), secret)
			})},
			{"DELETE", "/__api/projects/{id}/" + kind + "/{name}", scoped(func(w http.ResponseWriter, r *http.Request, id string) error {
				return h.handleDeleteVar(w, r, id, r.PathValue("name"), secret)
			})},
		}
	}
	routes := []apiRoute{
		{"GET", "/__api/health", h.handleHealth},
		{"POST", "/__api/projects", admin(h.handleCreateProject)},
		{"GET", "/__api/projects", admin(h.handleListProjects)},
		{"GET", "/__api/projects/{id}", scoped(h.handleGetProject)},
		{"PATCH", "/__api/projects/{id}", admin(id(h.handleUpdateProject))},
		{"DELETE", "/__api/projects/{id}", admin(id(h.handleDeleteProject))},
		{"POST", "/__api/projects/{id}/assets-upload-session", scoped(h.handleUploadSession)},
		// Authorised by the upload token, not an API token.
		{"POST", "/__api/projects/{id}/assets/upload", id(h.handleUpload)},
		{"POST", "/__api/projects/{id}/deploy", scoped(h.handleDeploy)},
		{"GET", "/__api/projects/{id}/deployments", scoped(h.handleListDeployments)},
		{"GET", "/__api/projects/{id}/deployments/{deployment}", scoped(func(w http.ResponseWriter, r *http.Request, id string) error {
			return h.handleGetDeployment(w, r, id, r.PathValue("deployment"))
		})},
		{"GET", "/__api/projects/{id}/deployments/{deployment}/files", scoped(func(w http.ResponseWriter, r *http.Request, id string) error {
			return h.handleDeploymentFiles(w, r, id, r.PathValue("deployment"))
		})},
		{"POST", "/__api/projects/{id}/rollback", scoped(h.handleRollback)},
		{"GET", "/__api/projects/{id}/logs", scoped(h.handleLogs)},
		{"GET", "/__api/projects/{id}/domains", scoped(h.handleListDomains)},
		{"POST", "/__api/projects/{id}/domains", scoped(h.handleAddDomain)},
		{"DELETE", "/__api/projects/{id}/domains/{hostname}", scoped(func(w http.ResponseWriter, r *http.Request, id string) error {
			return h.handleDeleteDomain(w, r, id, r.PathValue("hostname"))
		})},
		{"POST", "/__api/projects/{id}/promote", scoped(h.handlePromote)},
		{"POST", "/__api/projects/{id}/tokens", admin(id(h.handleCreateToken))},
		{"GET", "/__api/projects/{id}/tokens", admin(id(h.handleListTokens))},
		{"DELETE", "/__api/projects/{id}/tokens/{token}", admin(id(func(w http.ResponseWriter, r *http.Request, id string) error {
			return h.handleRevokeToken(w, r, id, r.PathValue("token"))
		}))},
	}
	return append(append(routes, vars(false)...), vars(true)...)
}

// newAPIMux routes the management API with ServeMux patterns; what no
// route takes falls to apiFallback.
func (h *Host) newAPIMux() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range h.apiRoutes() {
		mux.HandleFunc(rt.method+" "+rt.path, func(w http.ResponseWriter, r *http.Request) {
			if err := rt.handle(w, r); err != nil {
				h.writeError(w, r, err)
			}
		})
	}
	mux.HandleFunc("/__api/", func(w http.ResponseWriter, r *http.Request) { h.apiFallback(mux, w, r) })
	return mux
}

// apiMethods are the methods the fallback probes to fill in Allow.
var apiMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// apiFallback answers what no route took: 405 with Allow when the path
// exists with other methods, else 404, both with the JSON error body.
func (h *Host) apiFallback(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range apiMethods {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := mux.Handler(probe); pattern != "/__api/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		h.writeError(w, r, api.Errorf(api.CodeNotFound, "no API route %s %s", r.Method, r.URL.Path))
		return
	}
	if slices.Contains(allow, http.MethodGet) && !slices.Contains(allow, http.MethodHead) {
		allow = append(allow, http.MethodHead)
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	h.writeError(w, r, api.Errorf(api.CodeMethod, "method %s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
}

// serveAPI routes /__api/… (rest is the raw path after "/__api"). The
// router sees the path as sent, with one trailing slash forgiven as
// before, and never cleaned: a path with empty or dot segments names no
// route, rather than being redirected to one it was not.
func (h *Host) serveAPI(w http.ResponseWriter, r *http.Request, rest string) {
	p := "/__api/" + strings.Trim(rest, "/")
	if strings.Contains(p, "//") || path.Clean(p) != p {
		h.writeError(w, r, api.Errorf(api.CodeNotFound, "no API route %s %s", r.Method, r.URL.Path))
		return
	}
	r2 := *r
	u := *r.URL
	u.Path, u.RawPath = p, ""
	r2.URL = &u
	h.apiMux.ServeHTTP(w, &r2)
}
