// Package store keeps everything cfhost knows — projects, content-addressed
// blobs, deployments and upload sessions — behind the Store interface, with
// an embedded SQLite implementation.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Domain errors. Implementations translate driver errors into these at the
// storage boundary so that callers never inspect driver codes.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	// ErrFull means a write failed because the disk (or the database's
	// size limit) is full: nothing was written, and the same write can
	// succeed once space is freed.
	ErrFull = errors.New("storage full")
	// ErrLimit means a write would pass a bound the caller set.
	ErrLimit = errors.New("limit reached")
)

// Project is a stored project with the figures of its active deployment.
type Project struct {
	ID                 string
	Name               string
	Slug               string // "" when the project has none
	CreatedAt          time.Time
	UpdatedAt          time.Time
	ActiveDeploymentID string // "" when nothing is deployed
	AssetsCount        int
	HasServerCode      bool
}

// Deployment is one immutable version of a project.
type Deployment struct {
	ID                 string
	ProjectID          string
	CreatedAt          time.Time
	Config             string // JSON of rules.Config
	Redirects          string
	Headers            string
	RunWorkerFirst     string // JSON: true, false or a list of patterns
	Env                map[string]string
	Entrypoint         string // server-code entrypoint module; "" means no server code
	CompatibilityDate  string
	CompatibilityFlags []string
	AssetsCount        int
	Active             bool
	// Branch is the branch the deployment was made from, as given ("" for
	// none); BranchSlug is its DNS-label form, which its alias uses.
	Branch     string
	BranchSlug string
	// Preview is set for a deployment that, when deployed, left the live
	// deployment as it was (the zero value is a production deploy).
	Preview bool
}

// HasServerCode reports whether the deployment runs server code.
func (d *Deployment) HasServerCode() bool { return d.Entrypoint != "" }

// Asset is one file of a deployment.
type Asset struct {
	Path        string
	Hash        string
	Size        int64
	ContentType string
}

// Module is one server-code module of a deployment.
type Module struct {
	Name string
	Type string
	Hash string
}

// Snapshot is everything needed to serve a deployment.
type Snapshot struct {
	Deployment Deployment
	Assets     []Asset
	Modules    []Module
	// Until, when set, is when this deployment stops being the live one:
	// a newer one has been made live and takes over then (a shared
	// database switches every replica at the same moment).
	Until time.Time
}

// Session is the server-side state of an upload session.
type Session struct {
	ID            string
	ProjectID     string
	Manifest      []byte // JSON api.Manifest, as validated; only CreateSession and SessionManifest carry it
	CreatedAt     time.Time
	ExpiresAt     time.Time
	CompletionJWT string
	Used          bool
	// Quota bounds what the project may have open and stored; only
	// CreateSession reads it.
	Quota Quota
}

// Quota is what CreateSession enforces for a session's project, in the
// transaction that creates it. Zero fields mean no limit.
type Quota struct {
	// OpenSessions is how many sessions the project may have that are
	// neither deployed nor expired, this one included.
	OpenSessions int
	// StaleAfter lets a project at OpenSessions make room: its oldest
	// sessions opened longer ago than this (interrupted or abandoned
	// deploys, as a rule) are deleted to let the new one in. Zero never
	// deletes one.
	StaleAfter time.Duration
	// StoredBytes bounds the sizes of the blobs the project holds plus
	// those its open sessions (this one included) still have to upload.
	StoredBytes int64
}

// QuotaError is CreateSession's refusal of a session over its project's
// Quota. Exactly one of the two cases is set.
type QuotaError struct {
	// OpenSessions is the project's count of open sessions when over
	// Quota.OpenSessions, with the expiry of the oldest.
	OpenSessions  int
	OldestExpires time.Time
	// StoredBytes is what the project would hold with the new session when
	// over Quota.StoredBytes.
	StoredBytes int64
	Quota       Quota
}

func (e *QuotaError) Error() string {
	if e.OpenSessions > 0 {
		return fmt.Sprintf("project has %d open upload sessions, the most allowed", e.OpenSessions)
	}
	return fmt.Sprintf("project would hold %d bytes, over its quota of %d", e.StoredBytes, e.Quota.StoredBytes)
}

