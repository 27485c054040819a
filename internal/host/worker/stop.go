package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/cfdeploy/cfdeploy/internal/wasmstop"
)

// Guest modules are compiled rewritten by wasmstop: every function entry
// and loop header of the guest counts down, and now and then visits Go,
// which stops the instance (it traps) once its deadline has passed. That is
// how a guest that loops is stopped, and how the Go scheduler gets to
// preempt it, so that a garbage collection never waits for guest code.
// wazero's own way (WithCloseOnContextDone) leaves the machine code for Go
// at every loop iteration and starts a goroutine for every call into the
// guest. The compilation caches need no key of their own for the rewrite:
// wazero's are keyed by the bytes compiled, which change with it.

// errStopped marks a call that its deadline stopped.
var errStopped = errors.New("stopped at its deadline")

// callArmed calls fn under ctx with the instance's stop armed: a call
// still running when ctx ends traps, and comes back as errStopped.
func callArmed(ctx context.Context, stop *wasmstop.Stop, fn api.Function, params ...uint64) ([]uint64, error) {
	disarm := stop.Arm(ctx)
	res, err := fn.Call(ctx, params...)
	if disarm() && err != nil {
		err = fmt.Errorf("%w: %w", errStopped, err)
	}
	return res, err
}

// runStart runs a start function of a module instantiated without any
// (_start of a command, _initialize of a reactor), as wazero would, but
// with the stop armed. A missing function is no error, nor is an exit
// with status 0.
func runStart(ctx context.Context, mod api.Module, stop *wasmstop.Stop, name string) error {
	fn := mod.ExportedFunction(name)
	if fn == nil {
		return nil
	}
	_, err := callArmed(ctx, stop, fn)
	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 0 {
		return nil
	}
	return err
}
