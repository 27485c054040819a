// Package jsbundle turns a JavaScript or TypeScript Worker on disk into the
// modules a deploy uploads, the way wrangler does: esbuild bundles the
// entrypoint and what it imports (npm packages from node_modules included)
// into one ES module, JSON is inlined, and text (.txt, .html, .sql) and data
// (.bin) files stay modules of their own beside the bundle, so the host
// hands them to the code as a string and an ArrayBuffer. Without bundling,
// the files are sent as they are.
//
// Module names are paths relative to the entrypoint's directory, so a
// relative import in the code names the module it reaches.
package jsbundle

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/evanw/esbuild/pkg/api"

	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// Module is one module of the deploy: its name, type (manifest.ModuleJS,
// ModuleText, ModuleData, ModuleJSON) and content.
type Module struct {
	Name    string
	Type    string
	Content []byte
}

// Result is what a bundle or a plain load produced: the entrypoint's module
// name, every module (the entrypoint first) and the files read, which a
// watcher can follow.
type Result struct {
	Entrypoint string
	Modules    []Module
	Inputs     []string
	// Bundled is false when the files were sent as they are.
	Bundled bool
}

// Options say what to load.
type Options struct {
	// Entrypoint is the Worker's main file (.js, .mjs, .ts, .mts, .jsx, .tsx).
	Entrypoint string
	// Modules are extra files sent as modules of their own, by path; their
	// names are relative to the entrypoint's directory.
	Modules []string
	// NoBundle sends the entrypoint and Modules as they are.
	NoBundle bool
}

// IsJS reports whether the entrypoint at p is JavaScript or TypeScript,
// which this package loads (a .wasm entrypoint is a WASI guest instead).
func IsJS(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".js", ".mjs", ".ts", ".mts", ".jsx", ".tsx":
		return true
	}
	return false
}

// textTypes and dataTypes are wrangler's default module rules: an import of
// such a file is a module of its own, not bundled.
var (
	textExts = []string{".txt", ".html", ".sql"}
	dataExts = []string{".bin"}
)

// attachedType is the module type of a file that stays a module of its own
// when imported, or "".
func attachedType(p string) string {
	ext := strings.ToLower(filepath.Ext(p))
	switch {
	case slices.Contains(textExts, ext):
		return manifest.ModuleText
	case slices.Contains(dataExts, ext):
		return manifest.ModuleData
	}
	return ""
}

// BuildError is a bundle that failed: each message with its file:line:col.
type BuildError struct {
	Messages []string
}

func (e *BuildError) Error() string {
	return "bundle server code: " + strings.Join(e.Messages, "\n")
}

// Load reads the Worker at o.Entrypoint into modules, bundling it unless
// o.NoBundle.
func Load(o Options) (*Result, error) {
	if !IsJS(o.Entrypoint) {
		return nil, fmt.Errorf("server entrypoint %s is not JavaScript or TypeScript", o.Entrypoint)
	}
	base, err := filepath.Abs(filepath.Dir(o.Entrypoint))
	if err != nil {
		return nil, err
	}
	l := &loader{base: base, names: map[string]string{}}
	if o.NoBundle {
		return l.plain(o)
	}
	return l.bundle(o)
}

// loader collects modules under one base directory.
type loader struct {
	base string
	// mu guards res and names: esbuild resolves imports concurrently.
	mu  sync.Mutex
	res Result
	// names maps a module name to the file it came from, so two files
	// never claim one name and a file imported twice is sent once.
	names map[string]string
}

// name is the module name of the file at abs: its path from the base
// directory, with forward slashes.
func (l *loader) name(abs string) (string, error) {
	rel, err := filepath.Rel(l.base, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s is outside %s, the entrypoint's directory: module names are paths below it", abs, l.base)
	}
	return filepath.ToSlash(rel), nil
}

// add reads the file at p into a module of type typ (from its name when
// empty) and returns the module's name.
func (l *loader) add(p, typ string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	name, err := l.name(abs)
	if err != nil {
		return "", err
	}
	if prev, ok := l.names[name]; ok {
		if prev == abs {
			return name, nil
		}
		return "", fmt.Errorf("two server modules are named %s (%s and %s); rename one", name, prev, abs)
	}
	b, err := os.ReadFile(abs)
	if err != nil {
		return "", fmt.Errorf("read server module: %w", err)
	}
	if typ == "" {
		typ = manifest.ModuleType(name)
	}
	l.names[name] = abs
	l.res.Modules = append(l.res.Modules, Module{Name: name, Type: typ, Content: b})
	l.res.Inputs = append(l.res.Inputs, abs)
	return name, nil
}

// plain sends the files as they are: the entrypoint must already be an ES
// module the host can run.
func (l *loader) plain(o Options) (*Result, error) {
	switch strings.ToLower(filepath.Ext(o.Entrypoint)) {
	case ".js", ".mjs":
	default:
		return nil, fmt.Errorf("server entrypoint %s needs bundling (TypeScript or JSX): deploy without --no-bundle", o.Entrypoint)
	}
	name, err := l.add(o.Entrypoint, manifest.ModuleJS)
	if err != nil {
		return nil, err
	}
	l.res.Entrypoint = name
	for _, m := range o.Modules {
		if _, err := l.add(m, ""); err != nil {
			return nil, err
		}
	}
	return &l.res, nil
}

// resolvingOwn marks the plugin's own calls to esbuild's resolver, so its
// hook lets them through.
type resolvingOwn struct{}

