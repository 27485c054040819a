package jsrt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/cfdeploy/cfdeploy/internal/wasmstop"
)

// instance is one engine: a wasm module instance with a QuickJS runtime and
// context in it, the shim and a deployment's modules evaluated. It serves
// one request at a time; one that trapped or hit a deadline is closed.
type instance struct {
	prog *Program
	mod  api.Module
	mem  api.Memory
	stop *wasmstop.Stop // armed while a request or the set-up runs

	// Engine functions called from Go. A wazero Function is not
	// re-entrant, so the module loader, which runs inside QTS_Eval, has
	// its own malloc.
	malloc, cbMalloc, free                         api.Function
	eval, call, resolveException, dump             api.Function
	getString, freeCString, freeValue, newString   api.Function
	promiseState, promiseResult                    api.Function
	isJobPending, executePendingJob, getUndefined  api.Function
	newRuntime, newContext, enableLoader, enableIn api.Function
	newFunction, getFloat64                        api.Function
	// The bridge's own handles (hostcall.go), used while the engine is
	// inside QTS_Call.
	cbGetString, cbFreeCString, cbFree, cbNewString api.Function
	cbGetAB, cbGetABLen, cbNewAB                    api.Function

	rt, ctx   uint32 // JSRuntime*, JSContext*
	undefined uint32 // JSValueConst* of undefined
	dispatch  uint32 // JSValue* of __cfhost.dispatch
	tick      uint32 // JSValue* of __cfhost.tick: runs due timers
	jobCtx    uint32 // scratch for QTS_ExecutePendingJob's JSContext**
	mailbox   uint32 // the storage of the shim's mailbox (fastops.go)

	unresolved []string             // module names the loader could not find
	importedBy map[string][2]string // module name: importer, specifier
	stderr     bytes.Buffer         // the engine's own prints
	cur        *call                // the request being served
	inHost     bool                 // a bridge call is running (hostcall.go)
	broken     bool                 // a bridge call was made inside another: discard
	unmap      func()               // gives the linear memory back
}

const (
	evalGlobal = 0
	evalModule = 1 // JS_EVAL_TYPE_MODULE

	promisePending   = 0
	promiseFulfilled = 1
	promiseRejected  = 2
)

// snapshots holds a Runtime's shim image (snapshot.go), taken by the first
// instance that evaluates the shim.
type snapshots struct {
	image atomic.Pointer[shimImage]
	// off is set when the image cannot be taken: instances then evaluate
	// the shim each.
	off atomic.Bool
}

