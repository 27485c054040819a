package worker

// Guest mode: a WASI reactor built with pkg/guest serves many requests
// from one instance. The host writes the request into the instance's
// memory through the guest's allocation export, calls its serve export and
// reads back a CGI response, which then goes through the same parser,
// hand-off and header rules as a CGI guest's stdout. Live instances are
// pooled per deployment of a tenant, at most the tenant's run slots of
// them; an instance that fails in any way is closed, never reused.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/cfdeploy/cfdeploy/internal/wasmstop"
)

// The exports a guest-mode reactor provides (pkg/guest).
const (
	guestAllocExport = "cfhost_alloc" // (size i32) -> address i32
	guestServeExport = "cfhost_serve" // (size i32) -> address<<32 | length, i64
)

// isGuestReactor reports whether a compiled module is a reactor with the
// guest-mode exports and signatures.
func isGuestReactor(m wazero.CompiledModule) bool {
	fns := m.ExportedFunctions()
	if _, ok := fns["_start"]; ok {
		return false
	}
	init, ok := fns["_initialize"]
	if !ok || len(init.ParamTypes()) != 0 || len(init.ResultTypes()) != 0 {
		return false
	}
	alloc, ok := fns[guestAllocExport]
	if !ok || !equalTypes(alloc.ParamTypes(), []api.ValueType{api.ValueTypeI32}) ||
		!equalTypes(alloc.ResultTypes(), []api.ValueType{api.ValueTypeI32}) {
		return false
	}
	serve, ok := fns[guestServeExport]
	return ok && equalTypes(serve.ParamTypes(), []api.ValueType{api.ValueTypeI32}) &&
		equalTypes(serve.ResultTypes(), []api.ValueType{api.ValueTypeI64})
}

// liveInstance is one instantiated guest-mode module and what it holds.
type liveInstance struct {
	mod    api.Module
	stop   *wasmstop.Stop
	alloc  *requestAllocator
	fnEnc  api.Function // guestAllocExport
	fnRun  api.Function // guestServeExport
	stack  [1]uint64    // the parameter and result of either call
	stdout *cappedBuffer
	stderr *cappedBuffer
}

// close ends the instance and returns its memory to the pool.
func (li *liveInstance) close() {
	_ = li.mod.Close(context.Background())
	li.alloc.release()
}

// instancePool holds the idle instances of one deployment of one tenant.
type instancePool struct {
	key  string
	prog *compiledProgram

	// idleTotal counts the idle instances of every pool of the runtime,
	// which may keep at most idleMax of them.
	idleTotal *atomic.Int64
	idleMax   int64

	mu      sync.Mutex
	idle    []*liveInstance
	max     int
	dropped bool
}

// take returns an idle instance, or nil when a new one must be started.
func (ip *instancePool) take() *liveInstance {
	ip.mu.Lock()
	defer ip.mu.Unlock()
	if n := len(ip.idle); n > 0 {
		li := ip.idle[n-1]
		ip.idle = ip.idle[:n-1]
		ip.idleTotal.Add(-1)
		return li
	}
	return nil
}

// give keeps a healthy instance for the next request, or closes it when the
// pool is full or gone.
func (ip *instancePool) give(li *liveInstance) {
	ip.mu.Lock()
	if !ip.dropped && len(ip.idle) < ip.max {
		if ip.idleTotal.Add(1) <= ip.idleMax {
			ip.idle = append(ip.idle, li)
			ip.mu.Unlock()
			return
		}
		ip.idleTotal.Add(-1)
	}
	ip.mu.Unlock()
	li.close()
}

// drop closes the idle instances; instances in use are closed when given
// back.
func (ip *instancePool) drop() {
	ip.mu.Lock()
	idle := ip.idle
	ip.idle, ip.dropped = nil, true
	ip.idleTotal.Add(-int64(len(idle)))
	ip.mu.Unlock()
	for _, li := range idle {
		li.close()
	}
}

// instancePools is the Runtime's registry: each tenant has at most one
// pool, that of the deployment it served last. A request for another
// deployment (or another compilation of the module) drops the old pool, so
// a redeploy or rollback never meets the previous deployment's state.
type instancePools struct {
	idle    atomic.Int64 // idle instances of all pools
	idleMax int64

	mu    sync.Mutex
	pools map[string]*instancePool // by tenant
}

// poolKey names a deployment: the module, the tenant, the deployment id,
// the program name and the environment, so programs differing in any of
// them never share instances. The environment is part of it because an
// instance reads it once, at start: a changed variable or secret of the
// project must reach the next request without a redeploy.
func poolKey(p *Program) string {
	h := fnv.New64a()
	for _, e := range appendProjectEnv(nil, p) {
		h.Write([]byte(e.name))
		h.Write([]byte{0})
		h.Write([]byte(e.value))
		h.Write([]byte{0})
	}
	return p.Tenant + "\x00" + p.Deployment + "\x00" + p.Hash + "\x00" + p.Name + "\x00" + strconv.FormatUint(h.Sum64(), 16)
}

