package wasmstop

import (
	"context"
	"sync"

	"github.com/tetratelabs/wazero/api"
)

// Stop is the stop switch of one instance of a rewritten module.
type Stop struct {
	mu      sync.Mutex
	global  api.MutableGlobal // nil: the module was not rewritten
	stopped bool
}

// For returns mod's stop switch. A module that was not rewritten gets a
// switch that records a stop but cannot enforce it.
func For(mod api.Module) *Stop {
	g, _ := mod.ExportedGlobal(StopExport).(api.MutableGlobal)
	return &Stop{global: g}
}

// Stop makes the instance trap at its next visit to Go (within
// FuelPerYield probes). It may be called from any goroutine, while the
// instance runs.
func (s *Stop) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.global != nil {
		s.global.Set(1)
	}
	s.stopped = true
}

// Stopped reports whether Stop was called.
func (s *Stop) Stopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

// Arm stops the instance when ctx ends, until disarm is called. disarm
// reports whether the instance was stopped (then it must be discarded);
// once it returned, Stopped agrees with it. Arming costs no goroutine until
// ctx ends.
func (s *Stop) Arm(ctx context.Context) (disarm func() (stopped bool)) {
	cancel := context.AfterFunc(ctx, s.Stop)
	return sync.OnceValue(func() bool {
		if !cancel() {
			// Stop has started on its own goroutine: make sure it is
			// done before answering.
			s.Stop()
		}
		return s.Stopped()
	})
}