// newInstance instantiates the engine, restores the shim image of snap or
// evaluates the shim (taking the image if snap has none), and evaluates
// prog. A JS error comes back as *Error.
func newInstance(ctx context.Context, rt wazero.Runtime, cm wazero.CompiledModule, snap *snapshots, prog *Program) (*instance, error) {
	in := &instance{prog: prog}
	ctx = context.WithValue(ctx, instKey{}, in)
	mod, err := rt.InstantiateModule(withMemory(ctx, func(r func()) { in.unmap = r }), cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		if in.unmap != nil {
			in.unmap()
		}
		return nil, fmt.Errorf("instantiate js engine: %w", err)
	}
	in.mod, in.mem, in.stop = mod, mod.Memory(), wasmstop.For(mod)
	disarm := in.stop.Arm(ctx)
	ok := false
	defer func() {
		if disarm() || !ok {
			in.close(context.WithoutCancel(ctx))
		}
	}()
	for _, f := range []struct {
		dst   *api.Function
		cname string
	}{
		{&in.malloc, "malloc"}, {&in.cbMalloc, "malloc"}, {&in.free, "free"},
		{&in.eval, "QTS_Eval"}, {&in.call, "QTS_Call"}, {&in.resolveException, "QTS_ResolveException"},
		{&in.dump, "QTS_Dump"}, {&in.getString, "QTS_GetString"}, {&in.freeCString, "QTS_FreeCString"},
		{&in.freeValue, "QTS_FreeValuePointer"}, {&in.newString, "QTS_NewString"},
		{&in.promiseState, "QTS_PromiseState"}, {&in.promiseResult, "QTS_PromiseResult"},
		{&in.isJobPending, "QTS_IsJobPending"}, {&in.executePendingJob, "QTS_ExecutePendingJob"},
		{&in.getUndefined, "QTS_GetUndefined"}, {&in.newRuntime, "QTS_NewRuntime"},
		{&in.newContext, "QTS_NewContext"}, {&in.enableLoader, "QTS_RuntimeEnableModuleLoader"},
		{&in.enableIn, "QTS_RuntimeEnableInterruptHandler"},
		{&in.newFunction, "QTS_NewFunction"}, {&in.getFloat64, "QTS_GetFloat64"},
		{&in.cbNewString, "QTS_NewString"}, {&in.cbGetString, "QTS_GetString"},
		{&in.cbFreeCString, "QTS_FreeCString"}, {&in.cbFree, "free"},
		{&in.cbGetAB, "QTS_GetArrayBuffer"}, {&in.cbGetABLen, "QTS_GetArrayBufferLength"},
		{&in.cbNewAB, "QTS_NewArrayBuffer"},
	} {
		if *f.dst, err = exported(mod, f.cname); err != nil {
			return nil, err
		}
	}
	ctors, err := exported(mod, "__wasm_call_ctors")
	if err != nil {
		return nil, err
	}
	if _, err := ctors.Call(ctx); err != nil {
		return nil, fmt.Errorf("start js engine: %w", err)
	}
	var img *shimImage
	if snap != nil {
		img = snap.image.Load()
	}
	if img != nil {
		if !in.restore(img) {
			return nil, errors.New("js engine: the shim image does not fit the memory")
		}
	} else if err := in.startShim(ctx, snap); err != nil {
		return nil, err
	}
	v, err := in.evalCode(ctx, prog.bootstrap(), "cfhost:bootstrap", evalModule)
	if err == nil {
		v, err = in.await(ctx, v)
	}
	if err != nil {
		var je *Error
		if len(in.unresolved) > 0 && errors.As(err, &je) {
			name := in.unresolved[0]
			by := in.importedBy[name]
			if by[0] == "cfhost:bootstrap" {
				by = [2]string{"", name}
			}
			return nil, &Error{Name: "Error", Message: fmt.Sprintf("cannot resolve import %q (no module %q)", by[1], name), Module: by[0], Unresolved: name}
		}
		return nil, err
	}
	in.release(ctx, v)
	if in.dispatch, err = in.evalCode(ctx, "__cfhost.dispatch", "cfhost:dispatch", evalGlobal); err != nil {
		return nil, err
	}
	if disarm() {
		return nil, fmt.Errorf("set up js engine: %w", ctx.Err())
	}
	ok = true
	return in, nil
}

// startShim creates the QuickJS runtime and context and evaluates the
// shim; when snap has no image yet and nothing has failed, it takes one.
func (in *instance) startShim(ctx context.Context, snap *snapshots) error {
	var fresh map[uint32]bool
	capture := snap != nil && !snap.off.Load()
	if capture {
		if mem, ok := in.mem.Read(0, in.mem.Size()); ok {
			fresh = nonZeroPages(mem)
		}
	}
	var err error
	if in.rt, err = in.call1(ctx, in.newRuntime); err != nil {
		return err
	}
	if in.ctx, err = in.call1(ctx, in.newContext, uint64(in.rt), 0); err != nil {
		return err
	}
	if in.rt == 0 || in.ctx == 0 {
		return errors.New("js engine: out of memory creating the runtime")
	}
	if _, err := in.enableLoader.Call(ctx, uint64(in.rt), 1); err != nil {
		return err
	}
	if _, err := in.enableIn.Call(ctx, uint64(in.rt)); err != nil {
		return err
	}
	if in.undefined, err = in.call1(ctx, in.getUndefined); err != nil {
		return err
	}
	if in.jobCtx, err = in.call1(ctx, in.malloc, 4); err != nil {
		return err
	}
	v, err := in.evalCode(ctx, shimJS, "cfhost:shim.js", evalGlobal)
	if err != nil {
		return fmt.Errorf("js shim: %w", err)
	}
	in.release(ctx, v)
	if err := in.installHost(ctx); err != nil {
		return err
	}
	if in.tick, err = in.evalCode(ctx, "__cfhost.tick", "cfhost:tick", evalGlobal); err != nil {
		return err
	}
	if capture && snap.image.Load() == nil {
		return in.takeImage(ctx, snap, fresh)
	}
	return nil
}

