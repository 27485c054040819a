// Package api holds the wire types of the cfhost management API, shared by the
// host and the client so that both sides agree on every field name. It has no
// logic beyond small helpers on the types.
package api

import (
	"encoding/json"
	"time"
)

// Project is a hosted site as the management API reports it.
type Project struct {
	ID                 string    `json:"id"`
	Name               string    `json:"name"`
	Slug               string    `json:"slug,omitempty"` // usable in place of ID in hostnames
	CreatedAt          time.Time `json:"createdAt"`
	UpdatedAt          time.Time `json:"updatedAt"`
	HasServerCode      bool      `json:"hasServerCode"`
	AssetsCount        int       `json:"assetsCount"`
	ActiveDeploymentID *string   `json:"activeDeploymentId"`
}

// Deployment is one immutable version of a project's content.
type Deployment struct {
	ID            string    `json:"id"`
	ProjectID     string    `json:"projectId"`
	CreatedAt     time.Time `json:"createdAt"`
	AssetsCount   int       `json:"assetsCount"`
	HasServerCode bool      `json:"hasServerCode"`
	Active        bool      `json:"active"`
	// ShortID addresses this deployment in its preview hostname.
	ShortID string `json:"shortId"`
	// Branch is the branch it was deployed from, "" for none.
	Branch string `json:"branch"`
	// Production is false for a preview deployment, which did not go live
	// when deployed (promote can make it live later).
	Production bool `json:"production"`
	// Live is true for the deployment the project serves (same as Active).
	Live bool `json:"live"`
	// URL serves this deployment whatever is live; BranchURL (with a
	// branch) serves the branch's newest deployment.
	URL       string `json:"url"`
	BranchURL string `json:"branchUrl,omitempty"`
}

// ManifestEntry describes one file of a deployment: its SHA-256 (64 lowercase
// hex characters) and its size in bytes.
type ManifestEntry struct {
	Hash string `json:"hash"`
	Size int64  `json:"size"`
}

// Manifest maps asset paths ("/index.html") to their entries.
type Manifest map[string]ManifestEntry

// UploadSessionRequest is the body of POST /__api/projects/:id/assets-upload-session.
type UploadSessionRequest struct {
	Manifest Manifest `json:"manifest"`
}

// UploadSessionResult tells the client which hashes to upload, grouped in
// buckets, and the token to upload them with. With no buckets the token is
// already the completion token.
type UploadSessionResult struct {
	JWT     string     `json:"jwt"`
	Buckets [][]string `json:"buckets"`
	// BinaryUploads says the host takes buckets as multipart/form-data
	// with the files' own bytes (?base64=false), a third smaller than
	// base64 and free of encoding on both ends. Hosts from before it leave
	// it out, and get base64.
	BinaryUploads bool `json:"binaryUploads,omitempty"`
}

// UploadResult answers one bucket upload; JWT is the completion token once
// every bucketed hash has arrived, nil before.
type UploadResult struct {
	JWT *string `json:"jwt"`
}

// AssetConfig is the asset-serving configuration of a deployment.
type AssetConfig struct {
	HTMLHandling     string `json:"html_handling,omitempty"`
	NotFoundHandling string `json:"not_found_handling,omitempty"`
	Redirects        string `json:"redirects,omitempty"`
	Headers          string `json:"headers,omitempty"`
}

// Module is one server-code module. On the wire it is either a base64 string
// or an object with content and type; see UnmarshalJSON.
type Module struct {
	Content string `json:"content"` // base64
	Type    string `json:"type,omitempty"`
}

// UnmarshalJSON accepts both the bare base64 string form and the object form.
func (m *Module) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*m = Module{Content: s}
		return nil
	}
	type plain Module
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*m = Module(p)
	return nil
}

// ServerCode is the server-side code of a deployment: WebAssembly entrypoint
// plus optional data modules.
type ServerCode struct {
	Entrypoint         string            `json:"entrypoint"`
	Modules            map[string]Module `json:"modules"`
	CompatibilityDate  string            `json:"compatibilityDate,omitempty"`
	CompatibilityFlags []string          `json:"compatibilityFlags,omitempty"`
}

// DeployRequest is the body of POST /__api/projects/:id/deploy.
// RunWorkerFirst is raw JSON because it is either a boolean or a list of
// patterns; rules.ParseRunWorkerFirst reads it.
type DeployRequest struct {
	CompletionJWT  string            `json:"completionJwt"`
	ProjectName    *string           `json:"projectName,omitempty"`
	ServerCode     *ServerCode       `json:"serverCode,omitempty"`
	Config         *AssetConfig      `json:"config,omitempty"`
	RunWorkerFirst json.RawMessage   `json:"run_worker_first,omitempty"`
	Env            map[string]string `json:"env,omitempty"`
	// Production false stores and serves the deployment as a preview
	// without making it live; absent means true.
	Production *bool `json:"production,omitempty"`
	// Branch names the branch the deployment comes from; its newest
	// deployment answers at the branch's alias.
	Branch string `json:"branch,omitempty"`
}

