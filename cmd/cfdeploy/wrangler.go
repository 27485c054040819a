package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// wranglerFiles are Cloudflare's project files, in the order wrangler
// itself prefers them.
var wranglerFiles = []string{"wrangler.json", "wrangler.jsonc", "wrangler.toml"}

// wranglerProject is a wrangler file read as a cfdeploy project: the
// settings cfhost honours, as cfdeploy.toml would hold them, and what it
// cannot honour.
type wranglerProject struct {
	// Path is the wrangler file; EnvName the [env.<name>] section applied.
	Path    string
	EnvName string
	File    fileConfig
	// Unsupported lists the keys cfhost cannot honour, dotted as in the
	// file ("kv_namespaces", "env.staging.d1_databases", "assets.binding"),
	// each with why when that is not plain.
	Unsupported []string
	// Pages is true for a Pages project's file (pages_build_output_dir):
	// its site gets Pages' asset defaults (see pagesAssetDefaults).
	Pages bool
}

// findWranglerFile returns the wrangler file of dir, or "" when it has none.
func findWranglerFile(dir string) string {
	for _, name := range wranglerFiles {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// readWranglerFile parses a wrangler.toml, wrangler.json or wrangler.jsonc
// and applies the [env.<envName>] section when envName is not empty.
func readWranglerFile(path, envName string) (*wranglerProject, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if strings.HasSuffix(path, ".toml") {
		if err := toml.Unmarshal(b, &raw); err != nil {
			var de *toml.DecodeError
			if errors.As(err, &de) {
				row, col := de.Position()
				return nil, fmt.Errorf("%s:%d:%d: %s", path, row, col, strings.TrimPrefix(de.Error(), "toml: "))
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	} else {
		plain, err := stripJSONC(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := json.Unmarshal(plain, &raw); err != nil {
			return nil, fmt.Errorf("%s: %s", path, jsonErrorAt(plain, err))
		}
	}
	return wranglerFromMap(path, raw, envName)
}

// jsonErrorAt adds the line of a JSON syntax error.
func jsonErrorAt(b []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("line %d: %v", bytes.Count(b[:se.Offset], []byte("\n"))+1, err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("line %d: the file must be a JSON object", bytes.Count(b[:te.Offset], []byte("\n"))+1)
	}
	return err.Error()
}

// wranglerFromMap reads the parsed wrangler file. Wrangler's own rules for
// environments are followed: a key set in the section replaces the top
// level's, vars are not inherited (the section's vars are all there is),
// and the name is "<name>-<env>" unless the section names the Worker.
func wranglerFromMap(path string, raw map[string]any, envName string) (*wranglerProject, error) {
	w := &wranglerProject{Path: path, EnvName: envName}
	top := map[string]any{}
	for k, v := range raw {
		if k != "env" {
			top[k] = v
		}
	}
	var section map[string]any
	if envName != "" {
		envs, _ := raw["env"].(map[string]any)
		section, _ = envs[envName].(map[string]any)
		if section == nil {
			names := slices.Sorted(maps.Keys(envs))
			if len(names) == 0 {
				return nil, fmt.Errorf("%s has no environments, so there is no env %q", path, envName)
			}
			return nil, fmt.Errorf("%s has no env %q; it has: %s", path, envName, strings.Join(names, ", "))
		}
	}
	if err := w.apply(top, ""); err != nil {
		return nil, err
	}
	if section != nil {
		name, _ := top["name"].(string)
		if _, ok := section["name"]; !ok && name != "" {
			w.File.Name = name + "-" + envName
		}
		w.File.Env = nil // vars are not inherited
		if err := w.apply(section, "env."+envName+"."); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// apply sets what one level of the file (the top or an env section) says;
// prefix names the level in messages.
func (w *wranglerProject) apply(m map[string]any, prefix string) error {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		key := prefix + k
		bad := func(want string) error {
			return fmt.Errorf("%s: %s must be %s", w.Path, key, want)
		}
		switch k {
		case "$schema":
			// Editor metadata.
		case "name":
			s, ok := v.(string)
			if !ok {
				return bad("a string")
			}
			w.File.Name = s
		case "main":
			s, ok := v.(string)
			if !ok {
				return bad("a string")
			}
			// A .wasm main is a WASI guest; JavaScript and TypeScript
			// are bundled as wrangler bundles them.
			w.File.Server.Entrypoint = s
		case "no_bundle":
			nb, ok := v.(bool)
			if !ok {
				return bad("true or false")
			}
			w.File.Server.NoBundle = nb
		case "compatibility_date":
			s, ok := dateText(v)
			if !ok {
				return bad("a YYYY-MM-DD date")
			}
			w.File.Server.CompatibilityDate = s
		case "compatibility_flags":
			flags, ok := stringList(v)
			if !ok {
				return bad("a list of strings")
			}
			w.File.Server.CompatibilityFlags = flags
		case "pages_build_output_dir":
			s, ok := v.(string)
			if !ok {
				return bad("a string")
			}
			if w.File.Dir == "" || prefix != "" {
				w.File.Dir = s
			}
			w.Pages = true
		case "vars":
			vars, ok := v.(map[string]any)
			if !ok {
				return bad("a table of values")
			}
			w.File.Env = map[string]string{}
			for name, val := range vars {
				w.File.Env[name] = varText(val)
			}
		case "assets":
			a, ok := v.(map[string]any)
			if !ok {
				return bad("a table")
			}
			if prefix != "" {
				// The section's assets replace the top level's whole.
				w.File.Assets = fileConfig{}.Assets
			}
			if err := w.applyAssets(a, key+"."); err != nil {
				return err
			}
		default:
			w.unsupported(key)
		}
	}
	return nil
}

func (w *wranglerProject) applyAssets(a map[string]any, prefix string) error {
	for _, k := range slices.Sorted(maps.Keys(a)) {
		v := a[k]
		key := prefix + k
		str := func() (string, error) {
			s, ok := v.(string)
			if !ok {
				return "", fmt.Errorf("%s: %s must be a string", w.Path, key)
			}
			return s, nil
		}
		var err error
		switch k {
		case "directory":
			w.File.Dir, err = str()
		case "binding":
			// JS server code gets its assets as env.ASSETS; that name
			// needs nothing, another is not available.
			if s, ok := v.(string); !ok || s != "ASSETS" {
				w.unsupported(key)
			}
		case "html_handling":
			w.File.Assets.HTMLHandling, err = str()
		case "not_found_handling":
			w.File.Assets.NotFoundHandling, err = str()
		case "run_worker_first":
			switch v.(type) {
			case bool, []any:
				w.File.Assets.RunWorkerFirst = v
			default:
				err = fmt.Errorf("%s: %s must be true, false or a list of patterns", w.Path, key)
			}
		default:
			w.unsupported(key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *wranglerProject) unsupported(key string) {
	if strings.HasSuffix(key, "assets.binding") {
		key += " (server code gets its assets as env.ASSETS only)"
	}
	w.Unsupported = append(w.Unsupported, key)
}

// Problems lists what cfhost will not do of this file: the unsupported
// keys.
func (w *wranglerProject) Problems() []string {
	return slices.Clone(w.Unsupported)
}

// dateText reads a compatibility date: a string, or a bare TOML date.
func dateText(v any) (string, bool) {
	var s string
	switch d := v.(type) {
	case string:
		s = d
	case fmt.Stringer:
		s = d.String()
	default:
		return "", false
	}
	return s, isDate(s)
}

func stringList(v any) ([]string, bool) {
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// varText is a var's value as server code sees it in its environment: a
// string as is, a number or boolean as written, anything else as JSON.
func varText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// projectFileText writes fc as cfdeploy.toml text: what 'init --from
// wrangler' saves and what a deploy from a wrangler file reads. notes are
// comment lines put at the top.
func projectFileText(fc fileConfig, notes []string) string {
	var b strings.Builder
	for _, n := range notes {
		b.WriteString("# " + n + "\n")
	}
	kv := func(k, v string) { fmt.Fprintf(&b, "%s = %s\n", k, v) }
	if fc.ProjectID != "" {
		kv("project_id", tomlString(fc.ProjectID))
	}
	if fc.Name != "" {
		kv("name", tomlString(fc.Name))
	}
	if fc.Dir != "" {
		kv("dir", tomlString(fc.Dir))
	}
	a := fc.Assets
	if a.HTMLHandling != "" || a.NotFoundHandling != "" || a.RunWorkerFirst != nil {
		b.WriteString("\n[assets]\n")
		if a.HTMLHandling != "" {
			kv("html_handling", tomlString(a.HTMLHandling))
		}
		if a.NotFoundHandling != "" {
			kv("not_found_handling", tomlString(a.NotFoundHandling))
		}
		switch r := a.RunWorkerFirst.(type) {
		case bool:
			kv("run_worker_first", strconv.FormatBool(r))
		case []any:
			pats := make([]string, 0, len(r))
			for _, p := range r {
				pats = append(pats, tomlString(fmt.Sprint(p)))
			}
			kv("run_worker_first", "["+strings.Join(pats, ", ")+"]")
		}
	}
	s := fc.Server
	if s.Entrypoint != "" || s.NoBundle || s.CompatibilityDate != "" || len(s.CompatibilityFlags) > 0 {
		b.WriteString("\n[server]\n")
		if s.Entrypoint != "" {
			kv("entrypoint", tomlString(s.Entrypoint))
		}
		if s.NoBundle {
			kv("no_bundle", "true")
		}
		if s.CompatibilityDate != "" {
			kv("compatibility_date", tomlString(s.CompatibilityDate))
		}
		if len(s.CompatibilityFlags) > 0 {
			flags := make([]string, 0, len(s.CompatibilityFlags))
			for _, f := range s.CompatibilityFlags {
				flags = append(flags, tomlString(f))
			}
			kv("compatibility_flags", "["+strings.Join(flags, ", ")+"]")
		}
	}
	if len(fc.Env) > 0 {
		b.WriteString("\n[env]\n")
		for _, k := range slices.Sorted(maps.Keys(fc.Env)) {
			kv(tomlKey(k), tomlString(fc.Env[k]))
		}
	}
	return b.String()
}

// tomlKey quotes a key unless it is a bare TOML key.
func tomlKey(k string) string {
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return tomlString(k)
		}
	}
	if k == "" {
		return `""`
	}
	return k
}
