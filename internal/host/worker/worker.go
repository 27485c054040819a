// Package worker runs a project's server code: WebAssembly modules speaking
// CGI/1.1 over WASI preview1 (docs/server-code.md), on one shared wazero
// runtime. Each request gets a fresh instance with the request in its
// environment, the body on stdin and its CGI response read from stdout, so no
// state crosses requests and a guest that loops, traps or runs out of memory
// fails only its own request. A guest-mode reactor (pkg/guest, guestmode.go)
// instead serves many requests of one deployment from a pooled instance,
// which is discarded as soon as it fails.
//
// The package knows nothing of projects, SQL or routing: the host hands it a
// Program (a compiled module's hash plus the deployment's files and env) and
// an AssetHandoff to serve local redirects from the static assets.
package worker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/cfdeploy/cfdeploy/internal/wasmstop"
)

// Defaults for the zero fields of Config.
const (
	DefaultTimeout       = 30 * time.Second
	DefaultMemoryLimit   = 128 << 20
	DefaultMaxBody       = 10 << 20
	DefaultBodyBudget    = 256 << 20
	DefaultBodyTimeout   = 60 * time.Second
	DefaultMaxStdout     = 32 << 20
	DefaultMaxStderr     = 64 << 10
	DefaultMaxModuleSize = 32 << 20
	DefaultLoadedModules = 16
	DefaultCacheMaxBytes = 1 << 30
	DefaultIdleInstances = 64
)

