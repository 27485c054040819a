package wasmstop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/cfdeploy/cfdeploy/internal/wasmcache"
)

// envModule exports the i32 global env.g that sumModule imports.
func envModule() []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	g := vec([]byte{i32, 0, opI32Const, 5, opEnd})
	out = append(append(append(out, secGlobal), appendULEB(nil, uint32(len(g)))...), g...)
	e := vec(append(name("g"), 3, 0))
	return append(append(append(out, secExport), appendULEB(nil, uint32(len(e)))...), e...)
}

// newRuntime is a compiler runtime without wazero's own hard stop.
func newRuntime(t testing.TB) wazero.Runtime {
	t.Helper()
	return newRuntimeConfig(t, wazero.NewRuntimeConfigCompiler())
}

// newCachedRuntime is newRuntime keeping its machine code in a compilation
// cache seeded from, and kept into, the test cache (internal/wasmcache), for
// modules that take long to compile.
func newCachedRuntime(t testing.TB) wazero.Runtime {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "wasm-cache")
	wasmcache.Seed(dir)
	t.Cleanup(func() { wasmcache.Keep(dir) }) // after the runtime's Close
	cache, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close(context.Background()) })
	return newRuntimeConfig(t, wazero.NewRuntimeConfigCompiler().WithCompilationCache(cache))
}

func newRuntimeConfig(t testing.TB, cfg wazero.RuntimeConfig) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	t.Cleanup(func() { rt.Close(ctx) })
	if _, err := rt.InstantiateWithConfig(ctx, envModule(), wazero.NewModuleConfig().WithName("env")); err != nil {
		t.Fatal(err)
	}
	return rt
}

func instantiate(t testing.TB, rt wazero.Runtime, wasm []byte) api.Module {
	t.Helper()
	rw, err := Rewrite(wasm)
	if err != nil {
		t.Fatalf("rewrite: %v", err)
	}
	mod, err := rt.InstantiateWithConfig(context.Background(), rw, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatalf("instantiate the rewritten module: %v", err)
	}
	return mod
}

// TestRewriteKeepsResults runs functions before and after the rewrite,
// with far more probes than FuelPerYield, and compares.
func TestRewriteKeepsResults(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t)
	orig, err := rt.InstantiateWithConfig(ctx, sumModule.bytes(), wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	rw := instantiate(t, rt, sumModule.bytes())
	for _, tc := range []struct {
		fn  string
		arg uint64
	}{{"sum", 0}, {"sum", 7}, {"sum", 3 * FuelPerYield}, {"count", 0}, {"count", 16}} {
		t.Run(tc.fn, func(t *testing.T) {
			want, err := orig.ExportedFunction(tc.fn).Call(ctx, tc.arg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := rw.ExportedFunction(tc.fn).Call(ctx, tc.arg)
			if err != nil || got[0] != want[0] {
				t.Fatalf("%s(%d) = %v, %v after the rewrite, want %v", tc.fn, tc.arg, got, err, want)
			}
		})
	}
	if g := rw.ExportedGlobal(StopExport); g == nil || g.Get() != 0 {
		t.Fatalf("stop global %v", g)
	}
}

// TestStopEndsRunawayCode stops, at a context's deadline, code that never
// calls the host: an endless loop, and 2^60 calls without any loop. Each
// runs several times: a stop lands at a random point of the probe, and an
// early probe that read the fuel twice let one stop in three go unseen for
// 2^32 probes.
func TestStopEndsRunawayCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    testModule
		fn   string
		args []uint64
	}{
		{"loop", spinModule, "spin", nil},
		{"calls", forkModule, "fork", []uint64{60}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newRuntime(t)
			for range 5 {
				mod := instantiate(t, rt, tc.m.bytes())
				s := For(mod)
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				disarm := s.Arm(ctx)
				_, err := mod.ExportedFunction(tc.fn).Call(ctx, tc.args...)
				cancel()
				if err == nil || !strings.Contains(err.Error(), "unreachable") {
					t.Fatalf("got %v, want the unreachable trap", err)
				}
				if !disarm() || !s.Stopped() {
					t.Fatal("disarm does not report the stop")
				}
			}
		})
	}
}

