package wasmstop

// A tiny assembler for hand-written test modules: enough to give a module
// functions, a memory and exports, and nothing wasmstop does not need.

type testFunc struct {
	params, results []byte // value types
	locals          []byte // value types, one declaration each
	code            []byte // instructions, without the final end
	export          string
}

type testModule struct {
	funcs  []testFunc
	memory bool
	// importGlobal adds an imported i32 global env.g first in the global
	// index space, to check the appended globals' indices.
	importGlobal bool
	// importWait adds the imported function host.wait, [] -> [], as
	// function 0 (the module's own functions then start at 1).
	importWait bool
}

func vec(items ...[]byte) []byte {
	b := appendULEB(nil, uint32(len(items)))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

func name(s string) []byte { return append(appendULEB(nil, uint32(len(s))), s...) }

func (m testModule) bytes() []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	sec := func(id byte, body []byte) {
		out = append(out, id)
		out = appendULEB(out, uint32(len(body)))
		out = append(out, body...)
	}
	var types, funcs, exports, bodies [][]byte
	first := uint32(0)
	if m.importWait {
		first = 1
	}
	for i, f := range m.funcs {
		types = append(types, append(append([]byte{0x60}, vec(split(f.params)...)...), vec(split(f.results)...)...))
		funcs = append(funcs, appendULEB(nil, uint32(i)))
		if f.export != "" {
			exports = append(exports, append(append(name(f.export), 0), appendULEB(nil, first+uint32(i))...))
		}
		var locals [][]byte
		for _, l := range f.locals {
			locals = append(locals, []byte{1, l})
		}
		b := append(vec(locals...), f.code...)
		b = append(b, opEnd)
		bodies = append(bodies, append(appendULEB(nil, uint32(len(b))), b...))
	}
	var imports [][]byte
	if m.importWait {
		types = append(types, []byte{0x60, 0, 0})
		imports = append(imports, append(append(name("host"), name("wait")...), 0, byte(len(types)-1)))
	}
	if m.importGlobal {
		imports = append(imports, append(append(name("env"), name("g")...), 3, 0x7f, 0))
	}
	sec(secType, vec(types...))
	if len(imports) > 0 {
		sec(secImport, vec(imports...))
	}
	sec(secFunction, vec(funcs...))
	if m.memory {
		sec(secMemory, vec([]byte{0, 1}))
	}
	sec(secExport, vec(exports...))
	sec(secCode, vec(bodies...))
	return out
}

func split(b []byte) [][]byte {
	var out [][]byte
	for _, c := range b {
		out = append(out, []byte{c})
	}
	return out
}

const (
	i32 = 0x7f
	i64 = 0x7e
)

// Modules used by several tests.
var (
	// spin loops forever: (loop (br 0)).
	spinModule = testModule{funcs: []testFunc{{code: []byte{opLoop, blockEmpty, 0x0c, 0, opEnd}, export: "spin"}}}

	// waiter calls host.wait in an endless loop: one probe per call.
	waitModule = testModule{importWait: true, funcs: []testFunc{{code: []byte{opLoop, blockEmpty, opCall, 0, 0x0c, 0, opEnd}, export: "wait"}}}

	// fork(n) calls itself twice with n-1 while n > 0: 2^n calls, no loop.
	forkModule = testModule{funcs: []testFunc{{params: []byte{i32}, export: "fork", code: []byte{
		0x20, 0, opIf, blockEmpty, // local.get 0, if
		0x20, 0, opI32Const, 1, opI32Sub, opCall, 0,
		0x20, 0, opI32Const, 1, opI32Sub, opCall, 0,
		opEnd,
	}}}}

	// sum(n) adds 0..n-1 in a loop, with a block, a br_if and an i64
	// accumulator, and count(n) counts fork-like calls: results to compare
	// before and after the rewrite.
	sumModule = testModule{memory: true, importGlobal: true, funcs: []testFunc{
		{params: []byte{i32}, results: []byte{i64}, locals: []byte{i64, i32}, export: "sum", code: []byte{
			opBlock, blockEmpty,
			opLoop, blockEmpty,
			0x20, 2, 0x20, 0, 0x4e, 0x0d, 1, // local.get i, local.get n, i32.ge_s, br_if 1
			0x20, 1, 0x20, 2, 0xad, 0x7c, 0x21, 1, // acc += i64.extend_i32_u(i)
			0x20, 2, opI32Const, 1, 0x6a, 0x21, 2, // i++
			0x0c, 0, // br 0
			opEnd, opEnd,
			0x20, 1,
		}},
		{params: []byte{i32}, results: []byte{i32}, export: "count", code: []byte{
			0x20, 0, opI32Eqz, opIf, i32, opI32Const, 1, opElse,
			0x20, 0, opI32Const, 1, opI32Sub, opCall, 1,
			0x20, 0, opI32Const, 1, opI32Sub, opCall, 1,
			0x6a, opEnd,
		}},
	}}
)
