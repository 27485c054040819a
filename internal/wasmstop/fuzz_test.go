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
