package jsrt

import (
	"context"
	"math"
	"path"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// instKey carries the running *instance to the host functions: wazero
// passes the context of the call into the engine through to them.
type instKey struct{}

func current(ctx context.Context) *instance {
	in, _ := ctx.Value(instKey{}).(*instance)
	return in
}

// trap stops the engine; the instance is then discarded.
type trap string

func (t trap) Error() string { return "js engine trap: " + string(t) }

// instantiateHost provides the engine's imports: no file system, no
// environment, UTC time, stdout/stderr into the request's log, memory growth
// capped, and the callbacks that load modules and check the deadline.
func instantiateHost(ctx context.Context, rt wazero.Runtime) error {
	i32, i64, f64 := api.ValueTypeI32, api.ValueTypeI64, api.ValueTypeF64
	b := rt.NewHostModuleBuilder(importModule)
	fn := func(meaning string, f api.GoModuleFunc, params, results []api.ValueType) {
		b.NewFunctionBuilder().WithGoModuleFunction(f, params, results).Export(importNames[meaning])
	}
	stop := func(why string) api.GoModuleFunc {
		return func(context.Context, api.Module, []uint64) { panic(trap(why)) }
	}
	fn("assert_fail", stop("assertion failed"), []api.ValueType{i32, i32, i32, i32}, nil)
	fn("abort", stop("abort"), nil, nil)
	fn("proc_exit", stop("exit"), []api.ValueType{i32}, nil)
	fn("keepalive_clear", func(context.Context, api.Module, []uint64) {}, nil, nil)
	fn("setitimer_js", func(_ context.Context, _ api.Module, s []uint64) { s[0] = 0 }, []api.ValueType{i32, f64}, []api.ValueType{i32})
	fn("fd_close", func(_ context.Context, _ api.Module, s []uint64) { s[0] = 52 }, []api.ValueType{i32}, []api.ValueType{i32})
	fn("fd_seek", func(_ context.Context, _ api.Module, s []uint64) { s[0] = 70 }, []api.ValueType{i32, i64, i32, i32}, []api.ValueType{i32})
	fn("environ_get", func(_ context.Context, _ api.Module, s []uint64) { s[0] = 0 }, []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn("environ_sizes_get", func(_ context.Context, m api.Module, s []uint64) {
		m.Memory().WriteUint32Le(uint32(s[0]), 0)
		m.Memory().WriteUint32Le(uint32(s[1]), 0)
		s[0] = 0
	}, []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn("date_now", func(_ context.Context, _ api.Module, s []uint64) {
		s[0] = math.Float64bits(float64(time.Now().UnixNano()) / 1e6)
	}, nil, []api.ValueType{f64})
	fn("clock_time_get", func(_ context.Context, m api.Module, s []uint64) {
		m.Memory().WriteUint64Le(uint32(s[2]), uint64(time.Now().UnixNano()))
		s[0] = 0
	}, []api.ValueType{i32, i64, i32}, []api.ValueType{i32})
	fn("localtime_js", localtime, []api.ValueType{i64, i32}, nil)
	fn("tzset_js", func(_ context.Context, m api.Module, s []uint64) {
		mem := m.Memory()
		mem.WriteUint32Le(uint32(s[0]), 0)
		mem.WriteUint32Le(uint32(s[1]), 0)
		mem.Write(uint32(s[2]), []byte("UTC\x00"))
		mem.Write(uint32(s[3]), []byte("UTC\x00"))
	}, []api.ValueType{i32, i32, i32, i32}, nil)
	fn("fd_write", fdWrite, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32})
	fn("resize_heap", resizeHeap, []api.ValueType{i32}, []api.ValueType{i32})
	fn("call_function", callFunction, []api.ValueType{i32, i32, i32, i32, i32}, []api.ValueType{i32})
	fn("free_host_ref", func(context.Context, api.Module, []uint64) {}, []api.ValueType{i32, i32}, nil)
	fn("should_interrupt", func(ctx context.Context, _ api.Module, s []uint64) {
		s[0] = 0
		if ctx.Err() != nil {
			s[0] = 1
		}
	}, []api.ValueType{i32}, []api.ValueType{i32})
	fn("normalize_module", normalizeModule, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32})
	fn("load_module_source", loadModuleSource, []api.ValueType{i32, i32, i32}, []api.ValueType{i32})
	if _, err := b.Instantiate(ctx); err != nil {
		return err
	}
	return nil
}

// localtime fills a struct tm for a time in seconds, always in UTC.
func localtime(_ context.Context, m api.Module, s []uint64) {
	t := time.Unix(int64(s[0]), 0).UTC()
	p := uint32(s[1])
	fields := []int{t.Second(), t.Minute(), t.Hour(), t.Day(), int(t.Month()) - 1, t.Year() - 1900, int(t.Weekday()), t.YearDay() - 1, 0, 0}
	for i, v := range fields {
		m.Memory().WriteUint32Le(p+uint32(4*i), uint32(int32(v)))
	}
}

// fdWrite sends the engine's stdout and stderr (its own diagnostics, not
// console.log) to the request log, capped.
func fdWrite(ctx context.Context, m api.Module, s []uint64) {
	mem := m.Memory()
	iovs, n, total := uint32(s[1]), uint32(s[2]), uint32(0)
	in := current(ctx)
	for i := range n {
		ptr, _ := mem.ReadUint32Le(iovs + 8*i)
		l, _ := mem.ReadUint32Le(iovs + 8*i + 4)
		if b, ok := mem.Read(ptr, l); ok && in != nil && in.stderr.Len() < maxStderr {
			in.stderr.Write(b[:min(len(b), maxStderr-in.stderr.Len())])
		}
		total += l
	}
	mem.WriteUint32Le(uint32(s[3]), total)
	s[0] = 0
}

// maxStderr caps what the engine itself prints per instance.
const maxStderr = 8 << 10

// resizeHeap grows memory the way emscripten's glue does (at least 20 %
// more, to amortise), never past the module's maximum: the tenant's
// allocation then fails inside JS as an out-of-memory error.
func resizeHeap(_ context.Context, m api.Module, s []uint64) {
	mem := m.Memory()
	want := uint64(uint32(s[0]))
	cur := uint64(mem.Size())
	maxBytes := cur
	if mx, ok := mem.Definition().Max(); ok {
		maxBytes = uint64(mx) * wasmPage
	}
	s[0] = 0
	if want > maxBytes {
		return
	}
	target := max(want, min(maxBytes, cur+cur/5))
	delta := (target - cur + wasmPage - 1) / wasmPage
	if _, ok := mem.Grow(uint32(delta)); ok {
		s[0] = 1
	}
}

// cString reads a NUL-terminated string from the engine's memory.
func cString(mem api.Memory, p uint32) string {
	if p == 0 {
		return ""
	}
	buf, ok := mem.Read(p, mem.Size()-p)
	if !ok {
		return ""
	}
	if i := strings.IndexByte(string(buf[:min(len(buf), 1<<20)]), 0); i >= 0 {
		return string(buf[:i])
	}
	return ""
}

// normalizeModule resolves a specifier against the importing module's name:
// "./x.js" and "../x.js" relative to its directory, anything else as given.
func normalizeModule(ctx context.Context, m api.Module, s []uint64) {
	mem := m.Memory()
	base, name := cString(mem, uint32(s[2])), cString(mem, uint32(s[3]))
	spec := name
	if strings.HasPrefix(name, "./") || strings.HasPrefix(name, "../") {
		name = strings.TrimPrefix(path.Join(path.Dir(base), name), "/")
	}
	in := current(ctx)
	if in.importedBy == nil {
		in.importedBy = map[string][2]string{}
	}
	if _, seen := in.importedBy[name]; !seen {
		in.importedBy[name] = [2]string{base, spec}
	}
	s[0] = uint64(in.mallocString(ctx, name))
}

// loadModuleSource hands the engine a module's source, turning JSON, text
// and data modules into ES modules with a default export.
func loadModuleSource(ctx context.Context, m api.Module, s []uint64) {
	in := current(ctx)
	name := cString(m.Memory(), uint32(s[2]))
	src, ok := in.prog.source(name)
	if !ok {
		in.unresolved = append(in.unresolved, name)
		s[0] = 0
		return
	}
	s[0] = uint64(in.mallocString(ctx, src))
}
