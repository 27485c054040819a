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
func withMemory(ctx context.Context) context.Context {
	if !mmapSupported {
		return ctx
	}
	return experimental.WithMemoryAllocator(ctx, experimental.MemoryAllocatorFunc(newMapped))
}