// Config tunes a Runtime. Zero fields take the defaults above; the
// concurrency defaults to GOMAXPROCS (at least 2), the queue to 64 waiting
// requests per execution slot and a tenant's queue to 16 per tenant slot
// (at most a quarter of the queue).
type Config struct {
	// CacheDir persists compiled machine code across restarts
	// (wazero.NewCompilationCacheWithDir). Empty keeps it in memory only.
	CacheDir string
	// CacheMaxBytes caps the on-disk cache: PruneCache removes the least
	// recently used compiled modules beyond it.
	CacheMaxBytes int64
	// Timeout is the wall-clock deadline of one guest run; past it the
	// guest is stopped and the client gets 504.
	Timeout time.Duration
	// MemoryLimit caps a guest's linear memory in bytes (rounded down to
	// 64 KiB pages); growing past it fails inside the guest, and the
	// request gets 502. Program.MemoryLimit overrides it per project.
	MemoryLimit int64
	// MaxBody is the largest request body; a larger one gets 413 before any
	// instance is created.
	MaxBody int64
	// BodyBudget caps the bytes of all request bodies buffered at once,
	// read or waiting for their guest. A body that cannot get its next
	// bytes from it is refused with 503 (413 if it alone is larger), so
	// many clients sending bodies together cannot run the host out of
	// memory.
	BodyBudget int64
	// BodyTimeout is how long a whole request body may take to arrive,
	// however steadily it trickles; then the request gets 408. (The host
	// separately cuts a body that stops moving.)
	BodyTimeout time.Duration
	// MaxStdout caps the guest's CGI response; more is a 502.
	MaxStdout int64
	// MaxStderr caps the guest log kept per request; the excess is dropped.
	MaxStderr int64
	// MaxModuleSize is the largest module Prepare accepts.
	MaxModuleSize int64
	// Concurrency is how many guests run at once. More than the number of
	// cores only raises tail latency: on 2 cores, four Go guests at once had
	// a p99 several times that of one or two.
	Concurrency int
	// QueueSize is how many requests, their bodies read, may wait for a
	// free slot; when it is full, further requests get 503 at once.
	// Negative means no queue.
	QueueSize int
	// TenantQueue is how many requests of one tenant may wait for a slot
	// beyond its TenantConcurrency running ones; a request past that gets
	// 503 at once, so one tenant's backlog never holds the whole queue.
	// As many of its requests (TenantConcurrency+TenantQueue) may be
	// buffering their body at once, before which they take no other
	// place; a request with a body past that gets 503 before its body is
	// read. Negative means none.
	TenantQueue int
	// TenantConcurrency is how many guests of one tenant (Program.Tenant)
	// run at once. The default, Concurrency-1 (at least 1), always leaves a
	// slot that a tenant's looping or slow guests cannot take, so one
	// project can never stall every other project's server code.
	TenantConcurrency int
	// LoadedModules is how many compiled modules stay in memory (a Go guest
	// costs about 44 MB); others are reloaded from the cache on demand.
	LoadedModules int
	// IdleInstances caps the guest-mode instances (pkg/guest) kept alive
	// between requests across all projects; each also keeps at most its
	// tenant's TenantConcurrency. Each holds its linear memory (a Go guest
	// touches a few MB of it).
	IdleInstances int
	// Logger receives guest failures with their stderr. Nil means
	// slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MemoryLimit <= 0 {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.BodyBudget <= 0 {
		c.BodyBudget = DefaultBodyBudget
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = DefaultBodyTimeout
	}
	if c.MaxStdout <= 0 {
		c.MaxStdout = DefaultMaxStdout
	}
	if c.MaxStderr <= 0 {
		c.MaxStderr = DefaultMaxStderr
	}
	if c.MaxModuleSize <= 0 {
		c.MaxModuleSize = DefaultMaxModuleSize
	}
	if c.Concurrency <= 0 {
		// At least two, so that the default TenantConcurrency (one less)
		// never lets one project hold every slot: on a one-core host a
		// project's slow guests would otherwise make every other
		// project's server code wait for them.
		c.Concurrency = max(2, runtime.GOMAXPROCS(0))
	}
	if c.QueueSize == 0 {
		c.QueueSize = 64 * c.Concurrency
	}
	if c.TenantConcurrency <= 0 {
		c.TenantConcurrency = max(1, c.Concurrency-1)
	}
	if c.QueueSize < 0 {
		c.QueueSize = 0
	}
	if c.TenantQueue == 0 {
		c.TenantQueue = min(16*c.TenantConcurrency, max(1, c.QueueSize/4))
	}
	if c.TenantQueue < 0 {
		c.TenantQueue = 0
	}
	if c.CacheMaxBytes <= 0 {
		c.CacheMaxBytes = DefaultCacheMaxBytes
	}
	if c.LoadedModules <= 0 {
		c.LoadedModules = DefaultLoadedModules
	}
	if c.IdleInstances <= 0 {
		c.IdleInstances = DefaultIdleInstances
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Runtime runs server code. One Runtime serves every project of a host
// process; it is safe for concurrent use.
type Runtime struct {
	cfg   Config
	rt    wazero.Runtime
	cache wazero.CompilationCache
	wasi  map[string]api.FunctionDefinition // what WASI preview1 provides

	slots   chan struct{} // one token per running guest
	waiting atomic.Int64  // requests waiting for a slot
	reading atomic.Int64  // requests buffering their body
	bodies  bodyBudget    // bytes of buffered bodies
	// budgetWarned is when a spent body budget was last logged, in Unix
	// nanoseconds.
	budgetWarned atomic.Int64

	tenantMu sync.Mutex
	tenants  map[string]*tenantSlots // tenants with requests in flight

	instances instancePools // live guest-mode instances, per tenant

	compileMu sync.Mutex // one compilation at a time: each takes ~100 MB
	modules   *moduleCache
	disk      *diskCache // nil without a CacheDir

	closed atomic.Bool
}

// New creates the shared wazero runtime. Its guests are compiled rewritten
// by wasmstop (stop.go): that is how a looping guest is stopped, and
// without it such a guest would freeze the whole process at the next
// garbage collection: compiled guest code cannot be preempted otherwise, so
// the collector's stop-the-world would never end.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	cfg = cfg.withDefaults()
	// wazero v1.12.0 fills its version string lazily without
	// synchronisation (internal/version), so runtimes created at once in one
	// process race; creating them one at a time is cheap.
	newRuntimeMu.Lock()
	defer newRuntimeMu.Unlock()
	var cache wazero.CompilationCache
	var disk *diskCache
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("open wasm compilation cache: %w", err)
		}
		cache = c
		if disk, err = newDiskCache(cfg.CacheDir); err != nil {
			return nil, err
		}
	} else {
		cache = wazero.NewCompilationCache()
	}
	rc := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(cache)
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		_ = cache.Close(ctx)
		return nil, fmt.Errorf("instantiate wasi: %w", err)
	}
	wasi := rt.Module(wasi_snapshot_preview1.ModuleName).ExportedFunctionDefinitions()
	r := &Runtime{
		cfg:     cfg,
		rt:      rt,
		cache:   cache,
		wasi:    wasi,
		disk:    disk,
		slots:   make(chan struct{}, cfg.Concurrency),
		tenants: make(map[string]*tenantSlots),
		bodies:  bodyBudget{limit: cfg.BodyBudget},
	}
	r.instances.idleMax = int64(cfg.IdleInstances)
	r.modules = newModuleCache(cfg.LoadedModules)
	return r, nil
}

