package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
	"github.com/cfdeploy/cfdeploy/pkg/pagesfn"
)

// pagesFunctionsDir is where a Pages project keeps its Functions: next to
// its project file (wrangler.toml, cfdeploy.toml), or in the directory
// cfdeploy runs in when there is none.
const pagesFunctionsDir = "functions"

// pagesSummary is what a deploy compiled of a Pages project, for --dry-run
// --json.
type pagesSummary struct {
	// Mode is "functions" (a functions/ directory) or "advanced" (_worker.js).
	Mode string `json:"mode"`
	// Routes and Middleware list the compiled functions/ handlers in
	// matching order: "GET /users/:id (functions/users/[id].ts)".
	Routes     []string `json:"routes,omitempty"`
	Middleware []string `json:"middleware,omitempty"`
	// Include and Exclude are the _routes.json rules in force; Generated
	// is true when cfdeploy wrote them from functions/.
	Include   []string `json:"include,omitempty"`
	Exclude   []string `json:"exclude,omitempty"`
	Generated bool     `json:"generated,omitempty"`
}

// pagesServerCode returns the deploy's server code: own when it has some
// (--server, [server] entrypoint, a wrangler main), which wins; otherwise
// it compiles a Cloudflare Pages project's: _worker.js in the site directory
// (advanced mode) or else a functions/ directory, bundled into one Worker.
// It sets o.RunWorkerFirst from _routes.json (or, for functions/, the
// rules generated from it; for _worker.js without one, every request) and
// keeps a functions/ inside the site from being published. It returns nil
// when the project has neither.
func (g *global) pagesServerCode(o *deployOptions, own *api.ServerCode) (*api.ServerCode, error) {
	g.pagesAssetDefaults(o)
	root := filepath.Dir(g.configPath)
	fnDir := filepath.Join(root, pagesFunctionsDir)
	hasFunctions := isDir(fnDir)
	hasWorker := exists(filepath.Join(o.Dir, pagesfn.WorkerFile))
	routesPath := filepath.Join(o.Dir, pagesfn.RoutesFile)
	if own != nil {
		if hasFunctions || hasWorker {
			what := pagesfn.WorkerFile
			if !hasWorker {
				what = filepath.Join(root, pagesFunctionsDir) + string(filepath.Separator)
			}
			g.chatter("note: %s is not compiled: this deploy has server code of its own (%s)", what, own.Entrypoint)
		}
		return own, nil
	}
	routes, err := pagesfn.ReadRoutesJSON(routesPath)
	if err != nil {
		return nil, withHint(err, "docs/pages-functions.md describes the format")
	}
	w, err := pagesfn.CompileAdvanced(o.Dir, routes)
	if err != nil {
		return nil, withHint(fmt.Errorf("compile %s: %w", filepath.Join(o.Dir, pagesfn.WorkerFile), err), "fix the Worker named above")
	}
	if w != nil && hasFunctions {
		g.chatter("note: %s is not compiled: %s in %s is the Worker (advanced mode replaces Functions, as on Cloudflare)", fnDir+string(filepath.Separator), pagesfn.WorkerFile, o.Dir)
	}
	if w == nil && hasFunctions {
		name := filepath.ToSlash(filepath.Join(root, pagesFunctionsDir))
		w, err = pagesfn.CompileFunctions(fnDir, name, routes)
		if err != nil {
			return nil, withHint(fmt.Errorf("compile %s: %w", name, err), "fix the file named above; docs/pages-functions.md describes the routing rules")
		}
		if w == nil {
			g.chatter("note: %s/ has no file exporting onRequest or onRequestGet/Post/…, so the deploy has no server code", name)
		}
		if err := leaveOutOfSite(o, fnDir); err != nil {
			return nil, err
		}
	}
	if w == nil {
		if routes != nil {
			g.chatter("note: %s has no effect: there is no %s/ or %s to route to", routesPath, pagesFunctionsDir, pagesfn.WorkerFile)
		}
		return nil, nil
	}
	rwf := json.RawMessage("true")
	if w.Routes != nil {
		rwf = w.Routes.RunWorkerFirst()
	}
	if len(o.RunWorkerFirst) > 0 && string(o.RunWorkerFirst) != string(rwf) {
		g.chatter("note: run_worker_first is replaced by %s for a Pages project", routesSource(w))
	}
	o.RunWorkerFirst = rwf
	o.Pages = summarize(w)
	g.chatter("%s", describeWorker(w, root))
	return &api.ServerCode{
		Entrypoint:         w.Entrypoint,
		Modules:            map[string]api.Module{w.Entrypoint: {Content: base64.StdEncoding.EncodeToString(w.Source), Type: manifest.ModuleType(w.Entrypoint)}},
		CompatibilityDate:  o.CompatibilityDate,
		CompatibilityFlags: o.CompatibilityFlags,
	}, nil
}

