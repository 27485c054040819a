package jsrt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// instance is one engine: a wasm module instance with a QuickJS runtime and
// context in it, the shim and a deployment's modules evaluated. It serves
// one request at a time; one that trapped or hit a deadline is closed.
type instance struct {
	prog *Program
	mod  api.Module
	mem  api.Memory

	// Engine functions called from Go. A wazero Function is not
	// re-entrant, so the module loader, which runs inside QTS_Eval, has
	// its own malloc.
	malloc, cbMalloc, free                         api.Function
	eval, call, resolveException, dump             api.Function
	getString, freeCString, freeValue, newString   api.Function
	promiseState, promiseResult                    api.Function
	isJobPending, executePendingJob, getUndefined  api.Function
	newRuntime, newContext, enableLoader, enableIn api.Function

	rt, ctx   uint32 // JSRuntime*, JSContext*
	undefined uint32 // JSValueConst* of undefined
	dispatch  uint32 // JSValue* of __cfhost.dispatch
	jobCtx    uint32 // scratch for QTS_ExecutePendingJob's JSContext**

	unresolved []string             // module names the loader could not find
	importedBy map[string][2]string // module name: importer, specifier
	stderr     bytes.Buffer         // the engine's own prints
}

const (
	evalGlobal = 0
	evalModule = 1 // JS_EVAL_TYPE_MODULE

	promisePending   = 0
	promiseFulfilled = 1
	promiseRejected  = 2
)

// newInstance instantiates the engine and evaluates the shim and prog.
// A JS error comes back as *Error.
func newInstance(ctx context.Context, rt wazero.Runtime, cm wazero.CompiledModule, prog *Program) (*instance, error) {
	in := &instance{prog: prog}
	ctx = context.WithValue(ctx, instKey{}, in)
	mod, err := rt.InstantiateModule(withMemory(ctx), cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		return nil, fmt.Errorf("instantiate js engine: %w", err)
	}
	in.mod, in.mem = mod, mod.Memory()
	ok := false
	defer func() {
		if !ok {
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
	if in.rt, err = in.call1(ctx, in.newRuntime); err != nil {
		return nil, err
	}
	if in.ctx, err = in.call1(ctx, in.newContext, uint64(in.rt), 0); err != nil {
		return nil, err
	}
	if in.rt == 0 || in.ctx == 0 {
		return nil, errors.New("js engine: out of memory creating the runtime")
	}
	if _, err := in.enableLoader.Call(ctx, uint64(in.rt), 1); err != nil {
		return nil, err
	}
	if _, err := in.enableIn.Call(ctx, uint64(in.rt)); err != nil {
		return nil, err
	}
	if in.undefined, err = in.call1(ctx, in.getUndefined); err != nil {
		return nil, err
	}
	if in.jobCtx, err = in.call1(ctx, in.malloc, 4); err != nil {
		return nil, err
	}
	v, err := in.evalCode(ctx, shimJS, "cfhost:shim.js", evalGlobal)
	if err != nil {
		return nil, fmt.Errorf("js shim: %w", err)
	}
	in.release(ctx, v)
	v, err = in.evalCode(ctx, prog.bootstrap(), "cfhost:bootstrap", evalModule)
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
	ok = true
	return in, nil
}

func (in *instance) close(ctx context.Context) {
	if in.mod != nil {
		_ = in.mod.Close(ctx)
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
	buf, ok := in.mem.Read(p, in.mem.Size()-p)
	if !ok {
		return ""
	}
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		return string(buf[:i])
	}
	return ""
}

// await runs pending jobs until the promise v settles and returns its
// result (v itself when it is not a promise).
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
			if pending == 0 {
				in.release(ctx, v)
				return 0, &Error{Name: "Error", Message: "the promise never settled: nothing is left to run"}
			}
			r, err := in.call1(ctx, in.executePendingJob, uint64(in.rt), 1, uint64(in.jobCtx))
			if err != nil {
				return 0, err
			}
			if err := in.exception(ctx, r); err != nil {
				in.release(ctx, v)
				return 0, err
			}
			in.release(ctx, r)
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

// fetch hands one request, as JSON, to the shim's dispatch and returns its
// answer, as JSON.
func (in *instance) fetch(ctx context.Context, req []byte) (string, error) {
	ctx = context.WithValue(ctx, instKey{}, in)
	sp := in.mallocWith(ctx, in.malloc, string(req))
	if sp == 0 {
		return "", &Error{Name: "InternalError", Message: "out of memory"}
	}
	s, err := in.call1(ctx, in.newString, uint64(in.ctx), uint64(sp))
	in.freePtr(ctx, sp)
	if err != nil {
		return "", err
	}
	argv, err := in.call1(ctx, in.malloc, 4)
	if err != nil {
		return "", err
	}
	if argv == 0 {
		return "", &Error{Name: "InternalError", Message: "out of memory"}
	}
	in.mem.WriteUint32Le(argv, s)
	r, err := in.call1(ctx, in.call, uint64(in.ctx), uint64(in.dispatch), uint64(in.undefined), 1, uint64(argv))
	in.freePtr(ctx, argv)
	in.release(ctx, s)
	if err != nil {
		return "", err
	}
	if err := in.exception(ctx, r); err != nil {
		return "", err
	}
	if r, err = in.await(ctx, r); err != nil {
		return "", err
	}
	defer in.release(ctx, r)
	p, err := in.call1(ctx, in.getString, uint64(in.ctx), uint64(r))
	if err != nil {
		return "", err
	}
	out := in.readCString(p)
	_, _ = in.freeCString.Call(ctx, uint64(in.ctx), uint64(p))
	return out, nil
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