// TestStopBetweenHostCalls stops code that spends its time in a host
// function, with one probe between two calls: it must trap at the first
// probe after the stop, not FuelPerYield calls later.
func TestStopBetweenHostCalls(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t)
	var calls atomic.Int64
	_, err := rt.NewHostModuleBuilder("host").NewFunctionBuilder().WithFunc(func() {
		calls.Add(1)
		time.Sleep(time.Millisecond)
	}).Export("wait").Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mod := instantiate(t, rt, waitModule.bytes())
	s := For(mod)
	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	disarm := s.Arm(ctx)
	_, err = mod.ExportedFunction("wait").Call(ctx)
	if err == nil || !disarm() {
		t.Fatalf("got %v", err)
	}
	if n := calls.Load(); n >= FuelPerYield/2 {
		t.Fatalf("%d host calls ran: the stop waited for the fuel to run out", n)
	}
}

// TestDisarmKeepsInstance arms a stop for a call that ends in time: the
// instance is not stopped and serves again.
func TestDisarmKeepsInstance(t *testing.T) {
	mod := instantiate(t, newRuntime(t), sumModule.bytes())
	s := For(mod)
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		disarm := s.Arm(ctx)
		if _, err := mod.ExportedFunction("sum").Call(ctx, 100); err != nil {
			t.Fatal(err)
		}
		stopped := disarm()
		cancel()
		if stopped {
			t.Fatal("a call that ended in time was stopped")
		}
	}
}

// TestGarbageCollectionDuringRunawayCode collects garbage while a module
// spins: the collection must finish although the spinning goroutine never
// calls the host, since the probes visit Go now and then. Without those
// visits the collection, and with it the whole process, would wait for the
// spin to end; here the spin only ends once the collection is done.
func TestGarbageCollectionDuringRunawayCode(t *testing.T) {
	mod := instantiate(t, newRuntime(t), spinModule.bytes())
	s := For(mod)
	started := make(chan struct{})
	go func() {
		<-started
		time.Sleep(50 * time.Millisecond)
		for range 3 {
			runtime.GC()
		}
		s.Stop()
	}()
	close(started)
	_, err := mod.ExportedFunction("spin").Call(context.Background())
	if err == nil || !s.Stopped() {
		t.Fatalf("got %v", err)
	}
}

func TestRewriteRefusesRewritten(t *testing.T) {
	rw, err := Rewrite(spinModule.bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Rewrite(rw); err == nil {
		t.Fatal("a rewritten module was rewritten again")
	}
}

func TestRewriteRefusesBadModules(t *testing.T) {
	good := spinModule.bytes()
	for _, tc := range []struct {
		name string
		wasm []byte
	}{
		{"empty", nil},
		{"not wasm", []byte("hello world!")},
		{"version 2", append([]byte("\x00asm\x02\x00\x00\x00"), good[8:]...)},
		{"truncated", good[:len(good)-3]},
		{"unknown opcode", testModule{funcs: []testFunc{{code: []byte{0xff}}}}.bytes()},
		{"unclosed block", testModule{funcs: []testFunc{{code: []byte{opBlock, blockEmpty}}}}.bytes()},
		{"code past end", testModule{funcs: []testFunc{{code: []byte{opEnd, 0x01}}}}.bytes()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Rewrite(tc.wasm); err == nil {
				t.Fatal("rewritten")
			}
		})
	}
}

// TestRewriteRefusesHugeCounts gives every vector section a count of
// 2^32-2 in a body of a few bytes. wazero allocates for the count before
// reading any entry (for globals, tens of GiB: the process dies), so the
// rewrite, which runs first, must refuse them all.
func TestRewriteRefusesHugeCounts(t *testing.T) {
	for _, id := range []byte{1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 13} {
		t.Run(fmt.Sprint("section ", id), func(t *testing.T) {
			m := append([]byte("\x00asm\x01\x00\x00\x00"), id, 6, 0xfe, 0xff, 0xff, 0xff, 0x0f, 0)
			if _, err := Rewrite(m); !errors.Is(err, errMalformed) {
				t.Fatalf("got %v, want the count refused", err)
			}
		})
	}
}

