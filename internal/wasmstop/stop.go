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
	fuel    api.MutableGlobal
	stopped bool
}

// For returns mod's stop switch. A module that was not rewritten gets a
// switch that records a stop but cannot enforce it.
func For(mod api.Module) *Stop {
	g, _ := mod.ExportedGlobal(StopExport).(api.MutableGlobal)
	f, _ := mod.ExportedGlobal(FuelExport).(api.MutableGlobal)
	if g == nil || f == nil {
		return &Stop{}
	}
	return &Stop{global: g, fuel: f}
}

// Stop makes the instance trap at its next probe, or at the latest within
// FuelPerYield probes when this races with a probe updating the fuel. It
// may be called from any goroutine, while the instance runs.
func (s *Stop) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.global != nil {
		s.global.Set(1)
		s.fuel.Set(0)
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