// Warning reports a skipped line of a _redirects or _headers text.
type Warning struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// DeployResponse answers a successful deploy.
type DeployResponse struct {
	Success                   bool       `json:"success"`
	Message                   string     `json:"message"`
	Project                   Project    `json:"project"`
	Deployment                Deployment `json:"deployment"`
	DeployedAssets            int        `json:"deployedAssets"`
	NewAssets                 int        `json:"newAssets"`
	SkippedAssets             int        `json:"skippedAssets"`
	DeployedServerCodeModules int        `json:"deployedServerCodeModules"`
	Warnings                  []Warning  `json:"warnings,omitempty"`
}

// CreateProjectRequest is the body of POST /__api/projects.
type CreateProjectRequest struct {
	Name string `json:"name,omitempty"`
	Slug string `json:"slug,omitempty"`
}

// UpdateProjectRequest is the body of PATCH /__api/projects/:id: the fields
// given change, an empty slug removes it.
type UpdateProjectRequest struct {
	Name *string `json:"name,omitempty"`
	Slug *string `json:"slug,omitempty"`
}

// PromoteRequest is the body of POST /__api/projects/:id/promote.
type PromoteRequest struct {
	DeploymentID string `json:"deploymentId"`
}

// RollbackRequest is the body of POST /__api/projects/:id/rollback.
type RollbackRequest struct {
	DeploymentID string `json:"deploymentId"`
}

// ProjectResponse wraps a single project.
type ProjectResponse struct {
	Success bool    `json:"success"`
	Project Project `json:"project"`
}

// ProjectListResponse is one page of projects; Cursor is nil on the last page.
type ProjectListResponse struct {
	Success  bool      `json:"success"`
	Projects []Project `json:"projects"`
	Cursor   *string   `json:"cursor"`
}

// DeleteProjectResponse answers DELETE /__api/projects/:id.
type DeleteProjectResponse struct {
	Success   bool   `json:"success"`
	Message   string `json:"message"`
	ProjectID string `json:"projectId"`
}

// UploadSessionResponse wraps UploadSessionResult.
type UploadSessionResponse struct {
	Success bool                `json:"success"`
	Result  UploadSessionResult `json:"result"`
}

// UploadResponse wraps UploadResult.
type UploadResponse struct {
	Success bool         `json:"success"`
	Result  UploadResult `json:"result"`
}

// DeploymentFilesResponse answers GET
// /__api/projects/:id/deployments/:did/files: the deployment's assets by
// path, as a deploy's manifest lists them.
type DeploymentFilesResponse struct {
	Success bool     `json:"success"`
	Files   Manifest `json:"files"`
}

// DeploymentListResponse lists a project's deployments, newest first.
type DeploymentListResponse struct {
	Success     bool         `json:"success"`
	Deployments []Deployment `json:"deployments"`
}

// RollbackResponse answers a rollback.
type RollbackResponse struct {
	Success    bool       `json:"success"`
	Project    Project    `json:"project"`
	Deployment Deployment `json:"deployment"`
}

// HealthResponse answers GET /__api/health.
type HealthResponse struct {
	Success bool `json:"success"`
	Result  struct {
		// Status is "ok", or "unavailable" (with HTTP 503) when the
		// host's shared database does not answer.
		Status   string          `json:"status"`
		Database *DatabaseHealth `json:"database,omitempty"`
	} `json:"result"`
}

// DatabaseHealth describes the store a host runs on.
type DatabaseHealth struct {
	// Kind is "sqlite" (the data directory's database) or "postgres" (a
	// database replicas share).
	Kind string `json:"kind"`
	// Status is "ok" or "unreachable".
	Status string `json:"status"`
	// SchemaVersion is the shared database's schema version (0 for sqlite).
	SchemaVersion int `json:"schemaVersion,omitempty"`
}

