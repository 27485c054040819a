// Package wasmstop makes a WebAssembly module stoppable from Go at any
// point of its execution, cheaply.
//
// wazero's own hard stop (RuntimeConfig.WithCloseOnContextDone) leaves the
// machine code at every loop header to ask Go whether the module was closed,
// and starts a goroutine for every call from Go into the module: a loop-heavy
// guest (an interpreter such as QuickJS) runs several times slower. Rewrite
// instead inserts, once, before compilation, a probe at every function entry
// and loop header that decrements a fuel counter, an ordinary wasm global.
// When the fuel runs out (every FuelPerYield probes) the probe calls a small
// function added to the module, which
//
//   - leaves the machine code for Go for a moment (a memory.grow of zero
//     pages), so that the Go scheduler can preempt the goroutine: compiled
//     guest code cannot be preempted otherwise, and a garbage collection
//     waiting for it would stop the whole process;
//   - traps with unreachable when the exported global StopExport is set.
//
// A Stop sets that global from Go, typically when a request's context ends
// (Stop.Arm): the instance then traps within FuelPerYield probes, wherever
// it is, even inside a builtin of an interpreter that never polls for an
// interrupt. An instance that was stopped must be discarded: its state is
// whatever it was when it trapped.
//
// The rewrite keeps every existing index: the globals, the type and the
// function it adds are appended after the module's own, and nothing else is
// renumbered. It also gives every table a maximum, so that a module cannot
// grow tables without bound (wazero holds them outside the memory limit). Instructions are decoded only to find the loop headers; the
// decoder knows the instruction set wazero compiles (MVP, sign extension,
// saturating truncation, bulk memory, reference types, SIMD, threads, tail
// calls, exception handling and typed function references) and refuses
// anything else.
package wasmstop
