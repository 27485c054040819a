package pagesfn

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

// WorkerFile is the name of an advanced-mode Worker in a Pages project's
// output directory: a file, or a directory whose index.js is the entry.
const WorkerFile = "_worker.js"

// Mode says where a Worker came from.
type Mode string

// The modes of a Pages project's server code.
const (
	ModeFunctions Mode = "functions"
	ModeAdvanced  Mode = "advanced"
)

// Worker is a Pages project's server code as one bundled ES module.
type Worker struct {
	Mode Mode
	// Entrypoint names the module ("_worker.js"); Source is its text.
	Entrypoint string
	Source     []byte
	// Routes decides which requests reach the Worker: the project's
	// _routes.json, or (functions mode, without one) the generated rules,
	// with RoutesGenerated set. Nil (advanced mode without _routes.json)
	// sends every request to the Worker first.
	Routes          *RoutesJSON
	RoutesGenerated bool
	// Handlers (in matching order) and Middleware (outermost first) are
	// the functions/ routes compiled in.
	Handlers, Middleware []Route
}

//go:embed router.js
var routerJS string

// CompileFunctions compiles the functions/ directory dir into one Worker
// with Cloudflare's file-based routing. routes is the project's
// _routes.json (nil generates one from the tree). It returns nil and no
// error when no file of dir exports a handler. name is how messages name
// dir ("functions").
func CompileFunctions(dir, name string, routes *RoutesJSON) (*Worker, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	files, err := sourceFiles(abs)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, nil
	}
	exports, err := scanExports(abs, name, files)
	if err != nil {
		return nil, err
	}
	var all []Route
	for _, f := range files {
		base, err := routeOf(f)
		if err != nil {
			return nil, err
		}
		for _, e := range exports[f] {
			method, ok := Methods[e]
			if !ok {
				continue
			}
			r := base
			r.Export, r.Method = e, method
			all = append(all, r)
		}
	}
	if len(all) == 0 {
		return nil, nil
	}
	handlers, middleware := SortRoutes(all)
	w := &Worker{Mode: ModeFunctions, Entrypoint: WorkerFile, Routes: routes, Handlers: handlers, Middleware: middleware}
	if routes == nil {
		w.Routes, w.RoutesGenerated = GenerateRoutesJSON(all), true
	}
	entry := entrySource(handlers, middleware, w.Routes)
	w.Source, err = bundle(api.BuildOptions{
		Stdin:         &api.StdinOptions{Contents: entry, ResolveDir: abs, Sourcefile: "cfdeploy-pages-router.js", Loader: api.LoaderJS},
		AbsWorkingDir: abs,
	}, filepath.Dir(abs))
	if err != nil {
		return nil, err
	}
	return w, nil
}

// CompileAdvanced bundles the advanced-mode Worker of the output directory
// site: site/_worker.js, or site/_worker.js/index.js with the modules it
// imports. It returns nil and no error when there is none. routes is the
// project's _routes.json, or nil.
func CompileAdvanced(site string, routes *RoutesJSON) (*Worker, error) {
	abs, err := filepath.Abs(site)
	if err != nil {
		return nil, err
	}
	entry := filepath.Join(abs, WorkerFile)
	st, err := os.Stat(entry)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		entry = filepath.Join(entry, "index.js")
		if _, err := os.Stat(entry); err != nil {
			return nil, fmt.Errorf("%s is a directory without index.js: the advanced-mode Worker starts at _worker.js/index.js", filepath.Join(site, WorkerFile))
		}
	}
	src, err := bundle(api.BuildOptions{EntryPoints: []string{entry}, AbsWorkingDir: abs}, filepath.Dir(abs))
	if err != nil {
		return nil, err
	}
	return &Worker{Mode: ModeAdvanced, Entrypoint: WorkerFile, Source: src, Routes: routes}, nil
}

// sourceFiles lists the files of dir that can hold handlers,
// slash-separated and sorted; dotfiles, dot-directories and node_modules
// are skipped.
func sourceFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if p != dir && (strings.HasPrefix(name, ".") || name == "node_modules") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && isSource(name) {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read functions directory: %w", err)
	}
	slices.Sort(files)
	return files, nil
}

