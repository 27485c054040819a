package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
	"github.com/cfdeploy/cfdeploy/internal/host/worker"
	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

func (h *Host) handleDeploy(w http.ResponseWriter, r *http.Request, id string) (err error) {
	h.markDeploying()
	var req api.DeployRequest
	if err := decodeJSON(w, r, h.cfg.Limits.MaxBodyBytes, &req); err != nil {
		return err
	}
	if req.CompletionJWT == "" {
		return api.Errorf(api.CodeInvalid, "completionJwt is required: finish the upload first")
	}
	if _, err := h.project(r, id); err != nil {
		return err
	}
	sid, err := h.tokens.verify(req.CompletionJWT, id, purposeComplete)
	if err != nil {
		return err
	}
	if _, err := h.liveSession(r, id, sid); err != nil {
		return err
	}
	// A deploy refused for what it asks (rules, server code, name) frees
	// its session: trying again means a new session, and the refused one
	// would otherwise count against --max-upload-sessions until it expired.
	// What it uploaded stays the project's, so the next session lacks
	// nothing.
	defer func() {
		if api.ErrorCode(err) == api.CodeInvalid {
			if derr := h.store.DropSession(context.WithoutCancel(r.Context()), sid); derr != nil {
				h.log.Warn("drop refused upload session", "session", sid, "err", derr)
			}
		}
	}()
	if req.ProjectName != nil {
		if err := validateName("project", *req.ProjectName); err != nil {
			return err
		}
	}

	now := time.Now()
	d := store.Deployment{ID: uuid.NewString(), ProjectID: id, CreatedAt: now, RunWorkerFirst: "false"}
	var warnings []api.Warning
	cfg := manifest.Config{}
	if req.Config != nil {
		cfg.HTMLHandling, cfg.NotFoundHandling = req.Config.HTMLHandling, req.Config.NotFoundHandling
		d.Redirects, d.Headers = req.Config.Redirects, req.Config.Headers
	}
	if err := cfg.Normalize(); err != nil {
		return api.Errorf(api.CodeInvalid, "config: %v", err)
	}
	cfgJSON, _ := json.Marshal(cfg)
	d.Config = string(cfgJSON)
	if d.Redirects != "" {
		_, ws, err := manifest.ParseRedirects(d.Redirects, cfg.HTMLHandling)
		if err != nil {
			return api.Errorf(api.CodeInvalid, "_redirects: %v", err)
		}
		warnings = append(warnings, ws...)
	}
	if d.Headers != "" {
		_, ws, err := manifest.ParseHeaders(d.Headers)
		if err != nil {
			return api.Errorf(api.CodeInvalid, "_headers: %v", err)
		}
		warnings = append(warnings, ws...)
	}
	if len(req.RunWorkerFirst) > 0 && string(req.RunWorkerFirst) != "null" {
		if _, err := manifest.ParseRunWorkerFirst(req.RunWorkerFirst); err != nil {
			return api.Errorf(api.CodeInvalid, "run_worker_first: %v", err)
		}
		d.RunWorkerFirst = string(req.RunWorkerFirst)
	}
	if err := worker.ValidateEnv(req.Env); err != nil {
		return api.Errorf(api.CodeInvalid, "env: %v", err)
	}
	d.Env = req.Env

	var modules []store.Module
	if req.ServerCode != nil {
		decoded, err := manifest.DecodeServerCode(req.ServerCode)
		if err != nil {
			return api.Errorf(api.CodeInvalid, "serverCode: %v", err)
		}
		blobs := make([]store.BlobInput, 0, len(decoded))
		for i, m := range decoded {
			sum := sha256.Sum256(m.Content)
			hash := hex.EncodeToString(sum[:])
			if i == 0 {
				// Compile now, so that a bad module fails the deploy and
				// no request ever waits for a compile.
				if err := h.prepareServerCode(r.Context(), hash, m.Content); err != nil {
					return err
				}
			}
			blobs = append(blobs, store.BlobInput{Hash: hash, Data: m.Content})
			modules = append(modules, store.Module{Name: m.Name, Type: m.Type, Hash: hash})
		}
		if err := h.store.PutProjectBlobs(r.Context(), id, blobs); err != nil {
			return err
		}
		d.Entrypoint = req.ServerCode.Entrypoint
		d.CompatibilityDate = req.ServerCode.CompatibilityDate
		d.CompatibilityFlags = req.ServerCode.CompatibilityFlags
	}

	manifestJSON, err := h.store.SessionManifest(r.Context(), sid)
	if err != nil {
		return err
	}
	var m api.Manifest
	if err := json.Unmarshal(manifestJSON, &m); err != nil {
		return fmt.Errorf("read session manifest: %w", err)
	}
	assets := make([]store.Asset, 0, len(m))
	for p, e := range m {
		assets = append(assets, store.Asset{Path: p, Hash: e.Hash, Size: e.Size, ContentType: manifest.ContentType(p)})
	}
	res, err := h.store.Deploy(r.Context(), store.NewDeployment{
		Deployment: d, Assets: assets, Modules: modules, SessionID: sid, NewName: req.ProjectName,
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return api.Errorf(api.CodeConflict, "this completion token was already used; run a new upload session to deploy again")
	case errors.Is(err, store.ErrNotFound):
		if _, perr := h.project(r, id); perr != nil {
			return perr
		}
		return api.Errorf(api.CodeConflict, "%v", err)
	case err != nil:
		return err
	}
	h.sites.forget(id)
	h.log.Info("deployed", "project", id, "deployment", d.ID, "assets", len(assets), "new", res.NewAssets, "modules", len(modules))
	writeJSON(w, http.StatusOK, api.DeployResponse{
		Success:                   true,
		Message:                   "Project deployed successfully",
		Project:                   toAPIProject(res.Project),
		Deployment:                toAPIDeployment(res.Deployment),
		DeployedAssets:            len(assets),
		NewAssets:                 res.NewAssets,
		SkippedAssets:             len(assets) - res.NewAssets,
		DeployedServerCodeModules: len(modules),
		Warnings:                  warnings,
	})
	return nil
}
