package jsrt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
)

// Defaults for the zero fields of Config.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultMemoryLimit = 128 << 20
	DefaultMaxResponse = 32 << 20
	DefaultIdle        = 2
	DefaultDeployments = 64
)

// Limits bounds what one request's JS may make the host do or hold.
type Limits struct {
	// Subrequests caps the env.ASSETS.fetch and fetch() calls of one
	// request, its nested fetches of its own URL included; default 50,
	// Cloudflare's own limit on its free plan.
	Subrequests int
	// ConsoleLines caps the console lines kept from one request, and
	// ConsoleLineBytes each line; defaults 1,000 and 8 KiB.
	ConsoleLines, ConsoleLineBytes int
	// ResponseHeadBytes caps a response's header names and values
	// together; default 256 KiB: a browser refuses a bigger head anyway
	// (Chromium stops there), and the head is held in Go's memory, which
	// the instance's memory limit does not bound.
	ResponseHeadBytes int
	// ErrorBytes caps the description (message and stack) kept of an
	// uncaught error for the logs; default 16 KiB.
	ErrorBytes int
}

// Defaults of the zero fields of Limits.
const (
	DefaultSubrequests       = 50
	DefaultConsoleLines      = 1000
	DefaultConsoleLineBytes  = 8 << 10
	DefaultResponseHeadBytes = 256 << 10
	DefaultErrorBytes        = 16 << 10
)

func (l Limits) withDefaults() Limits {
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.Subrequests, DefaultSubrequests)
	set(&l.ConsoleLines, DefaultConsoleLines)
	set(&l.ConsoleLineBytes, DefaultConsoleLineBytes)
	set(&l.ResponseHeadBytes, DefaultResponseHeadBytes)
	set(&l.ErrorBytes, DefaultErrorBytes)
	return l
}

// Config tunes a Runtime.
type Config struct {
	// CacheDir persists the engine's compiled machine code across restarts.
	CacheDir string
	// Timeout is the wall-clock deadline of one request, instance
	// creation included. JS is interrupted at it; a C builtin that does
	// not poll the interrupt is stopped by the engine's wasmstop probes.
	Timeout time.Duration
	// MemoryLimit caps an instance's linear memory: an allocation past it
	// fails inside JS with an out-of-memory error.
	MemoryLimit int64
	// MaxResponse caps a response body.
	MaxResponse int64
	// Idle is how many initialised instances a deployment keeps between
	// requests.
	Idle int
	// Deployments is how many deployments keep their instances; the least
	// recently used beyond it are closed.
	Deployments int
	// Limits bounds what one request may do; zero fields take the
	// defaults.
	Limits Limits

	// noHardStop leaves out the wasmstop rewrite, for the benchmark that
	// measures what it costs and the test that shows what it stops; a C
	// builtin that never polls the interrupt handler then runs past the
	// deadline.
	noHardStop bool
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MemoryLimit <= 0 {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.MaxResponse <= 0 {
		c.MaxResponse = DefaultMaxResponse
	}
	if c.Idle <= 0 {
		c.Idle = DefaultIdle
	}
	if c.Deployments <= 0 {
		c.Deployments = DefaultDeployments
	}
	c.Limits = c.Limits.withDefaults()
	return c
}

// Runtime runs JS deployments on one compiled engine. It has its own wazero
// runtime, so the engine's host module is invisible to WASI guests.
type Runtime struct {
	cfg    Config
	rt     wazero.Runtime
	cache  wazero.CompilationCache
	engine wazero.CompiledModule
	snap   snapshots // the shim image new instances start from

	mu     sync.Mutex
	loaded map[string]*Deployment // by key
	clock  uint64                 // last use, for eviction
}

// New compiles the engine, rewritten by wasmstop: the hard stop for a C
// builtin that never polls the interrupt handler. wazero's own
// (WithCloseOnContextDone) made loop-heavy JS several times slower and
// started a goroutine for every call into the engine.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	cfg = cfg.withDefaults()
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("open js compilation cache: %w", err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	rc := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(cache).
		WithMemoryLimitPages(uint32(cfg.MemoryLimit / wasmPage))
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	engine, err := compileEngine(ctx, rt, cfg.MemoryLimit, cfg.noHardStop)
	if err != nil {
		_ = rt.Close(ctx)
		_ = cache.Close(ctx)
		return nil, err
	}
	return &Runtime{cfg: cfg, rt: rt, cache: cache, engine: engine, loaded: map[string]*Deployment{}}, nil
}

// Config returns the configuration in effect.
func (r *Runtime) Config() Config { return r.cfg }

// Close stops every instance and releases the engine.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	loaded := r.loaded
	r.loaded = map[string]*Deployment{}
	r.mu.Unlock()
	for _, d := range loaded {
		d.Close(ctx)
	}
	return errors.Join(r.rt.Close(ctx), r.cache.Close(ctx))
}

