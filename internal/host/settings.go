package host

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
	"github.com/cfdeploy/cfdeploy/internal/host/worker"
	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// Defaults of the project-settings bounds (Config.MaxProjectVars,
// Config.MaxVarValueBytes): Cloudflare's own per-Worker figures, enough for
// real configuration and small enough that a tenant cannot grow every
// guest's environment without bound.
const (
	DefaultMaxProjectVars   = 64
	DefaultMaxVarValueBytes = 5 << 10
)

// Project variables and secrets are merged under each deployment's own env
// when its site is built (buildSite), not copied into the deployment: a
// rotated or deleted secret takes effect at once, and a rollback never
// brings back a secret that was revoked. Every change therefore drops the
// project's cached site.

func (h *Host) handleListVars(w http.ResponseWriter, r *http.Request, id string, secret bool) error {
	if _, err := h.project(r.Context(), id); err != nil {
		return err
	}
	vars, err := h.store.ProjectVars(r.Context(), id)
	if err != nil {
		return err
	}
	if secret {
		res := api.SecretListResponse{Success: true, Secrets: []api.Secret{}}
		for _, v := range vars {
			if v.Secret {
				res.Secrets = append(res.Secrets, api.Secret{Name: v.Name, UpdatedAt: v.UpdatedAt})
			}
		}
		writeJSON(w, http.StatusOK, res)
		return nil
	}
	res := api.EnvListResponse{Success: true, Env: []api.EnvVar{}}
	for _, v := range vars {
		if !v.Secret {
			res.Env = append(res.Env, api.EnvVar{Name: v.Name, Value: v.Value, UpdatedAt: v.UpdatedAt})
		}
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (h *Host) handlePutVar(w http.ResponseWriter, r *http.Request, id, name string, secret bool) error {
	kind := kindOf(secret)
	if err := worker.ValidateEnvName(name); err != nil {
		return api.Errorf(api.CodeInvalid, "%s name: %v", kind, err)
	}
	maxValue := h.cfg.MaxVarValueBytes
	// JSON escaping can make a value up to six times longer on the wire.
	var req api.SetValueRequest
	if err := decodeJSON(w, r, int64(6*maxValue+4096), &req); err != nil {
		return err
	}
	switch {
	case req.Value == nil:
		return api.Errorf(api.CodeInvalid, `the body must be {"value": "..."}`)
	case len(*req.Value) > maxValue:
		return api.Errorf(api.CodeInvalid, "%s %s is %d bytes; the limit is %d bytes", kind, name, len(*req.Value), maxValue)
	case strings.IndexByte(*req.Value, 0) >= 0:
		return api.Errorf(api.CodeInvalid, "%s %s contains a NUL byte, which server code cannot receive", kind, name)
	}
	if _, err := h.project(r.Context(), id); err != nil {
		return err
	}
	v, err := h.store.PutProjectVar(r.Context(), id, store.Var{Name: name, Value: *req.Value, Secret: secret, UpdatedAt: time.Now()}, h.cfg.MaxProjectVars)
	switch {
	case errors.Is(err, store.ErrLimit):
		return api.Errorf(api.CodeInvalid, "project %s already has %d variables and secrets, the most a project may have; remove one first", id, h.cfg.MaxProjectVars)
	case errors.Is(err, store.ErrConflict):
		other := kindOf(!secret)
		return api.Errorf(api.CodeConflict, "%s is already a %s of project %s; remove the %s first", name, other, id, other)
	case errors.Is(err, store.ErrNotFound):
		return projectNotFound(id)
	case err != nil:
		return err
	}
	h.sites.forget(id)
	// Never the value: logs are read by more people than the API token.
	h.log.Info("project setting changed", "project", id, "kind", kind, "name", name)
	if secret {
		writeJSON(w, http.StatusOK, api.SecretResponse{Success: true, Secret: api.Secret{Name: v.Name, UpdatedAt: v.UpdatedAt}})
		return nil
	}
	writeJSON(w, http.StatusOK, api.EnvVarResponse{Success: true, Variable: api.EnvVar{Name: v.Name, Value: v.Value, UpdatedAt: v.UpdatedAt}})
	return nil
}

func (h *Host) handleDeleteVar(w http.ResponseWriter, r *http.Request, id, name string, secret bool) error {
	if _, err := h.project(r.Context(), id); err != nil {
		return err
	}
	err := h.store.DeleteProjectVar(r.Context(), id, name, secret)
	if errors.Is(err, store.ErrNotFound) {
		return api.Errorf(api.CodeNotFound, "%s %s is not set", kindOf(secret), name)
	}
	if err != nil {
		return err
	}
	h.sites.forget(id)
	h.log.Info("project setting removed", "project", id, "kind", kindOf(secret), "name", name)
	writeJSON(w, http.StatusOK, api.DeleteSettingResponse{Success: true, Name: name})
	return nil
}

// projectEnv is the environment server code of a deployment runs with: the
// project's variables and secrets, overridden by the deployment's own env.
func (h *Host) projectEnv(ctx context.Context, projectID string, own map[string]string) (map[string]string, error) {
	vars, err := h.store.ProjectVars(ctx, projectID)
	if err != nil {
		return nil, err
	}
	if len(vars) == 0 {
		return own, nil
	}
	env := make(map[string]string, len(vars)+len(own))
	for _, v := range vars {
		env[v.Name] = v.Value
	}
	for k, v := range own {
		env[k] = v
	}
	return env, nil
}

func kindOf(secret bool) string {
	if secret {
		return "secret"
	}
	return "variable"
}