// get returns the pool for p on prog, replacing the tenant's previous one.
func (ps *instancePools) get(p *Program, prog *compiledProgram, max int) *instancePool {
	key := poolKey(p)
	slot := p.Tenant
	if slot == "" {
		slot = "\x00" + key // programs of no tenant each keep their own
	}
	ps.mu.Lock()
	old := ps.pools[slot]
	if old != nil && old.key == key && old.prog == prog {
		ps.mu.Unlock()
		return old
	}
	ip := &instancePool{key: key, prog: prog, max: max, idleTotal: &ps.idle, idleMax: ps.idleMax}
	if ps.pools == nil {
		ps.pools = map[string]*instancePool{}
	}
	ps.pools[slot] = ip
	ps.mu.Unlock()
	prog.addPool(ip)
	if old != nil {
		old.prog.removePool(old)
		old.drop()
	}
	return ip
}

// forget removes the pools of a program being closed.
func (ps *instancePools) forget(prog *compiledProgram) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for slot, ip := range ps.pools {
		if ip.prog == prog {
			delete(ps.pools, slot)
		}
	}
}

// runGuest serves one request on a pooled instance of a guest-mode module.
// The caller holds a run slot and a reference on mod.
func (rt *Runtime) runGuest(ctx context.Context, r *http.Request, mod *loadedModule, p *Program, req *Request, body *requestBody, limit int64, log *slog.Logger) (*response, error) {
	ip := rt.instances.get(p, mod.prog, rt.cfg.TenantConcurrency)
	emit := p.emitter(r, req)
	runCtx, cancel := context.WithTimeout(ctx, rt.cfg.Timeout)
	defer cancel()

	li := ip.take()
	if li == nil {
		var err error
		if li, err = rt.startInstance(runCtx, mod.prog, p, limit); err != nil {
			return nil, rt.guestFailure(ctx, err, nil, log, emit, "start")
		}
	}
	res, err := rt.callGuest(runCtx, li, r, req, body)
	stderr := li.stderr.String()
	li.stderr.Reset()
	li.stderr.dropped = 0
	li.stdout.Reset()
	li.stdout.dropped = 0
	if err != nil {
		li.close()
		return nil, rt.guestFailure(ctx, err, &stderr, log, emit, "request")
	}
	if li.stop.Stopped() {
		li.close() // it answered, but was stopped right after: spent
	} else {
		ip.give(li)
	}
	if stderr != "" {
		log.Debug("server code log", "stderr", stderr)
		emit.stderr(stderr)
	}
	return res, nil
}

// startInstance instantiates a guest-mode module, running its
// _initialize (Go: the runtime and init functions) under the deadline.
func (rt *Runtime) startInstance(ctx context.Context, prog *compiledProgram, p *Program, limit int64) (*liveInstance, error) {
	alloc, err := newRequestAllocator(prog.pool(uint64(limit)))
	if err != nil {
		return nil, err
	}
	li := &liveInstance{
		alloc:  alloc,
		stdout: &cappedBuffer{limit: rt.cfg.MaxStderr, truncate: true},
		stderr: &cappedBuffer{limit: rt.cfg.MaxStderr, truncate: true},
	}
	mc := wazero.NewModuleConfig().
		WithName("").
		WithArgs("server.wasm").
		WithStdout(li.stdout).
		WithStderr(li.stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStartFunctions() // _initialize runs below, with the stop armed
	for _, e := range appendProjectEnv(nil, p) {
		mc = mc.WithEnv(e.name, e.value)
	}
	if p.Assets != nil || p.Modules != nil {
		// The mounts outlive any one request; the deadline of each call
		// still stops the guest, and with it its file reads.
		fsc := wazero.NewFSConfig()
		if p.Assets != nil {
			fsc = fsc.WithFSMount(withContext(p.Assets, context.Background()), AssetsDir)
		}
		if p.Modules != nil {
			fsc = fsc.WithFSMount(withContext(p.Modules, context.Background()), ModulesDir)
		}
		mc = mc.WithFSConfig(fsc)
	}
	inst, err := rt.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, alloc), prog.compiled, mc)
	var stop *wasmstop.Stop
	if err == nil {
		stop = wasmstop.For(inst)
		err = runStart(ctx, inst, stop, "_initialize")
	}
	if err != nil {
		if inst != nil {
			_ = inst.Close(context.Background())
		}
		alloc.release()
		return nil, &guestError{err: err, stderr: li.stderr.String()}
	}
	li.mod, li.stop = inst, stop
	li.fnEnc = inst.ExportedFunction(guestAllocExport)
	li.fnRun = inst.ExportedFunction(guestServeExport)
	if li.fnEnc == nil || li.fnRun == nil {
		li.close()
		return nil, errors.New("guest-mode exports missing after instantiation")
	}
	return li, nil
}

// guestError carries the stderr of an instance that failed to start.
type guestError struct {
	err    error
	stderr string
}

