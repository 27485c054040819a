package jsrt

import (
	"context"

	"github.com/tetratelabs/wazero/experimental"
)

// withMemory makes the engine instance created under ctx keep its linear
// memory in address space reserved up front for its maximum (on Linux an
// anonymous mapping): growing never copies, untouched pages cost no RAM,
// and closing the instance gives every page back to the system at once, so
// an allocation bomb's memory does not linger in Go's heap.
//
// The pages are given back by release, which the instance calls once no
// call into it is running, never by wazero: wazero frees a module's memory
// as soon as a call notices the module was closed at its deadline, and a
// nested call (a host function calling back into the engine) notices it
// while the outer call's machine code still runs on that memory, which
// would then fault and take the whole host down.
func withMemory(ctx context.Context, keep func(release func())) context.Context {
	if !mmapSupported {
		return ctx
	}
	return experimental.WithMemoryAllocator(ctx, experimental.MemoryAllocatorFunc(func(capacity, maxBytes uint64) experimental.LinearMemory {
		m := newMapped(capacity, maxBytes)
		if r, ok := m.(interface{ release() }); ok {
			keep(r.release)
		}
		return m
	}))
}
