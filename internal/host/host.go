// Package host is the cfhost server: it routes each request to the
// management API or to a project, and serves projects' assets and server
// code from the store.
package host

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/dashboard"
	"github.com/cfdeploy/cfdeploy/internal/host/accesslog"
	"github.com/cfdeploy/cfdeploy/internal/host/assets"
	"github.com/cfdeploy/cfdeploy/internal/host/jsrt"
	"github.com/cfdeploy/cfdeploy/internal/host/projectlog"
	"github.com/cfdeploy/cfdeploy/internal/host/store"
	"github.com/cfdeploy/cfdeploy/internal/host/worker"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// Config configures a Host. Zero values mean the documented defaults.
type Config struct {
	// DataDir holds cfhost.db, the generated API token and caches. With
	// Database set it is only a scratch directory: caches and a copy of
	// the API token.
	DataDir string
	// Database, when set, is the address (postgres://...) of a PostgreSQL
	// database that holds everything instead of DataDir/cfhost.db; several
	// hosts may share it and serve the same projects (replicas).
	Database string
	// DatabasePoll is how often a host on a shared Database re-reads the
	// change log, in case a change notification was lost; default 5s.
	DatabasePoll time.Duration
	// SwitchDelay is how long after its commit a production deploy,
	// rollback or promote on a shared Database goes live on every replica
	// at once (the API answers then); default 1s. It must exceed the
	// time the write takes to commit and its notification to reach every
	// replica.
	SwitchDelay time.Duration
	// APIToken authorises the management API. Empty means: read
	// DataDir/api-token, creating it with a random token when missing.
	APIToken string
	// JWTSecret signs upload tokens. Empty means: a secret generated once
	// and kept in the database.
	JWTSecret string
	// BaseDomain serves project <id> at <id>.<BaseDomain>; default "localhost".
	BaseDomain string
	// DisablePathRouting stops serving projects under /__project/<id>/
	// (such requests get a 404 saying so). Path mode puts every project on
	// the host's one browser origin, where their cookies, storage and
	// service workers can reach each other; hosts whose tenants do not
	// trust each other serve projects by subdomain only.
	DisablePathRouting bool
	// DefaultProject, when set, serves requests that name no project (a
	// bare IP or localhost): what `cfdeploy dev` wants for its one site.
	DefaultProject string
	// TrustProxy lists the networks whose X-Forwarded-Proto is believed.
	TrustProxy []netip.Prefix
	// Limits bound uploads; default manifest.DefaultLimits.
	Limits manifest.Limits
	// GCGrace is how long unreferenced blobs are kept; default 24h.
	GCGrace time.Duration
	// GCInterval is how often garbage is collected; default 1h.
	GCInterval time.Duration
	// TokenTTL is the lifetime of upload and completion tokens; default 1h.
	TokenTTL time.Duration
	// Now is the host's clock for token and session expiry, the
	// authentication limiter and garbage collection's grace period;
	// default time.Now. Tests move it instead of sleeping.
	Now func() time.Time
	// BodyIdleTimeout cuts a request whose body sends nothing for this
	// long; default 30s. (A slow but moving upload is never cut.)
	BodyIdleTimeout time.Duration
	// MaxProjectVars bounds a project's variables and secrets together;
	// default DefaultMaxProjectVars.
	MaxProjectVars int
	// MaxVarValueBytes bounds the value of one variable or secret; default
	// DefaultMaxVarValueBytes.
	MaxVarValueBytes int
	// MaxProjectDomains bounds the custom domains of one project; default
	// DefaultMaxProjectDomains.
	MaxProjectDomains int
	// HTTPSPort, when set, redirects plain-HTTP requests for custom domains
	// to HTTPS on this port ("443" leaves it out of the URL): the host
	// serves them with certificates it obtains itself.
	HTTPSPort string
	// MaxUploadSessions is how many upload sessions one project may have
	// open (neither deployed nor expired); the next is refused with 409.
	// Default 8.
	MaxUploadSessions int
	// UploadSessionStale is the age past which an open session gives its
	// place to a new one when the project is at MaxUploadSessions (so
	// interrupted deploys never lock a project out); default 10m.
	UploadSessionStale time.Duration
	// MaxProjectBytes bounds the bytes of the blobs a project holds plus
	// those its open sessions still have to upload; a session that would
	// pass it is refused with 413. Default 10 GiB.
	MaxProjectBytes int64
	// UploadBytesInFlight bounds the bytes of one project's bucket bodies
	// being read and decoded at once (more wait); default 64 MiB, one
	// body of the largest size: two at once take both cores of a small
	// machine from every other project.
	UploadBytesInFlight int64
	// UploadBytesInFlightTotal is the same bound for the whole host;
	// default 512 MiB.
	UploadBytesInFlightTotal int64
	// AuthFailLimit is how many failed API authentications one client
	// (an IPv4 address, an IPv6 /64) may make within AuthFailWindow before
	// its API requests are answered 429 until the window ends; default 20.
	AuthFailLimit int
	// AuthFailWindow is the window of AuthFailLimit; default 1m.
	AuthFailWindow time.Duration
	// AuthFailClients caps the clients whose failures are remembered, so
	// the limiter's memory is bounded; default 10000.
	AuthFailClients int
	// CacheBytes is the memory budget of cached asset bytes; default 256 MiB.
	CacheBytes int64
	// CacheFilesInMemory keeps cached bodies of assets.FileBody bytes and
	// more in memory-only files (memfd) instead of unnamed files in
	// DataDir, which the kernel sends more cheaply (assets.KeepFilesIn)
	// but writes back to disk.
	CacheFilesInMemory bool
	// MaxCachedMisses bounds how many unknown project names (ids and
	// slugs that named no project) are remembered, so that a request
	// repeating one asks the database nothing; default 4096.
	MaxCachedMisses int
	// MaxRequestTarget is the longest request target (path and query, as
	// sent) of a project request, in bytes; longer ones get 414 before any
	// project work. Default 16 KiB, Cloudflare's URL limit.
	MaxRequestTarget int
	// DeployBudget is how many files one project's deploys (the
	// manifests of its upload sessions), rollbacks and promotions (the
	// deployments they make live) may count within DeployWindow, each at
	// least 100; past it they are answered 429 until the window ends.
	// Default 200,000.
	DeployBudget int
	// DeployWindow is the window of DeployBudget; default 1m.
	DeployWindow time.Duration
	// LongRequestPath is the path length, in bytes, from which a static
	// request counts as long: its project's long requests run one at a
	// time, paced to LongRequestShare (see pacer). Default 1 KiB.
	LongRequestPath int
	// LongRequestShare is the percentage of one core a project's long
	// requests may take (1 to 100); default 25.
	LongRequestShare int
	// DeployShare is the percentage of one core a project's deploy work
	// (reading its manifests, writing its deployments, building its
	// site) may take once past DeployBurst (1 to 100); default 25.
	DeployShare int
	// DeployBurst is how much deploy work a project that was quiet runs
	// before it is paced to DeployShare; default 500ms.
	DeployBurst time.Duration
	// RuleLimits bound what _redirects and _headers rules add to one
	// response; zero fields take assets' defaults.
	RuleLimits assets.Limits
	// AccessLog logs every project request, not only API calls.
	AccessLog bool
	// AccessLogWriter receives those lines; nil means a logfmt log on
	// stderr that the host closes with itself.
	AccessLogWriter *accesslog.Writer
	// Worker tunes the server-code runtime; its CacheDir defaults to
	// DataDir/wasm-cache.
	Worker worker.Config
	// DisableDashboard turns the web dashboard at /__dashboard/ off.
	DisableDashboard bool
	// DashboardSessionTTL is how long a dashboard sign-in lasts; default
	// 12h.
	DashboardSessionTTL time.Duration
	// JSLimits bounds what one request's JS server code may do: its
	// subrequests, console lines, response head and error text (zero
	// fields: jsrt's defaults).
	JSLimits jsrt.Limits
	// WorkerOutbound is where fetch() from JS server code may connect:
	// jsrt.OutboundPublic (the default), OutboundNone or OutboundAll.
	WorkerOutbound string
	// WorkerOutboundAllow lists HOST:PORT pairs fetch() may reach whatever
	// WorkerOutbound says.
	WorkerOutboundAllow []string
	// Logs bounds the server-code log kept for GET
	// /__api/projects/:id/logs: bytes per project, bytes in all, readers
	// following one project. Zero fields take projectlog's defaults.
	Logs projectlog.Config
	// Version is reported to server code as SERVER_SOFTWARE.
	Version string
	Logger  *slog.Logger
}