// bundle runs esbuild: one ES module named after the entrypoint (".js"),
// with attached text and data modules and the extra Modules beside it.
func (l *loader) bundle(o Options) (*Result, error) {
	entryAbs, err := filepath.Abs(o.Entrypoint)
	if err != nil {
		return nil, err
	}
	entryName, err := l.name(entryAbs)
	if err != nil {
		return nil, err
	}
	outName := strings.TrimSuffix(entryName, path.Ext(entryName)) + ".js"
	l.res.Entrypoint, l.res.Bundled = outName, true
	// The bundle is the first module; its content is filled in below.
	l.names[outName] = entryAbs
	l.res.Modules = append(l.res.Modules, Module{Name: outName, Type: manifest.ModuleJS})

	// Extra modules stay modules: an import of one is left to the host.
	extra := map[string]bool{}
	for _, m := range o.Modules {
		abs, err := filepath.Abs(m)
		if err != nil {
			return nil, err
		}
		if abs == entryAbs {
			continue
		}
		if _, err := l.add(abs, ""); err != nil {
			return nil, err
		}
		extra[abs] = true
	}
	// The bundle sits at the root of the module names, so an attached
	// module is imported as "./" + its name.
	outDir := filepath.Dir(filepath.Join(l.base, filepath.FromSlash(outName)))
	var pluginErr error
	attach := api.Plugin{
		Name: "cfdeploy-modules",
		Setup: func(b api.PluginBuild) {
			filter := `\.(txt|html|sql|bin)$`
			if len(extra) > 0 {
				filter = `.*`
			}
			b.OnResolve(api.OnResolveOptions{Filter: filter}, func(a api.OnResolveArgs) (api.OnResolveResult, error) {
				if _, own := a.PluginData.(resolvingOwn); own {
					return api.OnResolveResult{}, nil
				}
				r := b.Resolve(a.Path, api.ResolveOptions{Importer: a.Importer, ResolveDir: a.ResolveDir, Kind: a.Kind, Namespace: a.Namespace, PluginData: resolvingOwn{}, With: a.With})
				if len(r.Errors) > 0 || r.External || r.Path == "" || r.Namespace != "file" {
					return api.OnResolveResult{Errors: r.Errors}, nil
				}
				typ := attachedType(r.Path)
				if typ == "" && !extra[r.Path] {
					return api.OnResolveResult{Path: r.Path, Namespace: r.Namespace, SideEffects: sideEffects(r.SideEffects)}, nil
				}
				name, err := l.add(r.Path, typ)
				if err != nil {
					return api.OnResolveResult{}, err
				}
				rel, err := filepath.Rel(outDir, filepath.Join(l.base, filepath.FromSlash(name)))
				if err != nil {
					pluginErr = err
					return api.OnResolveResult{}, err
				}
				rel = filepath.ToSlash(rel)
				if !strings.HasPrefix(rel, "../") {
					rel = "./" + rel
				}
				return api.OnResolveResult{Path: rel, External: true}, nil
			})
		},
	}
	res := api.Build(api.BuildOptions{
		EntryPoints:   []string{entryAbs},
		Bundle:        true,
		Write:         false,
		Outfile:       filepath.Join(l.base, filepath.FromSlash(outName)),
		AbsWorkingDir: l.base,
		Format:        api.FormatESModule,
		Platform:      api.PlatformBrowser,
		Target:        api.ES2022,
		// Wrangler's choice for Workers: packages' worker and browser
		// builds before their Node ones.
		Conditions: []string{"workerd", "worker", "browser"},
		MainFields: []string{"browser", "module", "main"},
		Loader:     map[string]api.Loader{".json": api.LoaderJSON},
		Plugins:    []api.Plugin{attach},
		Metafile:   true,
		LogLevel:   api.LogLevelSilent,
		Charset:    api.CharsetUTF8,
	})
	if len(res.Errors) > 0 {
		return nil, &BuildError{Messages: formatMessages(l.base, res.Errors)}
	}
	if pluginErr != nil {
		return nil, pluginErr
	}
	var bundle []byte
	for _, f := range res.OutputFiles {
		if strings.HasSuffix(f.Path, ".js") {
			bundle = f.Contents
		}
	}
	if bundle == nil {
		return nil, errors.New("bundle server code: esbuild wrote no JavaScript")
	}
	l.res.Modules[0].Content = bundle
	l.res.Inputs = append(l.res.Inputs, metafileInputs(l.base, res.Metafile)...)
	slices.Sort(l.res.Inputs)
	l.res.Inputs = slices.Compact(l.res.Inputs)
	return &l.res, nil
}

func sideEffects(b bool) api.SideEffects {
	if b {
		return api.SideEffectsTrue
	}
	return api.SideEffectsFalse
}

// formatMessages writes esbuild's errors as file:line:col: text, the file
// relative to the entrypoint's directory where it is below it.
func formatMessages(base string, msgs []api.Message) []string {
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		text := m.Text
		if m.Location == nil {
			out = append(out, text)
			continue
		}
		file := m.Location.File
		if rel, err := filepath.Rel(base, file); err == nil && !strings.HasPrefix(rel, "..") {
			file = rel
		} else if abs := filepath.Join(base, file); !filepath.IsAbs(file) {
			if rel, err := filepath.Rel(base, abs); err == nil {
				file = rel
			}
		}
		out = append(out, fmt.Sprintf("%s:%d:%d: %s", filepath.ToSlash(file), m.Location.Line, m.Location.Column+1, text))
	}
	return out
}

// metafileInputs lists the files esbuild read, as absolute paths.
func metafileInputs(base, meta string) []string {
	var m struct {
		Inputs map[string]json.RawMessage `json:"inputs"`
	}
	if json.Unmarshal([]byte(meta), &m) != nil {
		return nil
	}
	out := make([]string, 0, len(m.Inputs))
	for p := range m.Inputs {
		if strings.Contains(p, ":") && !filepath.IsAbs(p) {
			continue // another namespace
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(base, filepath.FromSlash(p))
		}
		out = append(out, p)
	}
	return out
}