// takeImage copies the instance's memory into snap, with where
// Math.random's state is, found by calling it once.
func (in *instance) takeImage(ctx context.Context, snap *snapshots, fresh map[uint32]bool) error {
	img := in.captureImage(fresh)
	const ctxBytes = 2048
	before, ok := in.mem.Read(in.ctx, ctxBytes)
	if img == nil || !ok {
		snap.off.Store(true)
		return nil
	}
	before = append([]byte(nil), before...)
	v, err := in.evalCode(ctx, "Math.random()", "cfhost:random", evalGlobal)
	if err != nil {
		return err
	}
	in.release(ctx, v)
	after, _ := in.mem.Read(in.ctx, ctxBytes)
	if img.random, ok = findRandomState(before, after); !ok {
		snap.off.Store(true)
		return nil
	}
	snap.image.CompareAndSwap(nil, img)
	return nil
}

// close discards the instance. No call into it may be running.
func (in *instance) close(ctx context.Context) {
	if in.mod != nil {
		_ = in.mod.Close(ctx)
	}
	if in.unmap != nil {
		in.unmap()
		in.unmap = nil
	}
}

// call1 calls an engine function that returns one i32.
func (in *instance) call1(ctx context.Context, f api.Function, args ...uint64) (uint32, error) {
	r, err := f.Call(ctx, args...)
	if err != nil {
		return 0, err
	}
	if len(r) == 0 {
		return 0, nil
	}
	return uint32(r[0]), nil
}

// mallocString copies s into the engine's heap, NUL-terminated; 0 when
// the heap is full. Inside a module-loader callback it uses cbMalloc.
func (in *instance) mallocString(ctx context.Context, s string) uint32 {
	return in.mallocWith(ctx, in.cbMalloc, s)
}

func (in *instance) mallocWith(ctx context.Context, malloc api.Function, s string) uint32 {
	p, err := in.call1(ctx, malloc, uint64(len(s)+1))
	if err != nil || p == 0 {
		return 0
	}
	buf, ok := in.mem.Read(p, uint32(len(s)+1))
	if !ok {
		return 0
	}
	copy(buf, s)
	buf[len(s)] = 0
	return p
}

func (in *instance) freePtr(ctx context.Context, p uint32) {
	if p != 0 {
		_, _ = in.free.Call(ctx, uint64(p))
	}
}

// release frees an owned JSValue*.
func (in *instance) release(ctx context.Context, v uint32) {
	if v != 0 {
		_, _ = in.freeValue.Call(ctx, uint64(in.ctx), uint64(v))
	}
}

// evalCode evaluates code as a global script or an ES module.
func (in *instance) evalCode(ctx context.Context, code, filename string, flags uint64) (uint32, error) {
	cp := in.mallocWith(ctx, in.malloc, code)
	fp := in.mallocWith(ctx, in.malloc, filename)
	defer in.freePtr(ctx, cp)
	defer in.freePtr(ctx, fp)
	if cp == 0 || fp == 0 {
		return 0, &Error{Name: "InternalError", Message: "out of memory"}
	}
	v, err := in.call1(ctx, in.eval, uint64(in.ctx), uint64(cp), uint64(len(code)), uint64(fp), 0, flags)
	if err != nil {
		return 0, err
	}
	return v, in.exception(ctx, v)
}

// exception turns v into an *Error if it is the exception marker,
// releasing v then.
func (in *instance) exception(ctx context.Context, v uint32) error {
	if v == 0 {
		return &Error{Name: "InternalError", Message: "out of memory"}
	}
	e, err := in.call1(ctx, in.resolveException, uint64(in.ctx), uint64(v))
	if err != nil {
		return err
	}
	if e == 0 {
		return nil
	}
	in.release(ctx, v)
	defer in.release(ctx, e)
	return in.describe(ctx, e)
}

// describe reads a thrown value as an *Error.
func (in *instance) describe(ctx context.Context, e uint32) error {
	p, err := in.call1(ctx, in.dump, uint64(in.ctx), uint64(e))
	if err != nil {
		return err
	}
	s := in.readCString(p)
	_, _ = in.freeCString.Call(ctx, uint64(in.ctx), uint64(p))
	je := &Error{}
	if json.Unmarshal([]byte(s), je) != nil || (je.Name == "" && je.Message == "") {
		je = &Error{Name: "Error", Message: "Uncaught " + s}
	}
	return je
}