// DefaultMaxRequestTarget is Config.MaxRequestTarget's default.
const DefaultMaxRequestTarget = 16 << 10

func (c *Config) setDefaults() {
	if c.BaseDomain == "" {
		c.BaseDomain = "localhost"
	}
	c.BaseDomain = strings.ToLower(strings.Trim(c.BaseDomain, "."))
	if c.Limits.MaxFileSize <= 0 {
		c.Limits.MaxFileSize = manifest.DefaultLimits.MaxFileSize
	}
	if c.Limits.MaxFiles <= 0 {
		c.Limits.MaxFiles = manifest.DefaultLimits.MaxFiles
	}
	if c.Limits.MaxBodyBytes <= 0 {
		c.Limits.MaxBodyBytes = manifest.DefaultLimits.MaxBodyBytes
	}
	if c.GCGrace == 0 {
		c.GCGrace = 24 * time.Hour
	}
	if c.GCInterval == 0 {
		c.GCInterval = time.Hour
	}
	if c.DatabasePoll <= 0 {
		c.DatabasePoll = 5 * time.Second
	}
	if c.SwitchDelay <= 0 {
		c.SwitchDelay = time.Second
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.BodyIdleTimeout <= 0 {
		c.BodyIdleTimeout = defaultBodyIdleTimeout
	}
	if c.MaxProjectVars <= 0 {
		c.MaxProjectVars = DefaultMaxProjectVars
	}
	if c.MaxVarValueBytes <= 0 {
		c.MaxVarValueBytes = DefaultMaxVarValueBytes
	}
	if c.MaxProjectDomains <= 0 {
		c.MaxProjectDomains = DefaultMaxProjectDomains
	}
	if c.MaxUploadSessions <= 0 {
		c.MaxUploadSessions = defaultMaxUploadSessions
	}
	if c.UploadSessionStale <= 0 {
		c.UploadSessionStale = defaultUploadSessionStale
	}
	if c.MaxProjectBytes <= 0 {
		c.MaxProjectBytes = defaultMaxProjectBytes
	}
	if c.UploadBytesInFlight <= 0 {
		c.UploadBytesInFlight = defaultUploadBytesInFlight
	}
	if c.UploadBytesInFlightTotal <= 0 {
		c.UploadBytesInFlightTotal = defaultUploadBytesTotalLimit
	}
	if c.AuthFailLimit <= 0 {
		c.AuthFailLimit = defaultAuthFailLimit
	}
	if c.AuthFailWindow <= 0 {
		c.AuthFailWindow = defaultAuthFailWindow
	}
	if c.AuthFailClients <= 0 {
		c.AuthFailClients = defaultAuthFailClients
	}
	if c.CacheBytes <= 0 {
		c.CacheBytes = 256 << 20
	}
	if c.MaxRequestTarget <= 0 {
		c.MaxRequestTarget = DefaultMaxRequestTarget
	}
	if c.MaxCachedMisses <= 0 {
		c.MaxCachedMisses = DefaultMaxCachedMisses
	}
	if c.DashboardSessionTTL <= 0 {
		c.DashboardSessionTTL = dashboard.DefaultSessionTTL
	}
	if c.DeployBudget <= 0 {
		c.DeployBudget = defaultDeployBudget
	}
	if c.DeployWindow <= 0 {
		c.DeployWindow = defaultDeployWindow
	}
	if c.LongRequestPath <= 0 {
		c.LongRequestPath = defaultLongRequestPath
	}
	if c.LongRequestShare <= 0 {
		c.LongRequestShare = defaultLongRequestShare
	}
	if c.DeployShare <= 0 {
		c.DeployShare = defaultDeployShare
	}
	if c.DeployBurst <= 0 {
		c.DeployBurst = defaultDeployBurst
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Host is a running cfhost: a store, caches and background jobs.
type Host struct {
	cfg Config
	log *slog.Logger
	// logs is what projects' server code logged, for the logs API.
	logs *projectlog.Buffer
	// streamsDone ends the log streams that follow projects (closed once,
	// through endStreams, at shutdown).
	streamsDone chan struct{}
	endStreams  sync.Once
	// dotBase is "." + the base domain, precomputed for routing.
	dotBase string
	store   store.Store
	db      *store.SQLite // nil on a shared database
	pg      *store.Postgres
	tokens  *tokens
	worker  *worker.Runtime
	js      jsEngine
	sites   *siteCache
	uploads *uploadBudget
	cache   *assets.Cache
	// authLimit answers 429 to clients that fail authentication too often.
	authLimit *authLimiter
	// deployLimit answers 429 to projects that spent their deploy budget.
	deployLimit *deployLimiter
	// pace takes turns among a project's long static requests.
	pace *pacer
	// heavy paces a project's deploy work: manifests, deployments and site
	// builds (heavy.go).
	heavy *pacer

	// access is the access log, nil when off; ownAccess says the host
	// made it and closes it.
	access    *accesslog.Writer
	ownAccess bool
	metrics   *metrics
	apiMux    *http.ServeMux
	// dashboard serves /__dashboard/ on the host's own names; nil when off.
	dashboard *dashboard.Dashboard

	compressNow chan struct{}
	unlock      func()
	// domains routes custom domains to projects.
	domains domains
	// defaultProject serves requests that name no project ("" for none).
	defaultProject atomic.Pointer[string]
	lastUpload     atomic.Int64 // unix nanoseconds of the last deploy activity (markDeploying)
	stop           context.CancelFunc
	wg             sync.WaitGroup
}

// New opens the data directory, applies migrations and starts the
// background jobs (compression, garbage collection).
func New(ctx context.Context, cfg Config) (*Host, error) {
	cfg.setDefaults()
	if cfg.DataDir == "" {
		return nil, errors.New("host: data dir is required")
	}
	if err := CheckLimits(cfg.Limits); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			unlock()
		}
	}()
	db, sqlite, pg, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.APIToken == "" {
		tok, err := apiToken(ctx, cfg, pg)
		if err != nil {
			db.Close()
			return nil, err
		}
		cfg.APIToken = tok
	}
	secret := cfg.JWTSecret
	if secret == "" {
		if secret, err = db.InitSetting(ctx, "jwt_secret", randomHex(32)); err != nil {
			db.Close()
			return nil, err
		}
	}
	out, err := jsrt.NewOutbound(cfg.WorkerOutbound, cfg.WorkerOutboundAllow)
	if err != nil {
		db.Close()
		return nil, err
	}
	wrt, err := newWorkerRuntime(ctx, cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	h := &Host{
		dotBase:     "." + cfg.BaseDomain,
		unlock:      unlock,
		worker:      wrt,
		js:          jsEngine{out: out},
		cfg:         cfg,
		log:         cfg.Logger,
		store:       db,
		db:          sqlite,
		pg:          pg,
		tokens:      &tokens{key: []byte(secret), ttl: cfg.TokenTTL, now: cfg.Now},
		authLimit:   newAuthLimiter(cfg.AuthFailLimit, cfg.AuthFailWindow, cfg.AuthFailClients),
		pace:        newPacer(cfg.LongRequestShare, 0),
		heavy:       newPacer(cfg.DeployShare, cfg.DeployBurst),
		deployLimit: newDeployLimiter(cfg.DeployBudget, cfg.DeployWindow),
		compressNow: make(chan struct{}, 1),
		uploads:     newUploadBudget(cfg.UploadBytesInFlight, cfg.UploadBytesInFlightTotal),
		logs:        projectlog.New(cfg.Logs),
		streamsDone: make(chan struct{}),
	}
	if cfg.AccessLog {
		h.access = cfg.AccessLogWriter
		if h.access == nil {
			h.access = accesslog.New(os.Stderr, accesslog.Logfmt)
			h.ownAccess = true
		}
	}
	h.SetDefaultProject(cfg.DefaultProject)
	if err := h.reloadDomains(ctx); err != nil {
		wrt.Close(ctx)
		db.Close()
		return nil, err
	}
	h.sites = newSiteCache(h)
	h.cache = assets.NewCache(blobSource{db}, cfg.CacheBytes)
	if !cfg.CacheFilesInMemory {
		if err := h.cache.KeepFilesIn(cfg.DataDir); err != nil && !errors.Is(err, errors.ErrUnsupported) {
			h.log.Warn("cached asset bodies stay in memory", "err", err)
		}
	}
	h.metrics = newMetrics(h)
	h.apiMux = h.newAPIMux()
	if !cfg.DisableDashboard {
		if h.dashboard, err = h.newDashboard(); err != nil {
			wrt.Close(ctx)
			db.Close()
			return nil, err
		}
	}
	bg, stop := context.WithCancel(context.Background())
	h.stop = stop
	h.wg.Add(2)
	go h.compressLoop(bg)
	go h.gcLoop(bg)
	if pg != nil {
		h.wg.Go(func() { h.watchChanges(bg) })
	}
	ok = true
	return h, nil
}

// Close stops the background jobs and closes the store.
func (h *Host) Close() error {
	h.EndStreams()
	h.stop()
	h.wg.Wait()
	defer h.unlock()
	if h.ownAccess {
		h.access.Close()
	}
	return errors.Join(h.worker.Close(context.Background()), h.closeJS(), h.store.Close())
}

// SetDefaultProject makes project id answer requests that name no project
// (a bare IP or localhost host, no /__project/ prefix); "" turns it off.
func (h *Host) SetDefaultProject(id string) { h.defaultProject.Store(&id) }

// Store exposes the store, for tests and tools that inspect the data.
func (h *Host) Store() *store.SQLite { return h.db }

// APIToken returns the management token in force.
func (h *Host) APIToken() string { return h.cfg.APIToken }

// BaseDomain returns the domain projects are served under.
func (h *Host) BaseDomain() string { return h.cfg.BaseDomain }

// loadOrCreateToken reads the token file, or creates it with a random token
// readable by the owner only.
func loadOrCreateToken(path string, log *slog.Logger) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("api token file %s is empty: delete it to have a new token generated", path)
		}
		log.Info("using API token from file", "path", path)
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read api token: %w", err)
	}
	tok := randomHex(32)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("create api token file: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write api token file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write api token file: %w", err)
	}
	log.Info("generated a new API token", "path", path)
	return tok, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