// pagesAssetDefaults gives the site of a Pages project's wrangler file
// (pages_build_output_dir) Cloudflare Pages' not-found behaviour when the
// file sets none: a 404.html at the root answers unknown paths with 404,
// and without one the site is a single-page application.
func (g *global) pagesAssetDefaults(o *deployOptions) {
	if g.wrangler == nil || !g.wrangler.Pages || o.Config.NotFoundHandling != "" {
		return
	}
	o.Config.NotFoundHandling = pagesNotFound(o.Dir)
}

// pagesNotFound is Cloudflare Pages' not_found_handling for the site dir.
func pagesNotFound(dir string) string {
	if exists(filepath.Join(dir, "404.html")) {
		return "404-page"
	}
	return "single-page-application"
}

// leaveOutOfSite keeps a functions/ directory that lies inside the site
// directory (a deploy of ".") from being published: it is server code.
func leaveOutOfSite(o *deployOptions, fnDir string) error {
	site, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	fn, err := filepath.Abs(fnDir)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(site, fn)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil
	}
	if o.Ignorer == nil {
		if o.Ignorer, err = manifest.LoadIgnorer(o.Dir); err != nil {
			return err
		}
	}
	o.Ignorer.LeaveOut(filepath.ToSlash(rel), "Pages Functions source: compiled into the deployment's server code, never served")
	return nil
}

func summarize(w *pagesfn.Worker) *pagesSummary {
	s := &pagesSummary{Mode: string(w.Mode), Generated: w.RoutesGenerated}
	if w.Routes != nil {
		s.Include, s.Exclude = w.Routes.Include, w.Routes.Exclude
	}
	for _, r := range w.Handlers {
		s.Routes = append(s.Routes, routeLine(r))
	}
	for _, r := range w.Middleware {
		s.Middleware = append(s.Middleware, routeLine(r))
	}
	return s
}

func routeLine(r pagesfn.Route) string {
	m := r.Method
	if m == "" {
		m = "*"
	}
	return fmt.Sprintf("%s %s (functions/%s)", m, r.Path(), r.File)
}

func routesSource(w *pagesfn.Worker) string {
	switch {
	case w.Routes == nil:
		return pagesfn.WorkerFile + " (every request reaches it first)"
	case w.RoutesGenerated:
		return "the _routes.json generated from functions/"
	}
	return pagesfn.RoutesFile
}

// describeWorker is the line a deploy prints about the compiled Worker.
func describeWorker(w *pagesfn.Worker, root string) string {
	var b strings.Builder
	if w.Mode == pagesfn.ModeAdvanced {
		b.WriteString("Pages advanced mode: " + pagesfn.WorkerFile + " is the server code")
	} else {
		fmt.Fprintf(&b, "Pages Functions: compiled %s/ (%d route(s), %d middleware) into %s", filepath.ToSlash(filepath.Join(root, pagesFunctionsDir)), len(w.Handlers), len(w.Middleware), w.Entrypoint)
	}
	switch {
	case w.Routes == nil:
		b.WriteString("; every request reaches it first")
	default:
		src := pagesfn.RoutesFile
		if w.RoutesGenerated {
			src = "generated " + src
		}
		fmt.Fprintf(&b, "; %s: include %s", src, strings.Join(w.Routes.Include, " "))
		if len(w.Routes.Exclude) > 0 {
			fmt.Fprintf(&b, ", exclude %s", strings.Join(w.Routes.Exclude, " "))
		}
	}
	return b.String()
}

// isPagesInput reports whether rel (relative to the site root) is a Pages
// project's _worker.js or _routes.json, or lies in a _worker.js directory:
// never assets, but dev redeploys when they change.
func isPagesInput(rel string) bool {
	rel = filepath.ToSlash(rel)
	_, ok := manifest.PagesFiles[rel]
	return ok || strings.HasPrefix(rel, pagesfn.WorkerFile+"/")
}

// watchPagesFunctions watches the project's functions/ directory for dev;
// the channel is nil (never ready) when there is none.
func (g *global) watchPagesFunctions(ctx context.Context, debounce time.Duration, logf func(error)) (<-chan struct{}, error) {
	dir := filepath.Join(filepath.Dir(g.configPath), pagesFunctionsDir)
	if !isDir(dir) {
		return nil, nil
	}
	return watchTree(ctx, dir, debounce, logf)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, fs.ErrNotExist)
}