// Validate evaluates prog's modules once, as at deploy time: a syntax
// error, an import that resolves to no module, an exception at the top
// level or an entrypoint without a default export with fetch comes back as
// *Error (its Error() reads "module:line:col: Name: message").
func (r *Runtime) Validate(ctx context.Context, prog *Program) error {
	if _, ok := prog.Modules[prog.Entrypoint]; !ok {
		return &Error{Name: "Error", Message: fmt.Sprintf("entrypoint %q is not among the modules", prog.Entrypoint)}
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	in, err := newInstance(ctx, r.rt, r.engine, &r.snap, prog)
	if err != nil {
		return r.classify(ctx, err)
	}
	in.close(context.WithoutCancel(ctx))
	return nil
}

// Deployment is a loaded Program: its instances are reused across its
// requests (module state persists between requests, as in Cloudflare's
// isolates) and never shared with another deployment.
type Deployment struct {
	rt   *Runtime
	prog *Program

	mu     sync.Mutex
	idle   []*instance
	closed bool
	used   uint64 // Runtime.clock at its last use, under Runtime.mu
}

// Deployment returns the loaded deployment under key (a deployment id),
// building its Program with build the first time. At most
// Config.Deployments stay loaded; the least recently used is closed.
func (r *Runtime) Deployment(key string, build func() (*Program, error)) (*Deployment, error) {
	r.mu.Lock()
	r.clock++
	if d, ok := r.loaded[key]; ok {
		d.used = r.clock
		r.mu.Unlock()
		return d, nil
	}
	r.mu.Unlock()
	prog, err := build()
	if err != nil {
		return nil, err
	}
	d := r.Load(prog)
	r.mu.Lock()
	if old, ok := r.loaded[key]; ok {
		r.mu.Unlock()
		return old, nil
	}
	d.used = r.clock
	r.loaded[key] = d
	var evict *Deployment
	if len(r.loaded) > r.cfg.Deployments {
		for k, o := range r.loaded {
			if evict == nil || o.used < evict.used {
				evict, key = o, k
			}
		}
		delete(r.loaded, key)
	}
	r.mu.Unlock()
	if evict != nil {
		evict.Close(context.Background())
	}
	return d, nil
}

// Load returns a Deployment for prog. Nothing is evaluated until the first
// request.
func (r *Runtime) Load(prog *Program) *Deployment {
	return &Deployment{rt: r, prog: prog}
}

// Close discards the deployment's idle instances.
func (d *Deployment) Close(ctx context.Context) {
	d.mu.Lock()
	idle := d.idle
	d.idle, d.closed = nil, true
	d.mu.Unlock()
	for _, in := range idle {
		in.close(ctx)
	}
}

// Request is what a fetch handler receives, and what it may reach.
type Request struct {
	Method string
	URL    string // absolute
	Header http.Header
	Body   []byte
	// Assets serves env.ASSETS.fetch: the deployment's own static assets.
	// Nil makes env.ASSETS.fetch throw.
	Assets http.Handler
	// Fetch sends the handler's fetch() subrequests (the host's outbound
	// policy). Nil makes fetch() throw.
	Fetch func(*http.Request) (*http.Response, error)
}

// Response is what a fetch handler returned, as Fetch buffers it.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Logs are the console lines of the request: [level, text].
	Logs [][2]string
}

// Failure is a request that did not end well: Status is the status to
// answer (500 uncaught exception, 502 trap, out of memory or a response
// over the cap, 504 deadline) and Err what happened, with the JS stack
// when there is one. Sent is set when the response head had already gone
// out (the failure came from a streamed body or after the response, in
// ctx.waitUntil work): the status can then no longer be answered.
type Failure struct {
	Status int
	Err    error
	Logs   [][2]string
	Sent   bool
	// Complete is set when the whole body had gone out too.
	Complete bool
}

func (f *Failure) Error() string {
	return fmt.Sprintf("js server code failed with %d: %v", f.Status, f.Err)
}
func (f *Failure) Unwrap() error { return f.Err }