// EnvVar is one of a project's environment variables, kept across
// deployments and given to its server code.
type EnvVar struct {
	Name      string    `json:"name"`
	Value     string    `json:"value"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Secret is one of a project's secrets: like an environment variable, but
// its value is write-only and never leaves the host again.
type Secret struct {
	Name      string    `json:"name"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// SetValueRequest is the body of PUT /__api/projects/:id/env/:name and
// …/secrets/:name.
type SetValueRequest struct {
	Value *string `json:"value"`
}

// EnvListResponse answers GET /__api/projects/:id/env.
type EnvListResponse struct {
	Success bool     `json:"success"`
	Env     []EnvVar `json:"env"`
}

// EnvVarResponse answers PUT /__api/projects/:id/env/:name.
type EnvVarResponse struct {
	Success  bool   `json:"success"`
	Variable EnvVar `json:"variable"`
}

// SecretListResponse answers GET /__api/projects/:id/secrets.
type SecretListResponse struct {
	Success bool     `json:"success"`
	Secrets []Secret `json:"secrets"`
}

// SecretResponse answers PUT /__api/projects/:id/secrets/:name.
type SecretResponse struct {
	Success bool   `json:"success"`
	Secret  Secret `json:"secret"`
}

// DeleteSettingResponse answers DELETE of a variable or a secret.
type DeleteSettingResponse struct {
	Success bool   `json:"success"`
	Name    string `json:"name"`
}

// ProjectTokenPrefix starts every project token, so that people and secret
// scanners can tell one from other credentials.
const ProjectTokenPrefix = "cfp_"

// Token is a project token's metadata; the token itself is never listed.
type Token struct {
	ID         string     `json:"id"`
	ProjectID  string     `json:"projectId"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
}

// CreateTokenRequest is the body of POST /__api/projects/:id/tokens.
type CreateTokenRequest struct {
	Name string `json:"name,omitempty"`
}

// CreateTokenResponse answers a token creation. Value is the token itself,
// shown this once: the host keeps only its hash.
type CreateTokenResponse struct {
	Success bool   `json:"success"`
	Token   Token  `json:"token"`
	Value   string `json:"value"`
}

// TokenListResponse lists a project's tokens, oldest first.
type TokenListResponse struct {
	Success bool    `json:"success"`
	Tokens  []Token `json:"tokens"`
}

// RevokeTokenResponse answers DELETE /__api/projects/:id/tokens/:tokenId.
type RevokeTokenResponse struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	TokenID string `json:"tokenId"`
}

// Domain is a custom domain of a project: a hostname, or a "*.example.com"
// wildcard for the names one label below it, that serves the project's live
// deployment.
type Domain struct {
	Hostname  string    `json:"hostname"`
	ProjectID string    `json:"projectId"`
	CreatedAt time.Time `json:"createdAt"`
}

// AddDomainRequest is the body of POST /__api/projects/:id/domains.
type AddDomainRequest struct {
	Hostname string `json:"hostname"`
}

// DomainResponse answers POST /__api/projects/:id/domains.
type DomainResponse struct {
	Success bool   `json:"success"`
	Domain  Domain `json:"domain"`
}

// DomainListResponse answers GET /__api/projects/:id/domains.
type DomainListResponse struct {
	Success bool     `json:"success"`
	Domains []Domain `json:"domains"`
}

// DeleteDomainResponse answers DELETE /__api/projects/:id/domains/:hostname.
type DeleteDomainResponse struct {
	Success  bool   `json:"success"`
	Hostname string `json:"hostname"`
}

// DeploymentDetail is one deployment with what it was deployed with: its
// asset settings, the texts of its _redirects and _headers, and its server
// code's entrypoint. Secrets and env values are not part of it.
type DeploymentDetail struct {
	Deployment
	Config             AssetConfig `json:"config"`
	Entrypoint         string      `json:"entrypoint,omitempty"`
	CompatibilityDate  string      `json:"compatibilityDate,omitempty"`
	CompatibilityFlags []string    `json:"compatibilityFlags,omitempty"`
}

// DeploymentResponse answers GET /__api/projects/:id/deployments/:did.
type DeploymentResponse struct {
	Success    bool             `json:"success"`
	Deployment DeploymentDetail `json:"deployment"`
}

// LogEntry is one line of a project's server-code log, as
// GET /__api/projects/:id/logs streams it (one JSON object per line).
type LogEntry struct {
	// Seq increases with every line the host keeps, across projects.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Deployment is the deployment whose code logged the line.
	Deployment string `json:"deploymentId,omitempty"`
	// Source is "console" (a JS console call), "exception" (an uncaught
	// JS error, with its stack), "stderr" (a WASI guest's standard error),
	// "failure" (why the host answered 5xx for the code) or "cfhost" (a
	// note from the host, such as lines dropped for a slow reader).
	Source string `json:"source"`
	// Level is "log", "info", "debug", "warn" or "error".
	Level   string `json:"level"`
	Message string `json:"message"`
	// Method and Path are the request's; Status the failure's answer.
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
	Status int    `json:"status,omitempty"`
}

// Sources of a LogEntry.
const (
	LogConsole   = "console"
	LogException = "exception"
	LogStderr    = "stderr"
	LogFailure   = "failure"
	LogHost      = "cfhost"
)