// TestRewriteMinimalModules rewrites modules that lack the sections the
// rewrite adds to: each must still compile.
func TestRewriteMinimalModules(t *testing.T) {
	for _, tc := range []struct {
		name string
		wasm []byte
	}{
		{"empty module", []byte("\x00asm\x01\x00\x00\x00")},
		{"no exports", append([]byte("\x00asm\x01\x00\x00\x00"), 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 10, 4, 1, 2, 0, opEnd)},
		{"memory section without memory", append([]byte("\x00asm\x01\x00\x00\x00"), 5, 1, 0)},
		{"custom sections", append([]byte("\x00asm\x01\x00\x00\x00"), 0, 5, 4, 'n', 'o', 't', 'e', 0, 8, 7, '.', 'd', 'e', 'b', 'u', 'g', '_')},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rw, err := Rewrite(tc.wasm)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(rw), ".debug_") {
				t.Error("stale DWARF kept")
			}
			mod, err := newRuntime(t).Instantiate(context.Background(), rw)
			if err != nil {
				t.Fatal(err)
			}
			if For(mod).global == nil {
				t.Fatal("no stop global")
			}
		})
	}
}

// engineWasm is the JS engine jsrt runs: half a megabyte of emscripten
// output, the biggest module the host runs every day.
func engineWasm(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../host/jsrt/engine.wasm")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	guestOnce sync.Once
	guestWasm []byte
	guestErr  error
)

// goGuest builds testdata/guest with GOOS=wasip1 once.
func goGuest(t testing.TB) []byte {
	t.Helper()
	guestOnce.Do(func() {
		out := filepath.Join(os.TempDir(), "wasmstop-guest.wasm")
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./testdata/guest")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			guestErr = errors.New(string(b))
			return
		}
		guestWasm, guestErr = os.ReadFile(out)
	})
	if guestErr != nil {
		t.Fatalf("build the guest: %v", guestErr)
	}
	return guestWasm
}

// TestDecodeRoundTrip decodes every function body of real modules
// instruction by instruction: the instructions put back together must be
// the body, byte for byte, with the blocks closed exactly at its end.
func TestDecodeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		wasm func(testing.TB) []byte
	}{{"js engine", engineWasm}, {"go guest", goGuest}} {
		t.Run(tc.name, func(t *testing.T) {
			secs, err := sections(tc.wasm(t))
			if err != nil {
				t.Fatal(err)
			}
			var bodies, instrs, loops int
			for _, s := range secs {
				if s.id != secCode {
					continue
				}
				r := &reader{p: s.body}
				n, _ := r.u32()
				for range n {
					size, err := r.u32()
					if err != nil {
						t.Fatal(err)
					}
					body := s.body[r.pos : r.pos+int(size)]
					r.pos += int(size)
					br := &reader{p: body}
					if err := br.skipLocals(); err != nil {
						t.Fatal(err)
					}
					again := append([]byte(nil), body[:br.pos]...)
					for br.pos < len(body) {
						start := br.pos
						op, err := br.instr()
						if err != nil {
							t.Fatalf("body %d: %v", bodies, err)
						}
						instrs++
						if op == opLoop {
							loops++
						}
						again = append(again, body[start:br.pos]...)
					}
					if string(again) != string(body) {
						t.Fatalf("body %d differs after decoding", bodies)
					}
					if err := walkBody(body, ^uint32(0), func(byte, int) {}); err != nil {
						t.Fatalf("body %d: %v", bodies, err)
					}
					bodies++
				}
			}
			t.Logf("%d bodies, %d instructions, %d loops", bodies, instrs, loops)
			if bodies == 0 || loops == 0 {
				t.Fatal("nothing decoded")
			}
		})
	}
}

// TestRewriteGoGuest runs a real Go program rewritten: it computes what it
// computes without the rewrite, and when it spins forever a Stop ends it.
func TestRewriteGoGuest(t *testing.T) {
	ctx := context.Background()
	// Compiling the rewritten guest is most of this test's time (a minute
	// under the race detector on a busy machine): a machine compiles the
	// same bytes once.
	rt := newCachedRuntime(t)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	rw, err := Rewrite(goGuest(t))
	if err != nil {
		t.Fatal(err)
	}
	cm, err := rt.CompileModule(ctx, rw)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if _, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithStdout(&out)); err != nil {
		t.Fatal(err)
	}
	// What testdata/guest computes.
	xs := make([]int, 100000)
	for i := range xs {
		xs[i] = (i * 7919) % 100003
	}
	slices.Sort(xs)
	if want := fmt.Sprintf("sorted %d %d %d\n", xs[0], xs[len(xs)/2], xs[len(xs)-1]); out.String() != want {
		t.Fatalf("printed %q, want %q", out.String(), want)
	}

	mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithArgs("guest", "spin").WithStartFunctions())
	if err != nil {
		t.Fatal(err)
	}
	s := For(mod)
	ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	disarm := s.Arm(ctx)
	_, err = mod.ExportedFunction("_start").Call(ctx)
	var exit *sys.ExitError
	if err == nil || errors.As(err, &exit) || !disarm() {
		t.Fatalf("got %v, want a trap", err)
	}
}