// Fetch runs the deployment's default.fetch for one request and returns
// the whole response. A failure is a *Failure.
func (d *Deployment) Fetch(ctx context.Context, req *Request) (*Response, error) {
	var w bufWriter
	logs, err := d.Serve(ctx, req, &w)
	if err != nil {
		return nil, err
	}
	return &Response{Status: w.status, Header: w.header, Body: w.body.Bytes(), Logs: logs}, nil
}

// bufWriter is the ResponseWriter of Fetch.
type bufWriter struct {
	status int
	header http.Header
	body   bytes.Buffer
}

func (b *bufWriter) WriteHead(status int, h http.Header, _ int64) { b.status, b.header = status, h }
func (b *bufWriter) Write(p []byte) error                         { b.body.Write(p); return nil }

// Serve runs the deployment's default.fetch for one request, sending the
// response to w as the handler produces it, and returns once the handler's
// ctx.waitUntil work is done too (within the same deadline). It returns the
// request's console lines; a failure is a *Failure.
//
// Until the response head is sent, ctx ending (the client went away) stops
// the run; after it, only the deadline does, so waitUntil work finishes
// when the client has its response and hangs up.
func (d *Deployment) Serve(ctx context.Context, req *Request, w ResponseWriter) ([][2]string, error) {
	b, ctx := budgetFrom(ctx)
	deadline := time.Now().Add(d.rt.cfg.Timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	runCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	c := &call{req: req, w: w, budget: b, max: d.rt.cfg.MaxResponse, lim: &d.rt.cfg.Limits}
	var sent atomic.Bool
	c.onSent = func() { sent.Store(true) }
	stop := context.AfterFunc(ctx, func() {
		if !sent.Load() {
			cancel()
		}
	})
	defer stop()
	fail := func(status int, err error) ([][2]string, error) {
		return c.logs, &Failure{Status: status, Err: err, Logs: c.logs, Sent: c.sent, Complete: c.ended}
	}
	in, err := d.take(runCtx)
	if err != nil {
		return fail(statusOf(runCtx, err), d.rt.classify(runCtx, err))
	}
	disarm := in.stop.Arm(runCtx)
	uncaught, err := in.run(runCtx, c)
	disarm() // a stopped instance is not put back
	switch {
	case err != nil:
		in.close(context.WithoutCancel(runCtx))
		return fail(statusOf(runCtx, err), d.rt.classify(runCtx, err))
	case c.tooLarge:
		in.close(context.WithoutCancel(runCtx))
		return fail(http.StatusBadGateway, fmt.Errorf("js response body over the limit of %d bytes", c.max))
	case uncaught != "":
		if strings.Contains(uncaught, "out of memory") {
			in.close(context.WithoutCancel(runCtx))
			return fail(http.StatusBadGateway, errors.New(uncaught))
		}
		d.put(runCtx, in)
		return fail(http.StatusInternalServerError, errors.New(uncaught))
	case !c.sent:
		d.put(runCtx, in)
		return fail(http.StatusInternalServerError, errors.New("the fetch handler finished without a response"))
	}
	d.put(runCtx, in)
	return c.logs, nil
}

func (d *Deployment) take(ctx context.Context) (*instance, error) {
	d.mu.Lock()
	if n := len(d.idle); n > 0 {
		in := d.idle[n-1]
		d.idle = d.idle[:n-1]
		d.mu.Unlock()
		return in, nil
	}
	d.mu.Unlock()
	return newInstance(ctx, d.rt.rt, d.rt.engine, &d.rt.snap, d.prog)
}

func (d *Deployment) put(ctx context.Context, in *instance) {
	d.mu.Lock()
	if !d.closed && len(d.idle) < d.rt.cfg.Idle && !in.stop.Stopped() {
		d.idle = append(d.idle, in)
		in = nil
	}
	d.mu.Unlock()
	if in != nil {
		in.close(context.WithoutCancel(ctx))
	}
}

// statusOf maps a failed run to its HTTP status.
func statusOf(ctx context.Context, err error) int {
	var je *Error
	switch {
	case ctx.Err() != nil:
		return http.StatusGatewayTimeout
	case errors.As(err, &je) && strings.Contains(je.Message, "out of memory"):
		return http.StatusBadGateway
	case errors.As(err, &je):
		return http.StatusInternalServerError
	default:
		return http.StatusBadGateway
	}
}

// classify names a deadline as such rather than as wazero's exit error.
func (r *Runtime) classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("js server code exceeded its %s deadline: %w", r.cfg.Timeout, ctx.Err())
	}
	return err
}
