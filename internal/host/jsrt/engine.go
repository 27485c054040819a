package jsrt

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/cfdeploy/cfdeploy/internal/wasmstop"
)

// engineWasm is QuickJS-ng built by emscripten (see engine.version).
//
//go:embed engine.wasm
var engineWasm []byte

// shimJS defines the Workers globals and the dispatch bridge.
//
//go:embed shim.js
var shimJS string

// engineSum returns the sha256 of the embedded engine, for the test that
// pins it.
func engineSum() string {
	s := sha256.Sum256(engineWasm)
	return hex.EncodeToString(s[:])
}

// wasmPage is the size of a wasm memory page.
const wasmPage = 64 << 10

// compileEngine compiles the engine with its memory defined in the module
// and capped at limit bytes, and instantiates the host functions it imports.
// Unless noHardStop, the engine is rewritten first so that an instance can
// be stopped anywhere, even inside a C builtin (wasmstop).
func compileEngine(ctx context.Context, rt wazero.Runtime, limit int64, noHardStop bool) (wazero.CompiledModule, error) {
	if got := engineSum(); got != engineSHA256 {
		return nil, fmt.Errorf("engine.wasm sha256 %s, want %s: run go generate", got, engineSHA256)
	}
	pages := uint32(limit / wasmPage)
	wasm, err := defineMemory(engineWasm, pages)
	if err != nil {
		return nil, err
	}
	if !noHardStop {
		if wasm, err = wasmstop.Rewrite(wasm); err != nil {
			return nil, fmt.Errorf("js engine: %w", err)
		}
	}
	if err := instantiateHost(ctx, rt); err != nil {
		return nil, err
	}
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("compile js engine: %w", err)
	}
	return cm, nil
}

// exported returns the engine function a C name maps to.
func exported(mod api.Module, cname string) (api.Function, error) {
	name, ok := exportNames[cname]
	if !ok {
		return nil, fmt.Errorf("engine: no export for %s", cname)
	}
	f := mod.ExportedFunction(name)
	if f == nil {
		return nil, fmt.Errorf("engine: export %s (%s) missing", name, cname)
	}
	return f, nil
}