// readCString copies a NUL-terminated string out of the engine's memory.
func (in *instance) readCString(p uint32) string {
	if p == 0 {
		return ""
	}
	return string(in.cBytes(p))
}

// installHost creates the bridge function and the mailbox and hands them
// to the shim.
func (in *instance) installHost(ctx context.Context) error {
	name := in.mallocWith(ctx, in.malloc, "host")
	if name == 0 {
		return &Error{Name: "InternalError", Message: "out of memory"}
	}
	fn, err := in.call1(ctx, in.newFunction, uint64(in.ctx), uint64(name), 3, 0, hostFnID)
	in.freePtr(ctx, name)
	if err != nil {
		return err
	}
	if err := in.exception(ctx, fn); err != nil {
		return err
	}
	defer in.release(ctx, fn)
	// The mailbox's storage is ours to address; the ArrayBuffer owns it
	// and the shim keeps it for the instance's life.
	if in.mailbox, err = in.call1(ctx, in.malloc, mailboxSize); err != nil {
		return err
	}
	if in.mailbox == 0 {
		return &Error{Name: "InternalError", Message: "out of memory"}
	}
	mb, err := in.call1(ctx, in.cbNewAB, uint64(in.ctx), uint64(in.mailbox), mailboxSize)
	if err != nil {
		return err
	}
	if err := in.exception(ctx, mb); err != nil {
		return err
	}
	defer in.release(ctx, mb)
	set, err := in.evalCode(ctx, "__cfhost.setHost", "cfhost:setHost", evalGlobal)
	if err != nil {
		return err
	}
	defer in.release(ctx, set)
	r, err := in.callJS(ctx, set, fn, mb)
	if err != nil {
		return err
	}
	in.release(ctx, r)
	return nil
}

// callJS calls the JS function f with JSValue* arguments and returns its
// result; a thrown exception comes back as *Error.
func (in *instance) callJS(ctx context.Context, f uint32, args ...uint32) (uint32, error) {
	var argv uint32
	if len(args) > 0 {
		p, err := in.call1(ctx, in.malloc, uint64(4*len(args)))
		if err != nil {
			return 0, err
		}
		if p == 0 {
			return 0, &Error{Name: "InternalError", Message: "out of memory"}
		}
		for i, a := range args {
			in.mem.WriteUint32Le(p+uint32(4*i), a)
		}
		argv = p
		defer in.freePtr(ctx, p)
	}
	r, err := in.call1(ctx, in.call, uint64(in.ctx), uint64(f), uint64(in.undefined), uint64(len(args)), uint64(argv))
	if err != nil {
		return 0, err
	}
	return r, in.exception(ctx, r)
}

// await runs the event loop until the promise v settles and returns its
// result (v itself when it is not a promise): pending jobs first, then,
// with none left, the timers, sleeping until the next is due. The
// deadline in ctx ends the sleep.
func (in *instance) await(ctx context.Context, v uint32) (uint32, error) {
	for {
		st, err := in.call1(ctx, in.promiseState, uint64(in.ctx), uint64(v))
		if err != nil {
			return 0, err
		}
		switch int32(st) {
		case promisePending:
			pending, err := in.call1(ctx, in.isJobPending, uint64(in.rt))
			if err != nil {
				return 0, err
			}
			if pending != 0 {
				r, err := in.call1(ctx, in.executePendingJob, uint64(in.rt), ^uint64(0)>>32, uint64(in.jobCtx))
				if err != nil {
					return 0, err
				}
				if err := in.exception(ctx, r); err != nil {
					in.release(ctx, v)
					return 0, err
				}
				in.release(ctx, r)
				continue
			}
			wait, err := in.nextTimer(ctx)
			if err != nil {
				in.release(ctx, v)
				return 0, err
			}
			if pending, err = in.call1(ctx, in.isJobPending, uint64(in.rt)); err != nil {
				return 0, err
			}
			if pending != 0 {
				continue // a timer ran and queued work
			}
			if wait < 0 {
				if st, err := in.call1(ctx, in.promiseState, uint64(in.ctx), uint64(v)); err != nil || int32(st) != promisePending {
					continue // settled by a timer, or the next call reports the error
				}
				in.release(ctx, v)
				return 0, &Error{Name: "Error", Message: "the promise never settled: nothing is left to run"}
			}
			if wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					in.release(ctx, v)
					return 0, ctx.Err()
				}
			}
		case promiseFulfilled, promiseRejected:
			r, err := in.call1(ctx, in.promiseResult, uint64(in.ctx), uint64(v))
			in.release(ctx, v)
			if err != nil {
				return 0, err
			}
			if int32(st) == promiseRejected {
				defer in.release(ctx, r)
				return 0, in.describe(ctx, r)
			}
			return r, nil
		default: // not a promise
			return v, nil
		}
	}
}

