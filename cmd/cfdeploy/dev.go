package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/cobra"

	"github.com/cfdeploy/cfdeploy/internal/host"
	"github.com/cfdeploy/cfdeploy/internal/host/accesslog"
	"github.com/cfdeploy/cfdeploy/internal/host/coalesce"
	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// devOptions are the inputs of dev.
type devOptions struct {
	Dir      string
	Port     int
	Name     string
	Debounce time.Duration
	deploy   deployOptions
	// ready, if set, hears the project URL once the first deploy is live
	// (tests use it instead of parsing output).
	ready func(url string)
	// deployed, if set, hears the result of every deploy after the first.
	deployed func(*client.DeployResult, error)
	// reload resolves the deploy settings again after cfdeploy.toml
	// changed; nil keeps the first ones.
	reload func() (deployOptions, error)
}

func newDevCmd(g *global) *cobra.Command {
	var o devOptions
	cmd := &cobra.Command{
		Use:   "dev [DIR]",
		Short: "Serve DIR locally on an embedded host and redeploy on change",
		Long: `Start a cfhost inside this process (with a temporary data directory), deploy
DIR (default: dir from cfdeploy.toml; there is no other default) to it, serve
it on 127.0.0.1:PORT and redeploy whenever a file changes: a site file,
_redirects, _headers, .assetsignore, cfdeploy.toml or a server code file.
Server code, _redirects, _headers and [assets] settings apply as on a real
host, and their warnings are printed. Every request is logged on stderr:
method, path, status, duration and whether an asset or server code answered.
Stop with Ctrl-C.`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.bind(cmd, map[string]string{
				"assets.html_handling":      "html-handling",
				"assets.not_found_handling": "not-found-handling",
				"server.entrypoint":         "server",
			}); err != nil {
				return err
			}
			// No default to ".": the current directory is where
			// dotfiles, cfdeploy.toml and a cfhost data directory live.
			if len(args) == 1 {
				o.Dir = args[0]
			} else if d := g.v.GetString("dir"); d != "" {
				o.Dir = g.resolve(d, g.fromFile(cmd, "dir", ""))
			} else {
				return usageError{errors.New("no directory to serve: pass DIR (e.g. 'cfdeploy dev ./public'), or set dir in cfdeploy.toml")}
			}
			// Reuse deploy's resolution of asset, server and env settings;
			// the project is the embedded host's own.
			g.v.Set("project_id", "dev")
			d, err := g.deployOptions(cmd, []string{o.Dir})
			if err != nil {
				return err
			}
			o.deploy = d
			o.Name = g.v.GetString("name")
			o.reload = func() (deployOptions, error) {
				if err := g.load(cmd); err != nil {
					return deployOptions{}, err
				}
				return g.deployOptions(cmd, []string{o.Dir})
			}
			return g.runDev(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Port, "port", 8787, "port to serve on (0 picks a free one)")
	f.DurationVar(&o.Debounce, "debounce", 200*time.Millisecond, "quiet time after a change before redeploying")
	// The deploy settings; dev makes its own project and always deploys,
	// so --project and --dry-run stay hidden.
	addDeployFlags(cmd)
	f.MarkHidden("dry-run") //nolint:errcheck // flag exists
	f.MarkHidden("project") //nolint:errcheck // flag exists
	f.MarkHidden("strict")  //nolint:errcheck // flag exists
	return cmd
}

// runDev runs the embedded host until ctx ends.
func (g *global) runDev(ctx context.Context, o devOptions) error {
	if st, err := os.Stat(o.Dir); err != nil || !st.IsDir() {
		return withHint(fmt.Errorf("site directory %s does not exist or is not a directory", o.Dir), "pass the directory that holds your site, e.g. 'cfdeploy dev ./public'")
	}
	dataDir, err := os.MkdirTemp("", "cfdeploy-dev-*")
	if err != nil {
		return fmt.Errorf("create temporary data directory: %w", err)
	}
	defer os.RemoveAll(dataDir)
	token := make([]byte, 16)
	rand.Read(token)
	requests := accesslog.New(&devRequests{w: g.io.Err}, accesslog.JSON)
	defer requests.Close()
	h, err := host.New(ctx, host.Config{
		DataDir:         dataDir,
		APIToken:        hex.EncodeToString(token),
		BaseDomain:      "localhost",
		Version:         "cfdeploy-dev/" + version(),
		AccessLog:       true,
		AccessLogWriter: requests,
		// dev redeploys on every saved change, and the host is the
		// developer's own: no deploy budget to speak of.
		DeployBudget: 1 << 30,
		Logger:       slog.New(slog.NewTextHandler(g.io.Err, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return fmt.Errorf("start embedded host: %w", err)
	}
	defer h.Close()

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Port)))
	if err != nil {
		return withHint(fmt.Errorf("listen on port %d: %w", o.Port, err), "pick another port with --port N (0 picks a free one)")
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ConnContext: coalesce.ConnContext}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(coalesce.Listener(ln)) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx) //nolint:errcheck // best effort on the way out
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	base := "http://127.0.0.1:" + strconv.Itoa(port)

	c, err := client.New(base, client.Options{Token: hex.EncodeToString(token)})
	if err != nil {
		return err
	}
	name := o.Name
	if name == "" {
		abs, _ := filepath.Abs(o.Dir)
		name = filepath.Base(abs)
	}
	p, err := c.CreateProject(ctx, name)
	if err != nil {
		return fmt.Errorf("create dev project: %w", err)
	}
	o.deploy.ProjectID = p.ID

	// inputs are the server code's files as last read: a bundle's sources
	// change with its imports.
	var inputs []string
	deploy := func() (*client.DeployResult, error) {
		if err := g.refreshConfigFiles(&o.deploy); err != nil {
			return nil, err
		}
		loaded, err := o.deploy.serverCode()
		if err != nil {
			return nil, err
		}
		sc := loaded.code()
		if loaded != nil {
			inputs = loaded.Inputs
		}
		d := o.deploy // a Pages project's compiled Worker changes a copy
		if sc, err = g.pagesServerCode(&d, sc); err != nil {
			return nil, err
		}
		progress := g.io.Progress()
		cfg := d.Config
		res, err := c.Deploy(ctx, client.DeployOptions{
			ProjectID: p.ID, Dir: o.Dir, CachePath: o.deploy.CachePath, Concurrency: o.deploy.Concurrency,
			Config: &cfg, ServerCode: sc, RunWorkerFirst: d.RunWorkerFirst, Env: o.deploy.Env, Ignorer: d.Ignorer,
			AllowEmpty: true, // a new project's folder may start empty
			Progress:   progress.Event,
		})
		progress.Close()
		if err == nil {
			for _, w := range res.Warnings {
				g.chatter("warning: %s line %d: %s (the line was skipped)", w.File, w.Line, w.Message)
			}
		}
		return res, err
	}
	if _, err := deploy(); err != nil {
		return err
	}
	// The dev host serves one site, so the bare address is the site too.
	h.SetDefaultProject(p.ID)
	sub := projectURL(base, "localhost", p.ID)
	pathURL := projectURL(base, "", p.ID)
	if g.json {
		// One document, printed once the site is live.
		if err := g.printJSON(map[string]any{"projectId": p.ID, "url": base + "/", "urls": []string{base + "/", sub, pathURL}}); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(g.io.Out, base+"/")
	}
	g.chatter("Serving %s at %s/ (also %s and %s)", o.Dir, base, sub, pathURL)
	g.chatter("Watching for changes; press Ctrl-C to stop.")
	if o.ready != nil {
		o.ready(pathURL)
	}

	logf := func(err error) { g.chatter("watch: %v", err) }
	changes, err := watchTree(ctx, o.Dir, o.Debounce, logf)
	if err != nil {
		return err
	}
	settings, err := watchFiles(ctx, o.Debounce, logf)
	if err != nil {
		return err
	}
	settings.set(g.devSettingsFiles(o.deploy, inputs))
	functions, err := g.watchPagesFunctions(ctx, o.Debounce, logf)
	if err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			g.chatter("Stopped.")
			return nil
		case err := <-serveErr:
			return fmt.Errorf("serve: %w", err)
		case <-settings.changed:
			if o.reload != nil {
				d, err := o.reload()
				if err != nil {
					g.chatter("%s: %v (fix it and save again)", g.configPath, err)
					continue
				}
				d.ProjectID, d.Dir = p.ID, o.Dir
				o.deploy = d
			}
			g.redeploy(ctx, o, deploy)
			settings.set(g.devSettingsFiles(o.deploy, inputs))
		case <-changes:
			g.redeploy(ctx, o, deploy)
			settings.set(g.devSettingsFiles(o.deploy, inputs))
		case <-functions:
			g.redeploy(ctx, o, deploy)
		}
	}
}

