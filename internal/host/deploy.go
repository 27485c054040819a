package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/cfdeploy/cfdeploy/internal/host/jsrt"
	"github.com/cfdeploy/cfdeploy/internal/host/store"
	"github.com/cfdeploy/cfdeploy/internal/host/worker"
	"github.com/cfdeploy/cfdeploy/pkg/alias"
	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

func (h *Host) handleDeploy(w http.ResponseWriter, r *http.Request, id string) error {
	h.markDeploying()
	var req api.DeployRequest
	if err := decodeJSON(w, r, h.cfg.Limits.MaxBodyBytes, &req); err != nil {
		return err
	}
	res, err := h.deploy(r.Context(), id, req)
	if err != nil {
		return err
	}
	res.Deployment = h.toAPIDeployment(r, res.deployment)
	writeJSON(w, http.StatusOK, res.DeployResponse)
	return nil
}

// deploy is phase 3 of the upload protocol: it checks what req asks for,
// stores the server code, and writes the deployment and moves the
// project's live pointer to it in one transaction.
func (h *Host) deploy(ctx context.Context, id string, req api.DeployRequest) (_ deployed, err error) {
	var none deployed
	if req.CompletionJWT == "" {
		return none, api.Errorf(api.CodeInvalid, "completionJwt is required: finish the upload first")
	}
	if _, err := h.project(ctx, id); err != nil {
		return none, err
	}
	sid, err := h.tokens.verify(req.CompletionJWT, id, purposeComplete)
	if err != nil {
		return none, err
	}
	if _, err := h.liveSession(ctx, id, sid); err != nil {
		return none, err
	}
	// A deploy refused for what it asks (rules, server code, name) frees
	// its session: trying again means a new session, and the refused one
	// would otherwise count against --max-upload-sessions until it expired.
	// What it uploaded stays the project's, so the next session lacks
	// nothing.
	defer func() {
		if api.ErrorCode(err) == api.CodeInvalid {
			if derr := h.store.DropSession(context.WithoutCancel(ctx), sid); derr != nil {
				h.log.Warn("drop refused upload session", "session", sid, "err", derr)
			}
		}
	}()
	if req.ProjectName != nil {
		if err := validateName("project", *req.ProjectName); err != nil {
			return none, err
		}
	}
	d, warnings, err := newDeployment(id, req)
	if err != nil {
		return none, err
	}
	if d.Branch, d.BranchSlug, err = deployBranch(req.Branch); err != nil {
		return none, err
	}
	d.Preview = req.Production != nil && !*req.Production
	var modules []store.Module
	if req.ServerCode != nil {
		if modules, err = h.storeServerCode(ctx, id, req.ServerCode); err != nil {
			return none, err
		}
		d.Entrypoint = req.ServerCode.Entrypoint
		d.CompatibilityDate = req.ServerCode.CompatibilityDate
		d.CompatibilityFlags = req.ServerCode.CompatibilityFlags
	}
	// From here the work grows with the deployment's files: it runs in
	// the project's turn for deploy work (heavy.go). Compiling server code,
	// above, is not in it: the compile cache does it once per module, and a
	// pause three times as long as a compile would slow every deploy of new
	// code.
	t, err := h.heavyTurn(ctx, id)
	if err != nil {
		return none, err
	}
	// The turn ends once the deployment is written: waiting for the
	// replicas' switch below is no work, and charged to the project it
	// would make the site build that follows every deploy wait three times
	// the switch delay.
	endTurn := sync.OnceFunc(t.end)
	defer endTurn()
	assets, err := h.sessionAssets(ctx, t, sid)
	if err != nil {
		return none, err
	}
	res, err := h.store.Deploy(ctx, store.NewDeployment{
		Deployment: d, Assets: assets, Modules: modules, SessionID: sid, NewName: req.ProjectName,
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return none, api.Errorf(api.CodeConflict, "this completion token was already used; run a new upload session to deploy again")
	case errors.Is(err, store.ErrNotFound):
		if _, perr := h.project(ctx, id); perr != nil {
			return none, perr
		}
		return none, api.Errorf(api.CodeConflict, "%v", err)
	case err != nil:
		return none, err
	}
	endTurn()
	if !d.Preview {
		h.sites.forget(id)
		h.waitLive(ctx)
	} else {
		h.sites.forgetPreviews(id)
	}
	h.log.Info("deployed", "project", id, "deployment", d.ID, "preview", d.Preview, "branch", d.Branch,
		"assets", len(assets), "new", res.NewAssets, "modules", len(modules))
	msg := "Project deployed successfully"
	if d.Preview {
		msg = "Preview deployed; the live deployment is unchanged"
	}
	return deployed{deployment: res.Deployment, DeployResponse: api.DeployResponse{
		Success:                   true,
		Message:                   msg,
		Project:                   toAPIProject(res.Project),
		DeployedAssets:            len(assets),
		NewAssets:                 res.NewAssets,
		SkippedAssets:             len(assets) - res.NewAssets,
		DeployedServerCodeModules: len(modules),
		Warnings:                  warnings,
	}}, nil
}

// deployed is a deploy's answer before its deployment's URLs are known
// (they depend on the request).
type deployed struct {
	api.DeployResponse
	deployment store.Deployment
}

// maxBranchName bounds a deployment's branch name, in bytes.
const maxBranchName = 255

// deployBranch checks a deploy's branch name and returns it with its slug.
func deployBranch(name string) (string, string, error) {
	if name == "" {
		return "", "", nil
	}
	if len(name) > maxBranchName {
		return "", "", api.Errorf(api.CodeInvalid, "branch name is longer than %d bytes", maxBranchName)
	}
	if err := validateName("branch", name); err != nil {
		return "", "", err
	}
	slug := alias.BranchSlug(name)
	if slug == "" {
		return "", "", api.Errorf(api.CodeInvalid, "branch name %q has no letter or digit to make its alias from", name)
	}
	return name, slug, nil
}

// newDeployment checks the asset configuration, rules and env of req and
// returns the deployment row they make, with the rules' warnings.
func newDeployment(projectID string, req api.DeployRequest) (store.Deployment, []api.Warning, error) {
	d := store.Deployment{ID: uuid.NewString(), ProjectID: projectID, CreatedAt: time.Now(), RunWorkerFirst: "false"}
	var warnings []api.Warning
	cfg := rules.Config{}
	if req.Config != nil {
		cfg.HTMLHandling, cfg.NotFoundHandling = req.Config.HTMLHandling, req.Config.NotFoundHandling
		d.Redirects, d.Headers = req.Config.Redirects, req.Config.Headers
	}
	if err := cfg.Normalize(); err != nil {
		return d, nil, api.Errorf(api.CodeInvalid, "config: %v", err)
	}
	cfgJSON, _ := json.Marshal(cfg)
	d.Config = string(cfgJSON)
	if d.Redirects != "" {
		_, ws, err := rules.ParseRedirects(d.Redirects, cfg.HTMLHandling)
		if err != nil {
			return d, nil, api.Errorf(api.CodeInvalid, "_redirects: %v", err)
		}
		warnings = append(warnings, ws...)
	}
	if d.Headers != "" {
		_, ws, err := rules.ParseHeaders(d.Headers)
		if err != nil {
			return d, nil, api.Errorf(api.CodeInvalid, "_headers: %v", err)
		}
		warnings = append(warnings, ws...)
	}
	if len(req.RunWorkerFirst) > 0 && string(req.RunWorkerFirst) != "null" {
		if _, err := rules.ParseRunWorkerFirst(req.RunWorkerFirst); err != nil {
			return d, nil, api.Errorf(api.CodeInvalid, "run_worker_first: %v", err)
		}
		d.RunWorkerFirst = string(req.RunWorkerFirst)
	}
	validate := worker.ValidateEnv
	if isJSServerCode(req.ServerCode) {
		validate = jsrt.ValidateEnv
	}
	if err := validate(req.Env); err != nil {
		return d, nil, api.Errorf(api.CodeInvalid, "env: %v", err)
	}
	d.Env = req.Env
	return d, warnings, nil
}

// storeServerCode decodes the modules, compiles the entrypoint (so a bad
// module fails the deploy and no request ever waits for a compile) and
// stores them as the project's blobs.
func (h *Host) storeServerCode(ctx context.Context, projectID string, sc *api.ServerCode) ([]store.Module, error) {
	decoded, err := manifest.DecodeServerCode(sc)
	if err != nil {
		return nil, api.Errorf(api.CodeInvalid, "serverCode: %v", err)
	}
	blobs := make([]store.BlobInput, 0, len(decoded))
	modules := make([]store.Module, 0, len(decoded))
	for i, m := range decoded {
		sum := sha256.Sum256(m.Content)
		hash := hex.EncodeToString(sum[:])
		if i == 0 && m.Type == manifest.ModuleJS {
			if err := h.validateJS(ctx, m.Name, decoded); err != nil {
				return nil, err
			}
		} else if i == 0 {
			if err := h.prepareServerCode(ctx, hash, m.Content); err != nil {
				return nil, err
			}
		}
		blobs = append(blobs, store.BlobInput{Hash: hash, Data: m.Content})
		modules = append(modules, store.Module{Name: m.Name, Type: m.Type, Hash: hash})
	}
	if err := h.store.PutProjectBlobs(ctx, projectID, blobs); err != nil {
		return nil, err
	}
	return modules, nil
}

// sessionAssets lists the files of an upload session's manifest as the
// deployment's assets, yielding to t between chunks.
func (h *Host) sessionAssets(ctx context.Context, t *turn, sid string) ([]store.Asset, error) {
	manifestJSON, err := h.store.SessionManifest(ctx, sid)
	if err != nil {
		return nil, err
	}
	var m api.Manifest
	if err := json.Unmarshal(manifestJSON, &m); err != nil {
		return nil, fmt.Errorf("read session manifest: %w", err)
	}
	if err := t.yield(ctx); err != nil {
		return nil, err
	}
	assets := make([]store.Asset, 0, len(m))
	for p, e := range m {
		if len(assets)%yieldEvery == yieldEvery-1 {
			if err := t.yield(ctx); err != nil {
				return nil, err
			}
		}
		assets = append(assets, store.Asset{Path: p, Hash: e.Hash, Size: e.Size, ContentType: manifest.ContentType(p)})
	}
	return assets, t.yield(ctx)
}
