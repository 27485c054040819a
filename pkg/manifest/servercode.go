package manifest

import (
	"encoding/base64"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// Module types of server code. A wasm entrypoint runs as a WASI guest and
// reads the text, data and json modules under /modules; a js entrypoint
// (an ES module) runs on the JS runtime and imports the others.
const (
	ModuleWasm = "wasm"
	ModuleJS   = "js"
	ModuleCJS  = "cjs" // CommonJS, beside a js entrypoint
	ModuleText = "text"
	ModuleData = "data"
	ModuleJSON = "json"
)

// Limits of server code: what one deploy may carry.
const (
	MaxModules        = 64
	MaxModuleNameSize = 256
)

// DecodedModule is a server-code module with its content decoded.
type DecodedModule struct {
	Name    string
	Type    string
	Content []byte
}

// ModuleType infers a module's type from its name when the deploy does not
// say: .wasm runs, .json is JSON, text-like extensions are text, the rest data.
func ModuleType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".wasm":
		return ModuleWasm
	case ".json":
		return ModuleJSON
	case ".js", ".mjs":
		return "js"
	case ".cjs":
		return ModuleCJS
	case ".py":
		return "py"
	case ".txt", ".html", ".htm", ".md", ".csv", ".css", ".xml", ".svg", ".yaml", ".yml", ".toml":
		return ModuleText
	}
	return ModuleData
}

// DecodeServerCode validates the server code of a deploy and decodes its
// modules, entrypoint first. The entrypoint is a wasm or an ES module;
// CommonJS and Python are refused with a hint.
func DecodeServerCode(sc *api.ServerCode) ([]DecodedModule, error) {
	if sc.Entrypoint == "" {
		return nil, fmt.Errorf("serverCode.entrypoint is required")
	}
	if len(sc.Modules) == 0 {
		return nil, fmt.Errorf("serverCode.modules is empty; it must hold the entrypoint %q", sc.Entrypoint)
	}
	if len(sc.Modules) > MaxModules {
		return nil, fmt.Errorf("serverCode has %d modules; the limit is %d", len(sc.Modules), MaxModules)
	}
	if _, ok := sc.Modules[sc.Entrypoint]; !ok {
		return nil, fmt.Errorf("serverCode.entrypoint %q is not among the modules", sc.Entrypoint)
	}
	if sc.CompatibilityDate != "" && !validDate(sc.CompatibilityDate) {
		return nil, fmt.Errorf("serverCode.compatibilityDate %q is not a YYYY-MM-DD date", sc.CompatibilityDate)
	}
	entryType := sc.Modules[sc.Entrypoint].Type
	if entryType == "" {
		entryType = ModuleType(sc.Entrypoint)
	}
	names := slices.Sorted(maps.Keys(sc.Modules))
	out := make([]DecodedModule, 0, len(names))
	for _, name := range names {
		m := sc.Modules[name]
		if err := validateModuleName(name); err != nil {
			return nil, err
		}
		typ := m.Type
		if typ == "" {
			typ = ModuleType(name)
		}
		switch typ {
		case ModuleText, ModuleData, ModuleJSON:
		case ModuleWasm:
			if entryType == ModuleJS {
				return nil, fmt.Errorf("module %q is wasm: JavaScript server code cannot import wasm modules", name)
			}
		case ModuleJS:
			if entryType != ModuleJS {
				return nil, fmt.Errorf("module %q is JavaScript but the entrypoint %q is %s; JS modules need a js entrypoint", name, sc.Entrypoint, entryType)
			}
		case ModuleCJS:
			if entryType != ModuleJS {
				return nil, fmt.Errorf("module %q is CommonJS but the entrypoint %q is %s; CommonJS modules need a js entrypoint", name, sc.Entrypoint, entryType)
			}
		case "py":
			return nil, fmt.Errorf("module %q is Python: this host runs JavaScript ES modules and WebAssembly", name)
		default:
			return nil, fmt.Errorf("module %q has unknown type %q; use js, wasm, text, data or json", name, typ)
		}
		if name == sc.Entrypoint && typ != ModuleWasm && typ != ModuleJS {
			return nil, fmt.Errorf("entrypoint %q must be a js or wasm module, not %s", name, typ)
		}
		content, err := base64.StdEncoding.DecodeString(m.Content)
		if err != nil {
			return nil, fmt.Errorf("module %q is not valid base64: %v", name, err)
		}
		d := DecodedModule{Name: name, Type: typ, Content: content}
		if name == sc.Entrypoint {
			out = append([]DecodedModule{d}, out...)
		} else {
			out = append(out, d)
		}
	}
	return out, nil
}

func validateModuleName(name string) error {
	if name == "" || len(name) > MaxModuleNameSize {
		return fmt.Errorf("module name %.40q must be 1 to %d bytes", name, MaxModuleNameSize)
	}
	// Modules become files under /modules: the same rules as asset paths.
	if err := ValidatePath("/" + name); err != nil {
		return fmt.Errorf("module name %q: %v", name, err)
	}
	return nil
}

func validDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for i, c := range s {
		if i != 4 && i != 7 && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
