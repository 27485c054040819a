package jsrt

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// Module types, as Cloudflare Workers names them.
const (
	TypeJS   = "js"   // ES module
	TypeCJS  = "cjs"  // CommonJS: module.exports is the default export
	TypeText = "text" // default export: the file as a string
	TypeData = "data" // default export: the file as an ArrayBuffer
	TypeJSON = "json" // default export: the parsed JSON
)

// Module is one file of a deployment's server code.
type Module struct {
	Type   string
	Source []byte
}

// Program is a deployment's JS server code: modules by name (names may
// contain directories), the entrypoint among them, and the env variables.
type Program struct {
	Entrypoint string
	Modules    map[string]Module
	Env        map[string]string
}

// TypeFromName returns the module type a file name implies, or "" when the
// extension names none this runtime supports.
func TypeFromName(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".js", ".mjs":
		return TypeJS
	case ".cjs":
		return TypeCJS
	case ".json":
		return TypeJSON
	case ".txt", ".html", ".htm", ".sql", ".md", ".css", ".csv", ".xml", ".svg":
		return TypeText
	case ".bin":
		return TypeData
	}
	return ""
}

// source returns the ES module source of a module.
func (p *Program) source(name string) (string, bool) {
	m, ok := p.Modules[name]
	if !ok {
		return "", false
	}
	switch m.Type {
	case TypeJS, "":
		return string(m.Source), true
	case TypeCJS:
		return "export default __cfhost.require(\"\")(" + quote("/"+name) + ");", true
	case TypeText:
		q, _ := json.Marshal(string(m.Source))
		return "export default " + string(q) + ";", true
	case TypeJSON:
		if !json.Valid(m.Source) {
			return "throw new SyntaxError(" + quote(name+": invalid JSON") + ");", true
		}
		return "export default (" + string(m.Source) + ");", true
	case TypeData:
		return "export default __cfhost.b64(" + quote(base64.StdEncoding.EncodeToString(m.Source)) + ").buffer;", true
	}
	return "throw new TypeError(" + quote(fmt.Sprintf("%s: unsupported module type %q", name, m.Type)) + ");", true
}

func quote(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// resolve finds the module a CommonJS require(spec) in module from means:
// "./x" and "../x" relative to from's directory, "/x" from the root, a
// bare name as given; then with .js, .cjs or .json appended, or as a
// directory's index.js.
func (p *Program) resolve(from, spec string) (string, bool) {
	name := spec
	switch {
	case strings.HasPrefix(spec, "./") || strings.HasPrefix(spec, "../"):
		name = path.Join(path.Dir(from), spec)
	case strings.HasPrefix(spec, "/"):
		name = path.Clean(spec)
	}
	name = strings.TrimPrefix(name, "/")
	for _, cand := range []string{name, name + ".js", name + ".cjs", name + ".json", name + "/index.js", name + "/index.cjs"} {
		if _, ok := p.Modules[cand]; ok {
			return cand, true
		}
	}
	return "", false
}

// bootstrap is the module cfhost evaluates first: it imports the
// entrypoint, checks its default export and sets env.
func (p *Program) bootstrap() string {
	env, _ := json.Marshal(p.Env)
	if p.Env == nil {
		env = []byte("{}")
	}
	return "import * as entry from " + quote(p.Entrypoint) + ";\n" +
		"__cfhost.env = Object.freeze({ ...JSON.parse(" + quote(string(env)) + "), ASSETS: __cfhost.ASSETS });\n" +
		"__cfhost.check(entry);\n"
}
