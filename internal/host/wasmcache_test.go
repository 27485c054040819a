package host

import (
	"encoding/base64"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// withServerCode deploys wasm as the project's server code.
func withServerCode(wasm []byte) func(*api.DeployRequest) {
	return func(r *api.DeployRequest) {
		r.ServerCode = &api.ServerCode{Entrypoint: "server.wasm", Modules: map[string]api.Module{
			"server.wasm": {Content: base64.StdEncoding.EncodeToString(wasm)},
		}}
	}
}

// cachedModules counts the compiled modules in the on-disk cache.
func cachedModules(t *testing.T, dataDir string) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dataDir, "wasm-cache", "wazero-*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

// tinyCommand is the smallest WASI command: a _start that returns at once
// and a one-page memory. It compiles in milliseconds, even under the race
// detector; tag makes distinct modules of it (a custom section).
func tinyCommand(tag byte) []byte {
	return []byte{
		0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
		0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // types: func () -> ()
		0x03, 0x02, 0x01, 0x00, // functions: one of type 0
		0x05, 0x03, 0x01, 0x00, 0x01, // memory: min 1 page
		0x07, 0x13, 0x02, // exports: _start, memory
		0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00,
		0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00,
		0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // code: an empty body
		0x00, 0x03, 0x01, 't', tag, // custom section "t"
	}
}

// TestWasmCachePruned: garbage collection removes the compiled code of
// server modules no deployment lists any more and keeps that of the others,
// and the size cap removes even those, least recently used first, without
// breaking the projects that use them.
func TestWasmCachePruned(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	th := newTestHost(t, func(c *Config) { c.DataDir = dataDir; c.GCGrace = time.Millisecond })
	gone, kept := th.createProject("gone"), th.createProject("kept")
	th.deploy(gone.ID, siteFiles{"/index.html": "gone"}, withServerCode(tinyCommand(1)))
	th.deploy(kept.ID, siteFiles{"/index.html": "kept"}, withServerCode(tinyCommand(2)))
	if n := cachedModules(t, dataDir); n != 2 {
		t.Fatalf("%d compiled modules cached after two deploys, want 2", n)
	}
	if resp, body := th.do("DELETE", "/__api/projects/"+gone.ID, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	time.Sleep(10 * time.Millisecond) // past the grace period
	if _, err := th.h.CollectGarbage(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := cachedModules(t, dataDir); n != 1 {
		t.Fatalf("%d compiled modules cached after the project using one was deleted, want 1", n)
	}

	// A cap below one module's size leaves nothing, and costs only a
	// compilation the next time the module is loaded.
	res, err := th.h.worker.PruneCache(t.Context(), func(string) bool { return true }, time.Now(), 1)
	if err != nil || res.Entries != 1 || res.Kept != 0 {
		t.Fatalf("prune to 1 byte: %+v, %v", res, err)
	}
	if n := cachedModules(t, dataDir); n != 0 {
		t.Fatalf("%d compiled modules cached over the cap", n)
	}
	if resp, body := th.fetch(kept.ID+".localhost", "/"); resp.StatusCode != http.StatusOK || body != "kept" {
		t.Fatalf("kept project after pruning: %d %s", resp.StatusCode, body)
	}
}