// Config returns the configuration in effect, defaults filled in.
func (rt *Runtime) Config() Config { return rt.cfg }

// Close stops the runtime: running guests are aborted, compiled modules and
// pooled memories are released. The on-disk cache is kept.
func (rt *Runtime) Close(ctx context.Context) error {
	if !rt.closed.CompareAndSwap(false, true) {
		return nil
	}
	rt.modules.closeAll(ctx)
	err := rt.rt.Close(ctx)
	if e := rt.cache.Close(ctx); err == nil {
		err = e
	}
	if err != nil {
		return fmt.Errorf("close wasm runtime: %w", err)
	}
	return nil
}

// Stats is a snapshot of the runtime's load, for metrics and health checks.
type Stats struct {
	Running   int   // guests executing now
	Waiting   int   // requests queued for a slot
	Loaded    int   // compiled modules kept in memory
	Reading   int   // requests buffering their body
	BodyBytes int64 // budget held by buffered bodies
}

// Stats reports the runtime's current load.
func (rt *Runtime) Stats() Stats {
	return Stats{
		Running:   len(rt.slots),
		Waiting:   int(rt.waiting.Load()),
		Loaded:    rt.modules.loaded(),
		Reading:   int(rt.reading.Load()),
		BodyBytes: rt.bodies.used.Load(),
	}
}

var newRuntimeMu sync.Mutex

// ErrClosed is returned by Prepare after Close.
var ErrClosed = errors.New("worker runtime closed")

// Hash returns the module hash Programs and Prepare use: the lower-case hex
// SHA-256 of the module bytes.
func Hash(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return hex.EncodeToString(sum[:])
}

// Program is one deployment's server code, as the host knows it. It is
// cheap to build per request.
type Program struct {
	// Hash identifies the entrypoint module: Hash(module bytes), as given
	// to Prepare.
	Hash string
	// Load returns the module bytes when the compiled module is no longer
	// loaded; compiling them again hits the on-disk cache. The bytes must
	// hash to Hash.
	Load func(ctx context.Context) ([]byte, error)
	// Assets is the deployment's static assets, mounted read-only at
	// /assets. Nil mounts nothing.
	Assets fs.FS
	// Modules holds the deployment's text, data and json modules, mounted
	// read-only at /modules. Nil mounts nothing.
	Modules fs.FS
	// Env is the project's environment; see ValidateEnv.
	Env map[string]string
	// MemoryLimit overrides Config.MemoryLimit for this program when > 0.
	MemoryLimit int64
	// Name labels the program in logs, e.g. the project name.
	Name string
	// Deployment identifies the deployment the program belongs to. A
	// guest-mode module (pkg/guest) keeps live instances per Tenant and
	// Deployment; a request for another deployment of the tenant drops
	// them, so no state survives a redeploy or rollback.
	Deployment string
	// Tenant groups programs whose requests share one allowance of
	// execution slots (Config.TenantConcurrency), e.g. the project id. ""
	// puts the program under no per-tenant limit.
	Tenant string
	// Log, when set, receives the guest's stderr and why its requests
	// failed, for the project's own log stream.
	Log LogFunc
}

// Request carries what the host knows about a request beyond the
// *http.Request: the scheme and client address as seen through trusted
// proxies, and the path and query the guest should see (e.g. without a
// mount prefix). Empty fields are taken from the *http.Request; RawPath and
// RawQuery go together: when RawPath is empty both come from r.URL, so an
// empty RawQuery with a RawPath means "no query".
type Request struct {
	Scheme     string // "http" or "https"
	Host       string // the Host header, with its port if any
	RawPath    string // escaped path, e.g. "/a%20b"
	RawQuery   string // query without "?"
	RemoteAddr string // "ip:port" of the client
}

func (req Request) fill(r *http.Request) Request {
	if req.Scheme == "" {
		req.Scheme = "http"
		if r.TLS != nil {
			req.Scheme = "https"
		}
	}
	if req.Host == "" {
		req.Host = r.Host
	}
	if req.RawPath == "" {
		req.RawPath, req.RawQuery = r.URL.EscapedPath(), r.URL.RawQuery
	}
	if req.RemoteAddr == "" {
		req.RemoteAddr = r.RemoteAddr
	}
	return req
}

