package host

import (
	"context"
	"path/filepath"

	"github.com/cfdeploy/cfdeploy/internal/host/worker"
)

// newWorkerRuntime starts the wasm runtime, with compiled code cached under
// the data dir so that a restart loads rather than compiles.
func newWorkerRuntime(ctx context.Context, cfg Config) (*worker.Runtime, error) {
	wc := cfg.Worker
	if wc.CacheDir == "" {
		wc.CacheDir = filepath.Join(cfg.DataDir, "wasm-cache")
	}
	if wc.Logger == nil {
		wc.Logger = cfg.Logger
	}
	return worker.New(ctx, wc)
}

// prepareServerCode validates and compiles an entrypoint at deploy time.
func (h *Host) prepareServerCode(ctx context.Context, hash string, wasm []byte) error {
	return h.worker.Prepare(ctx, hash, wasm)
}