func (e *guestError) Error() string { return e.err.Error() }
func (e *guestError) Unwrap() error { return e.err }

// errGuestGarbage is a guest-mode answer that does not fit in its memory.
var errGuestGarbage = errors.New("guest returned a response outside its memory")

// callGuest hands one request to a live instance and parses its answer.
// Both calls into the instance run under one arming of its stop, and
// reuse the instance's call stack, so a request costs the host no timer
// and no allocation of its own for them.
func (rt *Runtime) callGuest(ctx context.Context, li *liveInstance, r *http.Request, req *Request, body *requestBody) (res *response, err error) {
	msg := encodeGuestRequest(buildEnv(r, req, int(body.size), &Program{}), body)
	if uint64(len(msg)) > 1<<32-1 {
		return nil, fmt.Errorf("request too large for guest mode")
	}
	disarm := li.stop.Arm(ctx)
	defer func() {
		if disarm() && err != nil {
			err = fmt.Errorf("%w: %w", errStopped, err)
		}
	}()
	stack := li.stack[:]
	stack[0] = uint64(len(msg))
	if err := li.fnEnc.CallWithStack(ctx, stack); err != nil {
		return nil, err
	}
	mem := li.mod.Memory()
	if !mem.Write(uint32(stack[0]), msg) {
		return nil, fmt.Errorf("%w: allocation of %d bytes at %#x", errGuestGarbage, len(msg), uint32(stack[0]))
	}
	stack[0] = uint64(len(msg))
	if err := li.fnRun.CallWithStack(ctx, stack); err != nil {
		return nil, err
	}
	ptr, n := uint32(stack[0]>>32), uint32(stack[0])
	if int64(n) > rt.cfg.MaxStdout {
		return nil, fmt.Errorf("%w: %d bytes, over the limit of %d", errOutputLimit, n, rt.cfg.MaxStdout)
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		return nil, fmt.Errorf("%w: %d bytes at %#x", errGuestGarbage, n, ptr)
	}
	// b aliases guest memory, which the next request reuses: copy it.
	return parseResponse(append([]byte(nil), b...))
}

// encodeGuestRequest lays out a request for pkg/guest: NAME=VALUE pairs
// each ended by NUL (values never hold NUL: buildEnv drops such headers),
// an empty pair, then the body.
func encodeGuestRequest(env []envVar, body *requestBody) []byte {
	n := 1 + int(body.size)
	for _, e := range env {
		n += len(e.name) + len(e.value) + 2
	}
	msg := make([]byte, 0, n)
	for _, e := range env {
		msg = append(msg, e.name...)
		msg = append(msg, '=')
		msg = append(msg, e.value...)
		msg = append(msg, 0)
	}
	msg = append(msg, 0)
	for _, c := range body.chunks {
		msg = append(msg, c...)
	}
	return msg
}

// guestFailure logs a failed guest-mode start or request and maps it to
// the status the client gets, as run does for CGI guests.
func (rt *Runtime) guestFailure(ctx context.Context, err error, stderr *string, log *slog.Logger, emit emitter, what string) error {
	var ge *guestError
	if stderr == nil {
		s := ""
		if errors.As(err, &ge) {
			s = ge.stderr
		}
		stderr = &s
	}
	var exit *sys.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeContextCanceled, ctx.Err() != nil:
		return &runFailure{} // the client is gone
	case errors.Is(err, errStopped), errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded:
		log.Warn("server code timed out; instance discarded", "timeout", rt.cfg.Timeout, "stage", what, "stderr", stderrForLog(*stderr))
		emit.stderr(*stderr)
		emit.failure(http.StatusGatewayTimeout, "server code ran past its deadline of %s (%s)", rt.cfg.Timeout, what)
		return &runFailure{status: http.StatusGatewayTimeout}
	case errors.Is(err, errMalformed), errors.Is(err, errGuestGarbage), errors.Is(err, errOutputLimit):
		log.Warn("server code returned an invalid response; instance discarded", "err", err, "stderr", stderrForLog(*stderr))
		emit.stderr(*stderr)
		emit.failure(http.StatusBadGateway, "server code returned an invalid response: %v", err)
		return &runFailure{status: http.StatusBadGateway}
	case errors.As(err, &exit):
		log.Warn("server code exited; instance discarded", "stage", what, "exit_code", exit.ExitCode(), "stderr", stderrForLog(*stderr))
		emit.stderr(*stderr)
		emit.failure(http.StatusBadGateway, "server code exited with status %d (%s)", exit.ExitCode(), what)
		return &runFailure{status: http.StatusBadGateway}
	default:
		if rt.closed.Load() {
			return &runFailure{status: http.StatusServiceUnavailable}
		}
		log.Warn("server code crashed; instance discarded", "stage", what, "err", err, "stderr", stderrForLog(*stderr))
		emit.stderr(*stderr)
		emit.failure(http.StatusBadGateway, "server code crashed (%s): %v", what, err)
		return &runFailure{status: http.StatusBadGateway}
	}
}