// redeploy runs one redeploy of the dev loop and reports it.
func (g *global) redeploy(ctx context.Context, o devOptions, deploy func() (*client.DeployResult, error)) {
	res, err := deploy()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		g.chatter("Redeploy failed: %v (fix it and save again)", err)
	} else {
		g.chatter("Redeployed: %d files, %d new.", res.DeployedAssets, res.NewAssets)
	}
	if o.deployed != nil {
		o.deployed(res, err)
	}
}

// devSettingsFiles are the files outside the site tree whose changes call
// for a redeploy: cfdeploy.toml and the server code, with the sources a
// bundle was made of (installed packages under node_modules aside).
func (g *global) devSettingsFiles(d deployOptions, inputs []string) []string {
	files := []string{g.configPath}
	if d.Server != "" {
		files = append(files, d.Server)
	}
	for _, p := range inputs {
		if !strings.Contains(filepath.ToSlash(p), "/node_modules/") {
			files = append(files, p)
		}
	}
	return files
}

// refreshConfigFiles reads _redirects and _headers from the site's root into
// the deploy's config; dev calls it before every redeploy, since they may be
// what changed.
func (g *global) refreshConfigFiles(o *deployOptions) error {
	o.Config.Redirects, o.Config.Headers = "", ""
	for _, name := range []string{"_redirects", "_headers"} {
		b, err := os.ReadFile(filepath.Join(o.Dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		if name == "_redirects" {
			o.Config.Redirects = string(b)
		} else {
			o.Config.Headers = string(b)
		}
	}
	return nil
}

// watchTree watches dir and its subdirectories (new ones too) and sends one
// signal per burst of changes, after quiet time debounce. Changes under
// always-ignored names (.git, node_modules, .cfdeploy) do not count.
func watchTree(ctx context.Context, dir string, debounce time.Duration, logf func(error)) (<-chan struct{}, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	ig := &manifest.Ignorer{}
	root, _ := filepath.Abs(dir)
	addTree := func(p string) {
		filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error { //nolint:errcheck // best effort
			if err != nil || !d.IsDir() {
				return nil
			}
			if rel, _ := filepath.Rel(root, q); rel != "." && !isPagesInput(rel) && ig.Ignored(filepath.ToSlash(rel), true) {
				return filepath.SkipDir
			}
			if err := w.Add(q); err != nil {
				logf(err)
			}
			return nil
		})
	}
	addTree(root)
	out := make(chan struct{}, 1)
	go func() {
		defer w.Close()
		var timer <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				rel, err := filepath.Rel(root, ev.Name)
				if err != nil {
					continue
				}
				// _redirects, _headers and .assetsignore at the root are
				// not assets, but they are the site's configuration.
				if !slices.Contains(manifest.ConfigFiles, rel) && !isPagesInput(rel) && (ig.Ignored(filepath.ToSlash(rel), false) || ignoredDirIn(ig, filepath.ToSlash(rel))) {
					continue
				}
				if ev.Has(fsnotify.Create) {
					if st, err := os.Stat(ev.Name); err == nil && st.IsDir() {
						addTree(ev.Name)
					}
				}
				timer = time.After(debounce)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				logf(err)
			case <-timer:
				timer = nil
				select {
				case out <- struct{}{}:
				default: // a redeploy is already pending
				}
			}
		}
	}()
	return out, nil
}

// ignoredDirIn reports whether any directory on rel's path is ignored.
func ignoredDirIn(ig *manifest.Ignorer, rel string) bool {
	for i := 0; i < len(rel); i++ {
		if rel[i] == '/' && ig.Ignored(rel[:i], true) {
			return true
		}
	}
	return false
}
