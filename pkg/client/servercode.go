package client

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// LoadServerCode reads the entrypoint and extra modules from disk into the
// deploy request's form. Modules are named by their base name, which is how
// server code finds them under /modules; two files with one name are an
// error rather than a silent overwrite.
func LoadServerCode(entrypoint string, modules []string) (*api.ServerCode, error) {
	if entrypoint == "" {
		if len(modules) > 0 {
			return nil, fmt.Errorf("server modules given without an entrypoint: add --server FILE.wasm")
		}
		return nil, nil
	}
	if t := manifest.ModuleType(entrypoint); t != manifest.ModuleWasm {
		return nil, fmt.Errorf("server entrypoint %s is not a .wasm file", entrypoint)
	}
	sc := &api.ServerCode{Entrypoint: filepath.Base(entrypoint), Modules: map[string]api.Module{}}
	for _, p := range append([]string{entrypoint}, modules...) {
		name := filepath.Base(p)
		if _, dup := sc.Modules[name]; dup {
			return nil, fmt.Errorf("two server modules are named %s; rename one", name)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read server module: %w", err)
		}
		sc.Modules[name] = api.Module{Content: base64.StdEncoding.EncodeToString(b), Type: manifest.ModuleType(name)}
	}
	return sc, nil
}