// TestRewriteEngine rewrites the JS engine and compiles it.
func TestRewriteEngine(t *testing.T) {
	rw, err := Rewrite(engineWasm(t))
	if err != nil {
		t.Fatal(err)
	}
	rt := wazero.NewRuntimeWithConfig(context.Background(), wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(context.Background())
	if _, err := rt.CompileModule(context.Background(), rw); err != nil {
		t.Fatal(err)
	}
}

// TestRewriteRefusesForeignGlobals gives the rewrite modules whose code
// names globals they do not have. The rewrite appends its fuel and stop
// globals right after the module's own, so without a check such a module,
// invalid as it stands, became valid once rewritten, with its code writing
// the host's globals: a loop that keeps setting the stop back to 0 and the
// fuel to 2^31-1 is never stopped, and never visits Go again, so the next
// garbage collection waits for it forever and freezes the whole host.
func TestRewriteRefusesForeignGlobals(t *testing.T) {
	escape := []byte{opLoop, blockEmpty,
		opI32Const, 0, opGlobalSet, 1, // stop = 0
		opI32Const, 0xff, 0xff, 0xff, 0xff, 0x07, opGlobalSet, 0, // fuel = 2^31-1
		0x0c, 0, opEnd}
	for _, tc := range []struct {
		name string
		m    testModule
	}{
		{"set the stop and the fuel", testModule{funcs: []testFunc{{code: escape, export: "run"}}}},
		{"read the stop", testModule{funcs: []testFunc{{results: []byte{i32}, code: []byte{opGlobalGet, 1}}}}},
		{"past an imported global", testModule{importGlobal: true, funcs: []testFunc{{code: []byte{opI32Const, 0, opGlobalSet, 2}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
			defer rt.Close(ctx)
			if _, err := rt.CompileModule(ctx, tc.m.bytes()); err == nil {
				t.Fatal("wazero compiles the module as it stands: the test is wrong")
			}
			if _, err := Rewrite(tc.m.bytes()); err == nil {
				t.Fatal("rewritten: its code reaches the rewrite's own globals")
			}
		})
	}
	// A module may still use every global it has.
	ok := testModule{importGlobal: true, funcs: []testFunc{{results: []byte{i32}, code: []byte{opGlobalGet, 0}}}}
	if _, err := Rewrite(ok.bytes()); err != nil {
		t.Fatal(err)
	}
}

// TestRewriteRefusesHugeNestedCounts gives the rewrite modules of a few
// bytes with a vector inside a section that claims 2^32-1 entries, or a
// function declaring more than maxLocals locals. wazero allocates for such
// a count before it reads an entry: for element entries or function names
// a single allocation of tens of GiB, whose failure ends the process; for
// locals 4 GiB that it then fills, per function. The rewrite, which runs
// first, must refuse them all.
func TestRewriteRefusesHugeNestedCounts(t *testing.T) {
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0x0f}
	module := func(secs ...[]byte) []byte {
		m := []byte("\x00asm\x01\x00\x00\x00")
		for _, s := range secs {
			m = append(m, s[0])
			m = appendULEB(m, uint32(len(s)-1))
			m = append(m, s[1:]...)
		}
		return m
	}
	cat := func(parts ...[]byte) []byte { return slices.Concat(parts...) }
	nameSec := func(sub byte, content []byte) []byte {
		return cat([]byte{secCustom}, name("name"), []byte{sub}, appendULEB(nil, uint32(len(content))), content)
	}
	table := []byte{4, 1, 0x70, 0, 0}
	half := appendULEB(nil, maxLocals/2+1)
	funcSecs := func(locals []byte) [][]byte {
		body := cat(locals, []byte{opEnd})
		return [][]byte{{secType, 1, 0x60, 0, 0}, {secFunction, 1, 0}, cat([]byte{secCode, 1}, appendULEB(nil, uint32(len(body))), body)}
	}
	for _, tc := range []struct {
		name string
		wasm []byte
	}{
		{"function names", module(nameSec(1, huge))},
		{"local names", module(nameSec(2, cat([]byte{1, 0}, huge)))},
		{"module name", module(nameSec(0, huge))},
		// wazero reads a subsection's names without regard to its size,
		// and the next subsection from where they end.
		{"names after a short subsection", module(cat(nameSec(1, cat([]byte{1, 0}, name("f"), []byte{1, 5}, huge)), []byte{9, 20}, make([]byte, 20)))},
		{"custom section name", module(cat([]byte{secCustom}, huge))},
		{"element function indices", module(table, cat([]byte{9, 1, 0, opI32Const, 0, opEnd}, huge))},
		{"element expressions", module(table, cat([]byte{9, 1, 5, 0x70}, huge))},
		{"data bytes", module([]byte{secMemory, 1, 0, 1}, cat([]byte{11, 1, 1}, huge))},
		{"parameters", module(cat([]byte{secType, 1, 0x60}, huge, []byte{0}))},
		{"locals", module(funcSecs(cat([]byte{1}, huge, []byte{i32}))...)},
		{"locals in two declarations", module(funcSecs(cat([]byte{2}, half, []byte{i32}, half, []byte{i64}))...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Rewrite(tc.wasm); !errors.Is(err, errMalformed) {
				t.Fatalf("got %v, want the count refused", err)
			}
		})
	}

	// Up to the limits, the same shapes are rewritten.
	many := appendULEB([]byte{1}, maxLocals)
	for _, tc := range []struct {
		name string
		wasm []byte
	}{
		{"names", module(nameSec(1, cat([]byte{1, 0}, name("f"))), nameSec(2, []byte{1, 0, 1, 0, 1, 'x'}))},
		{"maxLocals locals", module(funcSecs(append(many, i32))...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Rewrite(tc.wasm); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRewriteCapsTables checks the bound on tables: wazero allocates a
// table's minimum at every instantiation, whatever the memory limit, and
// lets table.grow take a table without a maximum to 2^32-1 elements (32
// GiB, filled). The rewrite refuses a table that starts over the cap, and
// gives each table a maximum, so that growing past it fails as memory.grow
// fails past the memory limit.
func TestRewriteCapsTables(t *testing.T) {
	table := func(limits ...byte) []byte { return append([]byte{0x70}, limits...) }
	module := func(tables ...[]byte) []byte {
		m := testModule{funcs: []testFunc{{results: []byte{i32}, export: "grow", code: slices.Concat(
			[]byte{0xd0, 0x70, opI32Const}, appendSLEB(nil, maxTableElements+1), // ref.null func, 2^21+1
			[]byte{0xfc, 15, 0}, // table.grow 0
		)}}}.bytes()
		// The table section goes between the function and the export sections.
		secs, err := sections(m)
		if err != nil {
			t.Fatal(err)
		}
		out := slices.Clone(m[:8])
		for _, s := range secs {
			if s.id == secExport {
				out = appendSection(out, section{secTable, vec(tables...)})
			}
			out = appendSection(out, s)
		}
		return out
	}
	big := appendULEB(nil, 1<<27)
	for _, tc := range []struct {
		name string
		wasm []byte
	}{
		{"huge minimum", module(table(append([]byte{0}, big...)...))},
		{"over the share of two", module(table(0, 0), table(append([]byte{0}, appendULEB(nil, maxTableElements/2+1)...)...))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Rewrite(tc.wasm); !errors.Is(err, errMalformed) {
				t.Fatalf("got %v, want the table refused", err)
			}
		})
	}

	ctx := context.Background()
	for _, tc := range []struct {
		name string
		wasm []byte
	}{
		{"no maximum", module(table(0, 1))},
		{"a larger maximum", module(table(append([]byte{1, 1}, big...)...))},
		{"two tables", module(table(0, 1), table(0, 1))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig, err := newRuntime(t).InstantiateWithConfig(ctx, tc.wasm, wazero.NewModuleConfig().WithName(""))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := orig.ExportedFunction("grow").Call(ctx); err != nil || got[0] != 1 {
				t.Fatalf("before the rewrite table.grow returned %v, %v, want the old size 1", got, err)
			}
			mod := instantiate(t, newRuntime(t), tc.wasm)
			if got, err := mod.ExportedFunction("grow").Call(ctx); err != nil || int32(got[0]) != -1 {
				t.Fatalf("table.grow past the cap returned %v, %v, want -1", got, err)
			}
		})
	}
}