// SessionHash is one hash a session asked the client to upload.
type SessionHash struct {
	Hash         string
	Size         int64
	Compressible bool
}

// BlobInput is verified content to store.
type BlobInput struct {
	Hash         string
	Data         []byte
	Compressible bool
}

// UploadResult tells how far a session's upload has come after a bucket.
type UploadResult struct {
	Remaining int // hashes of the session still missing
}

// NewDeployment is what a deploy writes. Modules' blobs must be stored
// before (PutProjectBlobs); assets' blobs by the session's uploads.
type NewDeployment struct {
	// Deployment holds ID, ProjectID, CreatedAt, the texts, the branch and
	// Preview; Active is ignored. A preview does not move the project's
	// live pointer.
	Deployment Deployment
	Assets     []Asset
	Modules    []Module
	SessionID  string  // marked used in the same transaction; its completion token dies
	NewName    *string // renames the project when set
}

// DeployResult reports what a deploy wrote.
type DeployResult struct {
	Project    Project
	Deployment Deployment
	NewAssets  int // asset paths whose content this deploy's session uploaded
}

// Variant is a precompressed form of a blob.
type Variant struct {
	Encoding string // "gzip" or "br"
	Data     []byte
}

// Store is the persistence interface of cfhost.
type Store interface {
	// Setting returns the value of key, or ErrNotFound.
	Setting(ctx context.Context, key string) (string, error)
	// InitSetting stores value under key unless a value exists, and returns
	// the value in force: the first writer wins, even across processes.
	InitSetting(ctx context.Context, key, value string) (string, error)

	CreateProject(ctx context.Context, p Project) (Project, error)
	Project(ctx context.Context, id string) (Project, error)
	// Projects lists projects in creation order, after the cursor position
	// (0 for the first page), and returns the cursor of the last one listed.
	Projects(ctx context.Context, after int64, limit int) ([]Project, int64, error)
	DeleteProject(ctx context.Context, id string) error
	// RenameProject sets the project's name and slug where given (an empty
	// slug removes it); ErrConflict when another project holds the slug.
	RenameProject(ctx context.Context, id string, name, slug *string) (Project, error)
	// ProjectBySlug returns the id of the project holding slug, or ErrNotFound.
	ProjectBySlug(ctx context.Context, slug string) (string, error)

	// ProjectVars lists a project's variables and secrets by name (none
	// for an unknown project).
	ProjectVars(ctx context.Context, projectID string) ([]Var, error)
	// PutProjectVar creates or replaces a variable or secret. It fails with
	// ErrConflict when the name is taken by the other kind, ErrLimit when a
	// new name would make more than maxVars, and ErrNotFound when the
	// project is gone.
	PutProjectVar(ctx context.Context, projectID string, v Var, maxVars int) (Var, error)
	// DeleteProjectVar removes a variable (or a secret), or returns
	// ErrNotFound when the project has no such one.
	DeleteProjectVar(ctx context.Context, projectID, name string, secret bool) error

	// CreateProjectToken stores a token's hash for a project; ErrNotFound
	// when the project is gone.
	CreateProjectToken(ctx context.Context, t ProjectToken) error
	// ProjectTokens lists a project's tokens, oldest first.
	ProjectTokens(ctx context.Context, projectID string) ([]ProjectToken, error)
	// ProjectTokenByHash finds the token whose hash is given, or ErrNotFound.
	ProjectTokenByHash(ctx context.Context, hash string) (ProjectToken, error)
	// DeleteProjectToken revokes a token of the project, or ErrNotFound.
	DeleteProjectToken(ctx context.Context, projectID, tokenID string) error
	// TouchProjectToken records when a token was last used.
	TouchProjectToken(ctx context.Context, tokenID string, at time.Time) error

	// Domains lists the custom domains of a project by hostname, or every
	// project's when projectID is "".
	Domains(ctx context.Context, projectID string) ([]Domain, error)
	// AddDomain routes a hostname to a project. It fails with a
	// *DomainTakenError (ErrConflict) when another project holds the name,
	// ErrLimit when the project has maxDomains already, and ErrNotFound
	// when the project is gone; adding a name the project holds is a no-op.
	AddDomain(ctx context.Context, d Domain, maxDomains int) (Domain, error)
	// DeleteDomain removes a project's domain, or returns ErrNotFound.
	DeleteDomain(ctx context.Context, projectID, hostname string) error

	// MissingHashes returns those of hashes that the project has not uploaded.
	MissingHashes(ctx context.Context, projectID string, hashes []string) (map[string]bool, error)
	CreateSession(ctx context.Context, s Session, missing []SessionHash) error
	// Session returns a session's state without its manifest.
	Session(ctx context.Context, id string) (Session, error)
	// DropSession deletes a session not yet deployed; it is a no-op for a
	// deployed or unknown one.
	DropSession(ctx context.Context, id string) error
	// SessionManifest returns the manifest a session was created with.
	SessionManifest(ctx context.Context, id string) ([]byte, error)
	// SessionHashes returns those of hashes that the session asked for,
	// keyed by hash. It reads only the rows asked about, so a bucket costs
	// the same however large the deployment.
	SessionHashes(ctx context.Context, sessionID string, hashes []string) (map[string]SessionHash, error)
	// PutBlobs stores verified blobs and records them for the session's
	// project, which counts them as arrived. It is idempotent.
	PutBlobs(ctx context.Context, sessionID string, blobs []BlobInput) (UploadResult, error)
	// SetCompletionJWT records the completion token once; later calls
	// return the token already recorded.
	SetCompletionJWT(ctx context.Context, sessionID, token string) (string, error)
	// PutProjectBlobs stores blobs that do not go through a session (server
	// code modules) and records them for the project.
	PutProjectBlobs(ctx context.Context, projectID string, blobs []BlobInput) error

	// Deploy writes a deployment and, for a production one, makes it
	// active, in one transaction.
	// It fails with ErrConflict when the session was already used and
	// ErrNotFound when the project or a blob is gone.
	Deploy(ctx context.Context, d NewDeployment) (DeployResult, error)
	Deployments(ctx context.Context, projectID string) ([]Deployment, error)
	// Deployment returns one deployment of a project (ErrNotFound when the
	// project has none with that id).
	Deployment(ctx context.Context, projectID, deploymentID string) (Deployment, error)
	// DeploymentAssets lists one deployment's assets by path, or returns
	// ErrNotFound when the project has no such deployment.
	DeploymentAssets(ctx context.Context, projectID, deploymentID string) ([]Asset, error)
	// Activate makes an existing deployment of the project active (rollback).
	Activate(ctx context.Context, projectID, deploymentID string) (Project, Deployment, error)
	// ActiveSnapshot returns the project's active deployment with its assets
	// and modules, or ErrNotFound when nothing is deployed.
	ActiveSnapshot(ctx context.Context, projectID string) (Snapshot, error)
	// PreviewSnapshot returns the deployment of the project whose id starts
	// with short, when short is given, else the newest deployment whose
	// branch slug is branch; ErrNotFound when there is none.
	PreviewSnapshot(ctx context.Context, projectID, short, branch string) (Snapshot, error)

	// OpenBlob returns a reader over a blob's bytes in an encoding ("" for
	// the identity form); a missing blob or variant is ErrNotFound.
	OpenBlob(ctx context.Context, hash, encoding string) (io.ReaderAt, int64, error)
	// BlobsToCompress lists compressible blobs not yet compressed.
	BlobsToCompress(ctx context.Context, limit int) ([]string, error)
	// PutVariants records the variants of a blob (possibly none) and marks it compressed.
	PutVariants(ctx context.Context, hash string, variants []Variant) error

	// ModuleHashes returns the hashes of the server-code modules that some
	// deployment lists.
	ModuleHashes(ctx context.Context) (map[string]bool, error)

	// CollectGarbage deletes expired sessions and blobs that no deployment
	// references and that were created before cutoff.
	CollectGarbage(ctx context.Context, cutoff time.Time) (GCResult, error)

	Close() error
}

// GCResult counts what CollectGarbage removed.
type GCResult struct {
	Sessions int
	Blobs    int
	Bytes    int64
}
