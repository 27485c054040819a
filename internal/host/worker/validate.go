package worker

// Deploy-time checks of a WASI module: the imports it may use, its memory
// and start function, and compiling it into the cache.

import (
	"context"
	"fmt"
	"runtime"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/cfdeploy/cfdeploy/internal/wasmstop"
	cfapi "github.com/cfdeploy/cfdeploy/pkg/api"
)

// Prepare validates a module and compiles it, at deploy time, so that no
// request ever waits for a compilation. A module is refused, with an
// *api.Error of code invalid whose message says why, unless it is a core
// WebAssembly module of at most MaxModuleSize bytes that imports only
// wasi_snapshot_preview1 functions, exports a _start function (a WASI
// command) or is a guest-mode reactor (_initialize plus the pkg/guest
// exports, see guestmode.go), exports a memory, and whose initial memory fits the
// memory limit. hash must be Hash(wasm). The compiled module is written to
// the cache directory and kept loaded.
func (rt *Runtime) Prepare(ctx context.Context, hash string, wasm []byte) error {
	if rt.closed.Load() {
		return ErrClosed
	}
	if int64(len(wasm)) > rt.cfg.MaxModuleSize {
		return invalidf("server module is %d bytes, over the limit of %d bytes", len(wasm), rt.cfg.MaxModuleSize)
	}
	if got := Hash(wasm); hash != got {
		return invalidf("server module hash %q does not match its content (sha256 %s)", hash, got)
	}
	if err := checkHeader(wasm); err != nil {
		return invalidf("server module: %v", err)
	}
	if err := checkImports(wasm); err != nil {
		return err
	}
	prog, err := rt.build(ctx, hash, wasm)
	if err != nil {
		return err
	}
	if err := rt.checkCompiled(prog.compiled, rt.cfg.MemoryLimit); err != nil {
		prog.close(ctx)
		return err
	}
	rt.modules.put(ctx, hash, prog)
	return nil
}

func invalidf(format string, args ...any) error {
	return cfapi.Errorf(cfapi.CodeInvalid, format, args...)
}

// checkImports refuses any import that is not a WASI preview1 function.
func checkImports(wasm []byte) error {
	sections, err := readSections(wasm)
	if err != nil {
		return invalidf("server module: %v", err)
	}
	for _, s := range sections {
		if s.id != sectionImport {
			continue
		}
		imports, err := readImports(s.payload)
		if err != nil {
			return invalidf("server module import section: %v", err)
		}
		for _, im := range imports {
			if im.module != wasi_snapshot_preview1.ModuleName {
				return invalidf("server module imports %s %q from module %q; only %s functions are available (no host SDK yet)",
					im.kindName(), im.name, im.module, wasi_snapshot_preview1.ModuleName)
			}
			if im.kind != 0 {
				return invalidf("server module imports %s %q from %s; only functions can be imported",
					im.kindName(), im.name, im.module)
			}
		}
	}
	return nil
}

// compile compiles one module at a time, spreading the work over the cores.
// The entry it adds to the on-disk cache is recorded under hash, the hash
// of the module as deployed (diskCache).
func (rt *Runtime) compile(ctx context.Context, hash string, wasm []byte) (wazero.CompiledModule, error) {
	rt.compileMu.Lock()
	defer rt.compileMu.Unlock()
	if rt.closed.Load() {
		return nil, ErrClosed
	}
	wasm, err := wasmstop.Rewrite(wasm)
	if err != nil {
		return nil, invalidf("server module cannot be compiled: %v", err)
	}
	before := rt.disk.listEntries()
	cctx := experimental.WithCompilationWorkers(ctx, runtime.GOMAXPROCS(0))
	compiled, err := rt.rt.CompileModule(cctx, wasm)
	if err == nil {
		rt.disk.compiled(hash, before)
	}
	if err != nil {
		if ctx.Err() != nil || rt.closed.Load() {
			return nil, fmt.Errorf("compile server module: %w", err)
		}
		return nil, invalidf("server module does not compile: %v", err)
	}
	return compiled, nil
}

// build turns module bytes into a compiledProgram. Where memory images are
// supported and the module's data segments allow it, the data section is
// lifted into an image first (image.go) and the rewritten module compiled;
// the rewrite is deterministic, so the on-disk cache still hits. An image
// is as large as the initial memory, so none is made for a module whose
// initial memory is over the memory limit (Prepare refuses it once
// compiled): 65536 pages declared in a few bytes would be a 4 GiB image.
func (rt *Runtime) build(ctx context.Context, hash string, wasm []byte) (*compiledProgram, error) {
	code, image := wasm, []byte(nil)
	if imagesSupported {
		if minMem, ok := initialMemory(wasm); ok && minMem <= uint64(rt.cfg.MemoryLimit) {
			if c, img, err := liftData(wasm, minMem); err == nil {
				code, image = c, img
			}
		}
	}
	compiled, err := rt.compile(ctx, hash, code)
	if err != nil {
		return nil, err
	}
	prog := &compiledProgram{compiled: compiled, maxFree: rt.cfg.Concurrency, pools: map[uint64]*memoryPool{}}
	prog.guestMode = isGuestReactor(compiled)
	prog.forget = func() { rt.instances.forget(prog) }
	if mem, ok := compiled.ExportedMemories()["memory"]; ok {
		prog.minMemory = uint64(mem.Min()) * wasmPageSize
	}
	if image != nil {
		if prog.image, err = newMemImage(image); err != nil {
			_ = compiled.Close(ctx)
			return nil, fmt.Errorf("server module memory image: %w", err)
		}
	}
	return prog, nil
}

// checkCompiled enforces the WASI command contract on a compiled module.
func (rt *Runtime) checkCompiled(m wazero.CompiledModule, memoryLimit int64) error {
	for _, f := range m.ImportedFunctions() {
		mod, name, _ := f.Import()
		def, ok := rt.wasi[name]
		if mod != wasi_snapshot_preview1.ModuleName || !ok {
			return invalidf("server module imports %s.%s, which this host's WASI preview1 does not provide", mod, name)
		}
		if !sameSignature(def, f) {
			return invalidf("server module imports %s.%s with the wrong signature", mod, name)
		}
	}
	start, ok := m.ExportedFunctions()["_start"]
	if !ok && isGuestReactor(m) {
		start, ok = m.ExportedFunctions()["_initialize"]
	}
	if !ok {
		if _, reactor := m.ExportedFunctions()["_initialize"]; reactor {
			return invalidf("server module is a WASI reactor (exports _initialize, no _start); build a command: a main package with GOOS=wasip1, or clang without -mexec-model=reactor; or serve requests from a long-lived instance with pkg/guest, whose reactor exports %s and %s", guestAllocExport, guestServeExport)
		}
		return invalidf("server module exports no _start function; it must be a WASI preview1 command")
	}
	if len(start.ParamTypes()) != 0 || len(start.ResultTypes()) != 0 {
		return invalidf("server module's _start must take and return nothing")
	}
	mem, ok := m.ExportedMemories()["memory"]
	if !ok {
		return invalidf("server module exports no memory named \"memory\"")
	}
	if minBytes := int64(mem.Min()) * wasmPageSize; minBytes > memoryLimit {
		return invalidf("server module needs %d MiB of memory at start, over the limit of %d MiB",
			minBytes>>20, memoryLimit>>20)
	}
	return nil
}

func sameSignature(a, b api.FunctionDefinition) bool {
	return equalTypes(a.ParamTypes(), b.ParamTypes()) && equalTypes(a.ResultTypes(), b.ResultTypes())
}

func equalTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