// scanExports returns each file's export names, read by esbuild without
// bundling, so a file that exports no handler (a helper module) is no
// route, as on Cloudflare.
func scanExports(dir, name string, files []string) (map[string][]string, error) {
	entries := make([]string, len(files))
	for i, f := range files {
		entries[i] = filepath.Join(dir, filepath.FromSlash(f))
	}
	res := api.Build(api.BuildOptions{
		EntryPoints:   entries,
		AbsWorkingDir: dir,
		Outdir:        filepath.Join(dir, ".cfdeploy-scan"),
		Format:        api.FormatESModule,
		Metafile:      true,
		Write:         false,
		LogLevel:      api.LogLevelSilent,
		Loader:        loaders,
	})
	if len(res.Errors) > 0 {
		return nil, buildError(res.Errors, dir, filepath.Dir(dir))
	}
	var meta struct {
		Outputs map[string]struct {
			EntryPoint string   `json:"entryPoint"`
			Exports    []string `json:"exports"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(res.Metafile), &meta); err != nil {
		return nil, fmt.Errorf("read the exports of %s: %w", name, err)
	}
	out := map[string][]string{}
	for _, o := range meta.Outputs {
		if o.EntryPoint != "" {
			out[filepath.ToSlash(o.EntryPoint)] = o.Exports
		}
	}
	return out, nil
}

// loaders are the module types a Worker may import besides code, as the
// Workers module rules name them: text and binary data.
var loaders = map[string]api.Loader{
	".txt":  api.LoaderText,
	".html": api.LoaderText,
	".sql":  api.LoaderText,
	".bin":  api.LoaderBinary,
}

// bundle runs esbuild with the options a Worker needs (one ES module,
// resolving npm packages for workers) on top of o; messages name files
// relative to root.
func bundle(o api.BuildOptions, root string) ([]byte, error) {
	o.Bundle = true
	o.Format = api.FormatESModule
	o.Platform = api.PlatformNeutral
	o.MainFields = []string{"browser", "module", "main"}
	o.Conditions = []string{"workerd", "worker", "browser"}
	o.Target = api.ES2022
	o.Write = false
	o.Outfile = filepath.Join(o.AbsWorkingDir, ".cfdeploy-out", WorkerFile)
	o.LogLevel = api.LogLevelSilent
	o.Loader = loaders
	res := api.Build(o)
	if len(res.Errors) > 0 {
		return nil, buildError(res.Errors, o.AbsWorkingDir, root)
	}
	for _, f := range res.OutputFiles {
		if strings.HasSuffix(f.Path, ".js") {
			return f.Contents, nil
		}
	}
	return nil, errors.New("esbuild produced no module")
}

// buildError lists esbuild's messages as file:line:col: text, files
// (relative to workDir in the messages) relative to root.
func buildError(msgs []api.Message, workDir, root string) error {
	lines := make([]string, 0, len(msgs))
	for i, m := range msgs {
		if i == 10 {
			lines = append(lines, fmt.Sprintf("… and %d more", len(msgs)-i))
			break
		}
		if m.Location == nil {
			lines = append(lines, m.Text)
			continue
		}
		file := m.Location.File
		if !filepath.IsAbs(file) {
			file = filepath.Join(workDir, file)
		}
		if rel, err := filepath.Rel(root, file); err == nil && !strings.HasPrefix(rel, "..") {
			file = rel
		}
		lines = append(lines, fmt.Sprintf("%s:%d:%d: %s", filepath.ToSlash(file), m.Location.Line, m.Location.Column+1, m.Text))
	}
	return errors.New(strings.Join(lines, "\n"))
}

// entrySource is the generated entry: an import of each handler, the
// routing tables and the router.
func entrySource(handlers, middleware []Route, routes *RoutesJSON) string {
	var b strings.Builder
	b.WriteString("// Generated by cfdeploy from functions/: the routing table and the router.\n")
	n := 0
	table := func(name string, rs []Route) {
		var rows []string
		for _, r := range rs {
			id := fmt.Sprintf("__pagesH%d", n)
			n++
			fmt.Fprintf(&b, "import { %s as %s } from %s;\n", r.Export, id, quoteJS("./"+r.File))
			segs := make([]string, 0, len(r.Segments))
			for _, s := range r.Segments {
				switch s.Kind {
				case Static:
					segs = append(segs, "{ text: "+quoteJS(strings.ToLower(s.Text))+" }")
				case Param:
					segs = append(segs, "{ param: "+quoteJS(s.Text)+" }")
				case Rest:
					segs = append(segs, "{ rest: true, name: "+quoteJS(s.Text)+" }")
				}
			}
			rows = append(rows, fmt.Sprintf("  { path: %s, method: %s, route: [%s], handler: %s },",
				quoteJS(r.Path()), quoteJS(r.Method), strings.Join(segs, ", "), id))
		}
		fmt.Fprintf(&b, "const %s = [\n%s\n];\n", name, strings.Join(rows, "\n"))
	}
	table("__pagesRoutes", handlers)
	table("__pagesMiddleware", middleware)
	rules, _ := json.Marshal(map[string][]string{"include": routes.Include, "exclude": routes.Exclude})
	fmt.Fprintf(&b, "const __pagesRules = %s;\n", rules)
	b.WriteString(routerJS)
	return b.String()
}

func quoteJS(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}