// Serve runs p's module for one request and writes its response. Failures map
// to statuses as in docs/server-code.md#failures: a body over MaxBody is 413,
// a full queue (the tenant's, before the body is read, or the host's) or a
// spent body budget 503 with Retry-After, a body that takes longer than
// BodyTimeout 408, a guest that exits non-zero, traps, overflows stdout or
// prints a malformed response 502 (with its stderr logged), a deadline 504.
// When the client goes away nothing is written. assets may be nil, in which
// case a hand-off is a 502.
func (rt *Runtime) Serve(w http.ResponseWriter, r *http.Request, p Program, req Request, assets AssetHandoff) {
	if rt.closed.Load() {
		http.Error(w, "server code is shutting down", http.StatusServiceUnavailable)
		return
	}
	req = req.fill(r)
	log := rt.cfg.Logger.With("program", p.Name, "module", shortHash(p.Hash), "method", r.Method, "path", req.RawPath)

	if r.ContentLength > rt.cfg.MaxBody {
		http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
		return
	}
	ts := rt.tenant(p.Tenant)
	defer rt.leaveTenant(p.Tenant, ts)

	// Admission comes before the body: a request the tenant has no
	// reader's place for costs neither memory nor time. Readers have
	// places of their own, so clients trickling bodies cannot keep the
	// tenant's other requests out of the queue.
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	if hasBody && !rt.claim(ts, readerPlace) {
		overloaded(w, "server code of this project is receiving too many request bodies")
		return
	}
	body, status := rt.readBody(w, r)
	if hasBody {
		rt.unclaim(ts, readerPlace)
	}
	defer body.release()
	switch status {
	case 0:
	case http.StatusServiceUnavailable:
		rt.warnBodyBudget(log)
		overloaded(w, "too many request bodies are buffered on this host")
		return
	default:
		http.Error(w, http.StatusText(status), status)
		return
	}

	if !rt.claim(ts, runnerPlace) {
		overloaded(w, "server code of this project is overloaded")
		return
	}
	defer rt.unclaim(ts, runnerPlace)
	if !rt.acquire(r.Context(), ts) {
		if r.Context().Err() != nil {
			return
		}
		overloaded(w, "server code is overloaded")
		return
	}
	defer rt.release(ts)

	res, err := rt.run(r, p, &req, body, log)
	body.release()
	if err != nil {
		var fail *runFailure
		if errors.As(err, &fail) {
			if fail.status != 0 {
				http.Error(w, http.StatusText(fail.status), fail.status)
			}
			return
		}
		log.Error("server code", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	if res.handoff != "" {
		rt.handoff(w, r, res, assets, log)
		return
	}
	writeResponse(w, r, res)
}

// runFailure is a request that failed in a way already logged; status 0
// means the client is gone and nothing is to be written.
type runFailure struct{ status int }

func (f *runFailure) Error() string { return fmt.Sprintf("server code failed with %d", f.status) }

// run instantiates the module once and parses its output.
func (rt *Runtime) run(r *http.Request, p Program, req *Request, body *requestBody, log *slog.Logger) (*response, error) {
	ctx := r.Context()
	mod, err := rt.modules.get(ctx, p.Hash, func(ctx context.Context) (*compiledProgram, error) {
		// Loading is shared by every request waiting for this module, so
		// one client going away must not fail it for the others.
		return rt.load(context.WithoutCancel(ctx), p)
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, &runFailure{}
		}
		return nil, fmt.Errorf("load server module: %w", err)
	}
	defer rt.modules.done(ctx, mod)

	limit := rt.cfg.MemoryLimit
	if p.MemoryLimit > 0 {
		limit = p.MemoryLimit
	}
	if mod.prog.minMemory > uint64(limit) {
		log.Warn("server module needs more memory at start than its limit", "needs", mod.prog.minMemory, "limit", limit)
		return nil, &runFailure{status: http.StatusBadGateway}
	}
	if mod.prog.guestMode {
		return rt.runGuest(ctx, r, mod, &p, req, body, limit, log)
	}
	emit := p.emitter(r, req)
	alloc, err := newRequestAllocator(mod.prog.pool(uint64(limit)))
	if err != nil {
		return nil, err
	}
	defer alloc.release()

	stdout := &cappedBuffer{limit: rt.cfg.MaxStdout}
	stderr := &cappedBuffer{limit: rt.cfg.MaxStderr, truncate: true}

	mc := wazero.NewModuleConfig().
		WithName("").
		WithArgs("server.wasm").
		WithStdin(body.reader()).
		WithStdout(stdout).
		WithStderr(stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStartFunctions() // run below, with the stop armed
	for _, e := range buildEnv(r, req, int(body.size), &p) {
		mc = mc.WithEnv(e.name, e.value)
	}
	if p.Assets != nil || p.Modules != nil {
		fsc := wazero.NewFSConfig()
		if p.Assets != nil {
			fsc = fsc.WithFSMount(withContext(p.Assets, ctx), AssetsDir)
		}
		if p.Modules != nil {
			fsc = fsc.WithFSMount(withContext(p.Modules, ctx), ModulesDir)
		}
		mc = mc.WithFSConfig(fsc)
	}

	runCtx, cancel := context.WithTimeout(ctx, rt.cfg.Timeout)
	defer cancel()
	runCtx = experimental.WithMemoryAllocator(runCtx, alloc)
	inst, err := rt.rt.InstantiateModule(runCtx, mod.prog.compiled, mc)
	if err == nil {
		err = runStart(runCtx, inst, wasmstop.For(inst), "_start")
	}
	if inst != nil {
		_ = inst.Close(ctx)
	}
	alloc.release()

	if err != nil {
		var exit *sys.ExitError
		switch {
		case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeContextCanceled,
			ctx.Err() != nil:
			return nil, &runFailure{} // the client is gone
		case errors.Is(err, errStopped), errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded:
			log.Warn("server code timed out", "timeout", rt.cfg.Timeout, "stderr", stderrForLog(stderr.String()))
			emit.stderr(stderr.String())
			emit.failure(http.StatusGatewayTimeout, "server code ran past its deadline of %s", rt.cfg.Timeout)
			return nil, &runFailure{status: http.StatusGatewayTimeout}
		case errors.As(err, &exit):
			log.Warn("server code exited with an error", "exit_code", exit.ExitCode(),
				"stdout_overflow", stdout.overflow, "stderr", stderrForLog(stderr.String()))
			emit.stderr(stderr.String())
			emit.failure(http.StatusBadGateway, "server code exited with status %d", exit.ExitCode())
			return nil, &runFailure{status: http.StatusBadGateway}
		default:
			if rt.closed.Load() {
				return nil, &runFailure{status: http.StatusServiceUnavailable}
			}
			log.Warn("server code crashed", "err", err, "stderr", stderrForLog(stderr.String()))
			emit.stderr(stderr.String())
			emit.failure(http.StatusBadGateway, "server code crashed: %v", err)
			return nil, &runFailure{status: http.StatusBadGateway}
		}
	}
	if stdout.overflow {
		log.Warn("server code response too large", "limit", rt.cfg.MaxStdout, "stderr", stderrForLog(stderr.String()))
		emit.stderr(stderr.String())
		emit.failure(http.StatusBadGateway, "server code printed a response over %d bytes", rt.cfg.MaxStdout)
		return nil, &runFailure{status: http.StatusBadGateway}
	}
	res, err := parseResponse(stdout.Bytes())
	if err != nil {
		log.Warn("server code printed an invalid response", "err", err, "stderr", stderrForLog(stderr.String()))
		emit.stderr(stderr.String())
		emit.failure(http.StatusBadGateway, "server code printed an invalid response: %v", err)
		return nil, &runFailure{status: http.StatusBadGateway}
	}
	if stderr.Len() > 0 {
		log.Debug("server code log", "stderr", stderr.String())
		emit.stderr(stderr.String())
	}
	return res, nil
}

// load compiles a module that has dropped out of the loaded set; the bytes
// come from the host and the machine code from the compilation cache.
func (rt *Runtime) load(ctx context.Context, p Program) (*compiledProgram, error) {
	if p.Load == nil {
		return nil, fmt.Errorf("module %s is not loaded and the program has no Load", shortHash(p.Hash))
	}
	wasm, err := p.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w", shortHash(p.Hash), err)
	}
	if got := Hash(wasm); got != p.Hash {
		return nil, fmt.Errorf("module %s: loaded bytes hash to %s", shortHash(p.Hash), shortHash(got))
	}
	return rt.build(ctx, p.Hash, wasm)
}

// writeResponse sends a parsed guest response. The host frames the body.
func writeResponse(w http.ResponseWriter, r *http.Request, res *response) {
	h := w.Header()
	for k, vs := range res.header {
		h[k] = vs
	}
	noBody := res.status == http.StatusNoContent || res.status == http.StatusNotModified
	if !noBody {
		h.Set("Content-Length", fmt.Sprint(len(res.body)))
	}
	w.WriteHeader(res.status)
	if !noBody && r.Method != http.MethodHead {
		_, _ = w.Write(res.body)
	}
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
