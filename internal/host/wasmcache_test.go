package host

import (
	"encoding/base64"
	"net/http"
	"os"
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

// TestWasmCachePruned: garbage collection removes the compiled code of
// server modules no deployment lists any more, keeps that of the others,
// and the size cap removes even those (least recently used first) without
// breaking the projects that use them.
func TestWasmCachePruned(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm guest")
	}
	hello := buildHello(t)
	// The same program with a custom section: another module to the cache.
	other := append(append([]byte{}, hello...), 0, 4, 2, 'v', '2', 'x')
	dataDir := t.TempDir()
	th := newTestHost(t, func(c *Config) { c.DataDir = dataDir; c.GCGrace = time.Millisecond })
	gone, kept := th.createProject("gone"), th.createProject("kept")
	th.deploy(gone.ID, siteFiles{"/index.html": "gone"}, withServerCode(hello))
	th.deploy(kept.ID, siteFiles{"/index.html": "kept"}, withServerCode(other))
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
	if resp, body := th.fetch(kept.ID+".localhost", "/api/time"); resp.StatusCode != http.StatusOK {
		t.Fatalf("kept project's server code: %d %s", resp.StatusCode, body)
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
	if resp, body := th.fetch(kept.ID+".localhost", "/api/time"); resp.StatusCode != http.StatusOK {
		t.Fatalf("kept project's server code after pruning: %d %s", resp.StatusCode, body)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "wasm-cache", "index")); err != nil {
		t.Fatal(err)
	}
}
