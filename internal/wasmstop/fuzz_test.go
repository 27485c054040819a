package wasmstop

import (
	"context"
	"errors"
	"testing"

	"github.com/tetratelabs/wazero"
)

// FuzzRewrite checks, on mutated modules, that the rewrite never panics,
// and that a module wazero accepts is rewritten into one wazero accepts.
func FuzzRewrite(f *testing.F) {
	for _, m := range []testModule{spinModule, forkModule, sumModule} {
		f.Add(m.bytes())
	}
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add(sectionsModule())
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		rw, rerr := Rewrite(wasm)
		if errors.Is(rerr, errMalformed) {
			return // refused on purpose, wazero might choke on it (see plausibleCount)
		}
		cm, err := rt.CompileModule(ctx, wasm)
		if err != nil {
			return
		}
		cm.Close(ctx)
		if rerr != nil {
			t.Fatalf("wazero compiles the module, the rewrite fails: %v", rerr)
		}
		cm, err = rt.CompileModule(ctx, rw)
		if err != nil {
			t.Fatalf("the rewritten module does not compile: %v", err)
		}
		cm.Close(ctx)
	})
}

// FuzzDecode feeds arbitrary bytes to the instruction decoder.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0, opLoop, blockEmpty, 0x0c, 0, opEnd, opEnd})
	f.Add([]byte{0, 0xfd, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, opEnd})
	f.Add([]byte{0, opTryTable, blockEmpty, 2, 0, 1, 2, 2, 0, opEnd, opEnd})
	f.Fuzz(func(t *testing.T, body []byte) {
		_ = walkBody(body, 2, func(_ byte, at int) {
			if at < 0 || at > len(body) {
				t.Fatalf("offset %d out of the body", at)
			}
		})
	})
}

// sectionsModule has one of each section whose vectors the rewrite checks
// against wazero's allocations (plausibleNested, capTables): a table, an
// element and a data segment, and a name section with a module name,
// function names and local names, for the fuzzer to mutate.
func sectionsModule() []byte {
	m := []byte("\x00asm\x01\x00\x00\x00")
	sec := func(id byte, body ...byte) {
		m = append(m, id)
		m = appendULEB(m, uint32(len(body)))
		m = append(m, body...)
	}
	sec(secType, 1, 0x60, 1, i32, 0)
	sec(secFunction, 1, 0)
	sec(secTable, 1, 0x70, 0, 1)
	sec(secMemory, 1, 0, 1)
	sec(secExport, 1, 1, 'f', 0, 0)
	sec(9, 1, 0, opI32Const, 0, opEnd, 1, 0)
	sec(secCode, 1, 7, 1, 1, i64, opLoop, blockEmpty, opEnd, opEnd)
	sec(11, 1, 0, opI32Const, 0, opEnd, 2, 'h', 'i')
	names := append(name("name"), 0, 2, 1, 'm')
	names = append(names, 1, 4, 1, 0, 1, 'f')
	names = append(names, 2, 9, 1, 0, 2, 0, 1, 'a', 1)
	names = append(names, 1, 'b')
	sec(secCustom, names...)
	return m
}