// nextTimer runs the timers that are due and returns how long until the
// next one, or -1 when none is set.
func (in *instance) nextTimer(ctx context.Context) (time.Duration, error) {
	r, err := in.callJS(ctx, in.tick)
	if err != nil {
		return 0, err
	}
	defer in.release(ctx, r)
	res, err := in.getFloat64.Call(ctx, uint64(in.ctx), uint64(r))
	if err != nil {
		return 0, err
	}
	ms := math.Float64frombits(res[0])
	if ms < 0 || math.IsNaN(ms) {
		return -1, nil
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}

// run serves the request c on the instance: the shim's dispatch asks for
// the request, runs the handler and sends the response through c, and
// says when it is done (fastops.go); run runs the jobs and timers that
// takes. It returns "" or the description of the handler's uncaught error.
func (in *instance) run(ctx context.Context, c *call) (string, error) {
	ctx = context.WithValue(ctx, instKey{}, in)
	in.cur = c
	defer func() { in.cur = nil }()
	if err := in.callQuick(ctx, in.call, uint64(in.ctx), uint64(in.dispatch), uint64(in.undefined), 0, 0); err != nil {
		return "", err
	}
	for !c.done {
		pending, err := in.call1(ctx, in.isJobPending, uint64(in.rt))
		if err != nil {
			return "", err
		}
		if pending != 0 {
			// Every pending job, and those they queue, in one call.
			if err := in.callQuick(ctx, in.executePendingJob, uint64(in.rt), ^uint64(0)>>32, uint64(in.jobCtx)); err != nil {
				return "", err
			}
			continue
		}
		wait, err := in.nextTimer(ctx)
		if err != nil {
			return "", err
		}
		if c.done {
			break
		}
		if pending, err = in.call1(ctx, in.isJobPending, uint64(in.rt)); err != nil {
			return "", err
		}
		if pending != 0 {
			continue // a timer ran and queued work
		}
		if wait < 0 {
			return "", &Error{Name: "Error", Message: "the promise never settled: nothing is left to run"}
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return "", ctx.Err()
			}
		}
	}
	return c.uncaught, nil
}

// callQuick calls an engine function returning an owned JSValue* whose
// value is of no interest unless it is an exception: the tag is read from
// memory, so only an exception costs more calls.
func (in *instance) callQuick(ctx context.Context, f api.Function, args ...uint64) error {
	r, err := in.call1(ctx, f, args...)
	if err != nil {
		return err
	}
	if r == 0 {
		return &Error{Name: "InternalError", Message: "out of memory"}
	}
	if tag, _ := in.valueAt(r); tag == tagException {
		return in.exception(ctx, r)
	}
	in.release(ctx, r)
	return nil
}

// Error is an exception thrown by JS: at deploy time a syntax error, a
// missing import or a bad entrypoint; at request time an uncaught error.
type Error struct {
	Name    string `json:"name"`
	Message string `json:"message"`
	Stack   string `json:"stack"`
	// Unresolved is the module name an import could not find, if that
	// is what failed, and Module the module importing it.
	Unresolved string `json:"-"`
	Module     string `json:"-"`
}

var stackPos = regexp.MustCompile(`at (?:[^\n(]*\()?([^\s()]+:\d+:\d+)\)?`)

// Position is the module:line:col the error points at, or "".
func (e *Error) Position() string {
	for _, m := range stackPos.FindAllStringSubmatch(e.Stack, -1) {
		if !strings.HasPrefix(m[1], "cfhost:") {
			return m[1]
		}
	}
	return ""
}

func (e *Error) Error() string {
	msg := e.Name + ": " + e.Message
	if pos := e.Position(); pos != "" {
		return pos + ": " + msg
	}
	if e.Module != "" {
		return e.Module + ": " + msg
	}
	return msg
}
