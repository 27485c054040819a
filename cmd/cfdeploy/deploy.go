package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// deployOptions is everything deploy needs, resolved from flags,
// environment and cfdeploy.toml.
type deployOptions struct {
	Dir       string
	ProjectID string
	// Name is cfdeploy.toml's name; a deploy keeps the project's name in
	// step with it.
	Name           string
	Config         api.AssetConfig
	RunWorkerFirst json.RawMessage
	Server         string
	Modules        []string
	// NoBundle sends a JavaScript entrypoint and its modules as they are.
	NoBundle bool
	// CompatibilityDate and CompatibilityFlags go with the server code.
	CompatibilityDate  string
	CompatibilityFlags []string
	// CreateMissing creates the project named ProjectID when none has that
	// name: a wrangler file names its Worker but holds no project ID.
	CreateMissing bool
	Env           map[string]string
	Concurrency   int
	DryRun        bool
	AllowEmpty    bool
	Strict        bool
	// NoServer confirms that a deploy without server code may remove the
	// live deployment's.
	NoServer  bool
	CachePath string
	// Preview deploys without going live; Branch is the branch deployed.
	Preview bool
	Branch  string
	// Ignorer, when set, decides what stays local instead of the site's
	// .assetsignore alone (a Pages deploy adds its functions/ to it).
	Ignorer *manifest.Ignorer
	// Pages describes the Pages Functions or _worker.js compiled into the
	// server code, when the deploy has them.
	Pages *pagesSummary
}

// deployOutput is the --json document of a deploy: the project, the new
// deployment, its URL, what was uploaded and the warnings.
type deployOutput struct {
	Project        api.Project    `json:"project"`
	Deployment     api.Deployment `json:"deployment"`
	URL            string         `json:"url"`
	DeployedAssets int            `json:"deployedAssets"`
	NewAssets      int            `json:"newAssets"`
	SkippedAssets  int            `json:"skippedAssets"`
	UploadedBytes  int64          `json:"uploadedBytes"`
	Warnings       []api.Warning  `json:"warnings"`
	// Superseded is the deployment that went live while this one uploaded.
	Superseded string `json:"superseded,omitempty"`
	// Preview is set when the deployment did not go live; URL is then its
	// own address, and BranchURL (with --branch) its branch's.
	Preview   bool   `json:"preview,omitempty"`
	BranchURL string `json:"branchUrl,omitempty"`
}

// dryRunOutput is the --json document of deploy --dry-run.
type dryRunOutput struct {
	DryRun      bool   `json:"dryRun"`
	ProjectID   string `json:"projectId"`
	Files       int    `json:"files"`
	Bytes       int64  `json:"bytes"`
	UploadFiles int    `json:"uploadFiles"`
	UploadBytes int64  `json:"uploadBytes"`
	// LeftOut is what stays local and why: ignored files (a pruned
	// directory once, its path ending in "/") and skipped entries.
	LeftOut []leftOut `json:"leftOut"`
	// Warnings are the _redirects/_headers lines the host would skip.
	Warnings []api.Warning `json:"warnings"`
	// Changes compares with the live deployment (everything is added when
	// there is none).
	Changes fileChanges `json:"changes"`
	// Settings are the deploy's resolved settings, from flags, the
	// environment and the project (or wrangler) file.
	Settings dryRunSettings `json:"settings"`
	// Unsupported lists the wrangler settings cfhost cannot honour.
	Unsupported []string `json:"unsupported,omitempty"`
	// Pages is what was compiled of a Pages project's server code.
	Pages *pagesSummary `json:"pages,omitempty"`
}

// dryRunSettings is what a deploy would send besides the files.
type dryRunSettings struct {
	Name             string          `json:"name,omitempty"`
	Dir              string          `json:"dir"`
	HTMLHandling     string          `json:"htmlHandling,omitempty"`
	NotFoundHandling string          `json:"notFoundHandling,omitempty"`
	RunWorkerFirst   json.RawMessage `json:"runWorkerFirst,omitempty"`
	Server           string          `json:"server,omitempty"`
	// Bundled says the JavaScript server code was bundled; ServerModules
	// are the modules that would be sent, the entrypoint first.
	Bundled            bool              `json:"bundled,omitempty"`
	ServerModules      []serverModule    `json:"serverModules,omitempty"`
	CompatibilityDate  string            `json:"compatibilityDate,omitempty"`
	CompatibilityFlags []string          `json:"compatibilityFlags,omitempty"`
	Env                map[string]string `json:"env,omitempty"`
}

// fileChanges lists paths a deploy adds, changes and removes.
type fileChanges struct {
	Added   []string `json:"added"`
	Changed []string `json:"changed"`
	Removed []string `json:"removed"`
}

// leftOut is one entry of dryRunOutput.LeftOut.
type leftOut struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func newDeployCmd(g *global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deploy [DIR]",
		Short: "Deploy a directory",
		Long: `Deploy DIR (default: dir from cfdeploy.toml) to the project.

Files are hashed locally (unchanged files are not read again), only what the
host lacks is uploaded, and the new deployment becomes active at once.
_redirects and _headers at the root of DIR are sent as configuration;
Left out by default: dotfiles and dot-directories (except .well-known/ at the
root), cfdeploy.toml, .git, node_modules, .DS_Store and the hash cache; a
"!NAME" line in .assetsignore publishes a dotfile. .assetsignore lists more
files to leave out; --dry-run lists everything left out and why.
An empty directory is refused unless --allow-empty, and so is one holding a
cfhost data directory (cfhost.db).
Without cfdeploy.toml, a wrangler.json, wrangler.jsonc or wrangler.toml is
read instead (--env-name picks an [env.NAME] section); the settings cfhost
cannot honour are named in one warning, and --strict refuses them.
A Cloudflare Pages project's server code is compiled when the deploy has
none of its own: _worker.js in DIR, or else a functions/ directory next to
the project file; DIR/_routes.json (generated from functions/ when absent)
decides which paths reach it. _worker.js and _routes.json are never
uploaded as assets (docs/pages-functions.md).`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := g.deployOptions(cmd, args)
			if err != nil {
				return err
			}
			return g.runDeploy(cmd.Context(), opts)
		},
	}
	addDeployFlags(cmd)
	cmd.Flags().Bool("no-server", false, "deploy without server code even if the live deployment has some (it is removed)")
	cmd.Flags().Bool("preview", false, "deploy a preview: served at its own URL, the live deployment unchanged (promote it with 'cfdeploy promote')")
	cmd.Flags().String("branch", "", "the branch deployed; its newest deployment answers at its branch URL. A preview unless it is production_branch from cfdeploy.toml")
	return cmd
}

// addDeployFlags defines the flags that deploy and dev share; both resolve
// them, with cfdeploy.toml and the environment, in the same way.
func addDeployFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("project", "", "project ID, unique ID prefix or name (default: project_id from cfdeploy.toml)")
	f.String("html-handling", "", "auto-trailing-slash, force-trailing-slash, drop-trailing-slash or none")
	f.String("not-found-handling", "", "single-page-application, 404-page or none")
	f.String("run-worker-first", "", "true, false or PATTERN[,PATTERN…]: requests that go to server code before assets")
	f.String("server", "", "server code entrypoint: a WASI .wasm file, or a JavaScript or TypeScript Worker (.js, .mjs, .ts, …), bundled with its imports unless --no-bundle")
	f.StringArray("module", nil, "extra server module file or glob, ** for any directories (repeatable)")
	f.Bool("no-bundle", false, "send a JavaScript entrypoint and its modules as they are, without bundling")
	f.StringArray("env", nil, "KEY=VALUE for server code (repeatable)")
	f.String("compatibility-date", "", "server code's compatibility date, YYYY-MM-DD (it changes routing: see docs/asset-serving.md)")
	f.StringArray("compatibility-flag", nil, "server code's compatibility flag (repeatable; replaces the file's list)")
	f.String("env-name", "", "with a wrangler file: the [env.NAME] section to deploy (wrangler's --env)")
	f.Int("concurrency", 3, "parallel bucket uploads")
	f.Bool("dry-run", false, "hash and report what would be uploaded and what is left out; change nothing")
	f.Bool("strict", false, "refuse to deploy when _redirects or _headers have warnings (lines the host would skip) or a wrangler file has settings cfhost cannot honour")
	f.Bool("allow-empty", false, "deploy even when the directory has no files (every path then answers 404)")
}

// deployOptions resolves the deploy settings with their precedence.
func (g *global) deployOptions(cmd *cobra.Command, args []string) (deployOptions, error) {
	if err := g.bind(cmd, map[string]string{
		"project_id":                "project",
		"assets.html_handling":      "html-handling",
		"assets.not_found_handling": "not-found-handling",
		"assets.run_worker_first":   "run-worker-first",
		"server.entrypoint":         "server",
		"server.no_bundle":          "no-bundle",
		"server.compatibility_date": "compatibility-date",
		"concurrency":               "concurrency",
	}); err != nil {
		return deployOptions{}, err
	}
	v := g.v
	var o deployOptions
	o.DryRun, _ = cmd.Flags().GetBool("dry-run")
	o.AllowEmpty, _ = cmd.Flags().GetBool("allow-empty")
	o.Strict, _ = cmd.Flags().GetBool("strict")
	o.NoServer, _ = cmd.Flags().GetBool("no-server") // deploy's own flag; false for dev
	o.Preview, _ = cmd.Flags().GetBool("preview")    // deploy's own flags, as no-server
	o.Branch, _ = cmd.Flags().GetString("branch")
	if o.Branch != "" && !o.Preview {
		prod := v.GetString("production_branch")
		o.Preview = prod != o.Branch
	}

	if len(args) == 1 {
		o.Dir = args[0]
	} else {
		o.Dir = g.resolve(v.GetString("dir"), g.fromFile(cmd, "dir", ""))
	}
	if o.Dir == "" {
		return o, usageError{errors.New("no directory to deploy: pass DIR, or run 'cfdeploy init' to write it to cfdeploy.toml")}
	}
	o.ProjectID = v.GetString("project_id")
	o.Name = v.GetString("name")
	if o.ProjectID == "" && g.wrangler != nil && o.Name != "" {
		// A wrangler file names the Worker; the project of that name is
		// the one deployed, made on the first deploy as wrangler does.
		o.ProjectID, o.CreateMissing = o.Name, true
	}
	if o.ProjectID == "" {
		return o, usageError{errors.New("no project: pass --project ID, set project_id in cfdeploy.toml, or run 'cfdeploy init'")}
	}

	o.Config.HTMLHandling = v.GetString("assets.html_handling")
	o.Config.NotFoundHandling = v.GetString("assets.not_found_handling")
	mc := rules.Config{HTMLHandling: o.Config.HTMLHandling, NotFoundHandling: o.Config.NotFoundHandling}
	if err := mc.Normalize(); err != nil {
		return o, g.settingError(cmd, err, "assets.html_handling", "html-handling")
	}
	rwf, err := runWorkerFirstJSON(v.Get("assets.run_worker_first"))
	if err != nil {
		return o, g.settingError(cmd, err, "assets.run_worker_first", "run-worker-first")
	}
	o.RunWorkerFirst = rwf

	o.Server = g.resolve(v.GetString("server.entrypoint"), g.fromFile(cmd, "server.entrypoint", "server"))
	if o.NoServer && o.Server != "" {
		return o, usageError{fmt.Errorf("--no-server and a server entrypoint (%s) contradict each other: drop one", o.Server)}
	}
	o.NoBundle = v.GetBool("server.no_bundle")
	if mods := stringSliceFlag(cmd.Flags(), "module"); len(mods) > 0 {
		o.Modules = mods
	} else {
		for _, m := range g.file.Server.Modules {
			o.Modules = append(o.Modules, g.resolve(m, true))
		}
	}

	o.CompatibilityDate = v.GetString("server.compatibility_date")
	if d := o.CompatibilityDate; d != "" && !isDate(d) {
		return o, g.settingError(cmd, fmt.Errorf("compatibility date %q: want YYYY-MM-DD", d), "server.compatibility_date", "compatibility-date")
	}
	if flags := stringSliceFlag(cmd.Flags(), "compatibility-flag"); len(flags) > 0 {
		o.CompatibilityFlags = flags
	} else {
		o.CompatibilityFlags = g.file.Server.CompatibilityFlags
	}

	o.Env = map[string]string{}
	for k, val := range g.file.Env {
		o.Env[k] = val
	}
	for _, kv := range stringSliceFlag(cmd.Flags(), "env") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok && g.wrangler != nil {
			return o, usageError{fmt.Errorf("--env %q: want KEY=VALUE; to pick the [env.%s] section of %s, pass --env-name %s", kv, kv, g.configPath, kv)}
		}
		if !ok || k == "" {
			return o, usageError{fmt.Errorf("--env %q: want KEY=VALUE", kv)}
		}
		o.Env[k] = val
	}
	if len(o.Env) == 0 {
		o.Env = nil
	}

	o.Concurrency = v.GetInt("concurrency")
	if o.Concurrency < 1 || o.Concurrency > 64 {
		return o, g.settingError(cmd, fmt.Errorf("concurrency %d: want 1 to 64", o.Concurrency), "concurrency", "concurrency")
	}
	o.CachePath = g.cachePath(o.Dir)
	return o, nil
}

// settingError is a usage error when the bad value came from a flag, and a
// plain failure (pointing at the file) when it came from cfdeploy.toml.
func (g *global) settingError(cmd *cobra.Command, err error, key, flag string) error {
	if g.fromFile(cmd, key, flag) {
		return withHint(err, "fix "+key+" in "+g.configPath)
	}
	return usageError{err}
}

// runDeploy deploys and prints the result: the URL on stdout (or the JSON
// document), the summary and warnings on stderr.
func (g *global) runDeploy(ctx context.Context, o deployOptions) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	st, err := os.Stat(o.Dir)
	if err != nil || !st.IsDir() {
		if err == nil {
			err = fs.ErrInvalid
		}
		return withHint(fmt.Errorf("site directory %s: %w", o.Dir, err), "pass the directory that holds your built site, e.g. 'cfdeploy deploy ./dist'")
	}
	if err := g.refreshConfigFiles(&o); err != nil {
		return err
	}
	loaded, err := o.serverCode()
	if err != nil {
		return err
	}
	sc, err := g.pagesServerCode(&o, loaded.code())
	if err != nil {
		return err
	}
	if err := g.wranglerWarning(o); err != nil {
		return err
	}
	var cfg *api.AssetConfig
	if o.Config != (api.AssetConfig{}) {
		cfg = &o.Config
	}

	// Checked before the host is asked anything: what the host would skip
	// is said before going live, and --strict stops here.
	warns, err := client.CheckConfig(cfg, o.RunWorkerFirst)
	if err != nil {
		return withHint(err, "fix the file, or the setting, named above")
	}
	for _, w := range warns {
		g.chatter("warning: %s line %d: %s (the host will skip this line)", w.File, w.Line, w.Message)
	}
	if o.Strict && len(warns) > 0 {
		return withHint(&client.WarningsError{Warnings: warns}, "fix the lines above, or deploy without --strict to let the host skip them")
	}
	// The host, the token and the project are checked before hashing,
	// which can take a while on a big site.
	proj, err := g.resolveProject(ctx, c, o.ProjectID)
	if errors.Is(err, errNoProject) && o.CreateMissing {
		proj, err = g.createNamedProject(ctx, c, o)
	}
	if err != nil {
		return err
	}
	o.ProjectID = proj.ID
	if err := g.confirmServerRemoval(o, proj, sc != nil); err != nil {
		return err
	}

	var name *string
	if o.Name != "" {
		name = &o.Name
	}
	progress := g.io.Progress()
	res, err := c.Deploy(ctx, client.DeployOptions{
		ProjectID:      o.ProjectID,
		Dir:            o.Dir,
		Ignorer:        o.Ignorer,
		CachePath:      o.CachePath,
		Concurrency:    o.Concurrency,
		Config:         cfg,
		ServerCode:     sc,
		RunWorkerFirst: o.RunWorkerFirst,
		Env:            o.Env,
		DryRun:         o.DryRun,
		AllowEmpty:     o.AllowEmpty,
		Strict:         o.Strict,
		ProjectName:    name,
		Preview:        o.Preview,
		Branch:         o.Branch,
		Live:           proj,
		Progress:       progress.Event,
	})
	progress.Close()
	if err != nil {
		return err
	}
	if o.DryRun {
		var live api.Manifest
		if proj.ActiveDeploymentID != nil {
			if live, err = c.DeploymentFiles(ctx, o.ProjectID, *proj.ActiveDeploymentID); err != nil {
				return err
			}
		}
		return g.printDryRun(o, res, warns, diffManifests(live, res.Manifest), loaded)
	}
	if len(warns) == 0 {
		// Normally said before uploading; a host whose parser differs
		// from this client's still gets heard.
		for _, w := range res.Warnings {
			g.chatter("warning: %s line %d: %s (the line was skipped)", w.File, w.Line, w.Message)
		}
	}
	if res.Superseded != "" {
		g.chatter("warning: deployment %s went live while this deploy was uploading, and this deploy has now replaced it; if it should stay, run 'cfdeploy rollback %s'", res.Superseded, res.Superseded)
	}
	u := g.projectURL(c.BaseURL(), res.Project.ID)
	var branchURL string
	if o.Preview {
		u = g.deploymentURL(c.BaseURL(), res.Project.ID, res.Deployment)
		branchURL = g.branchURL(c.BaseURL(), res.Project.ID, res.Deployment)
		g.chatter("Preview deployed: deployment %s is served at the URL below; the live deployment is unchanged. Make it live with: cfdeploy promote %s", res.Deployment.ShortID, res.Deployment.ShortID)
		if branchURL != "" {
			g.chatter("Branch %s's newest deployment: %s", res.Deployment.Branch, branchURL)
		}
	}
	if g.json {
		warnings := res.Warnings
		if warnings == nil {
			warnings = []api.Warning{}
		}
		return g.printJSON(deployOutput{
			Project: res.Project, Deployment: res.Deployment, URL: u,
			DeployedAssets: res.DeployedAssets, NewAssets: res.NewAssets, SkippedAssets: res.SkippedAssets,
			UploadedBytes: res.UploadedBytes, Warnings: warnings, Superseded: res.Superseded,
			Preview: o.Preview, BranchURL: branchURL,
		})
	}
	fmt.Fprintln(g.io.Out, u)
	return nil
}

// confirmServerRemoval stops a deploy without server code from silently
// removing the live deployment's: it asks on a terminal, and otherwise
// fails unless --no-server says so. A dry run only mentions it.
func (g *global) confirmServerRemoval(o deployOptions, live *api.Project, hasServer bool) error {
	if hasServer || o.NoServer || o.Preview || !live.HasServerCode {
		return nil
	}
	msg := fmt.Sprintf("the live deployment of project %s runs server code, and this deploy has none", live.ID)
	if o.DryRun {
		g.chatter("note: %s: deploying would remove it (pass --no-server to confirm that)", msg)
		return nil
	}
	hint := "Pass --server FILE (or set [server] entrypoint in cfdeploy.toml) to keep server code, or --no-server to deploy without it."
	if !g.io.CanPrompt() || g.json {
		return withHint(fmt.Errorf("%s: deploying would remove it (pass --no-server to allow that)", msg), hint)
	}
	fmt.Fprintf(g.io.Err, "The live deployment of project %s runs server code; this deploy has none and would remove it.\nDeploy without server code? [y/N] ", live.ID)
	line, _ := bufio.NewReader(g.io.In).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
		return withHint(errors.New("not deployed: the server code stays"), hint)
	}
	return nil
}

// projectURL is where a project is served. With a base domain (--base-domain
// or CFDEPLOY_BASE_DOMAIN) it is the subdomain form http://ID.DOMAIN:PORT/,
// otherwise the path form HOST/__project/ID/, which reaches the project on
// any host without DNS or /etc/hosts entries.
func (g *global) projectURL(host, id string) string {
	return projectURL(host, g.v.GetString("base_domain"), id)
}

func projectURL(host, baseDomain, id string) string {
	u, err := url.Parse(host)
	if err != nil || id == "" {
		return host
	}
	u.RawQuery, u.Fragment = "", ""
	if baseDomain != "" {
		h := id + "." + strings.TrimPrefix(baseDomain, ".")
		if port := u.Port(); port != "" {
			h += ":" + port
		}
		u.Host, u.Path, u.RawPath = h, "/", ""
		return u.String()
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/__project/" + id + "/"
	u.RawPath = ""
	return u.String()
}

// printDryRun reports a dry run: what would be uploaded, then what stays
// local and why.
func (g *global) printDryRun(o deployOptions, res *client.DeployResult, warns []api.Warning, ch fileChanges, sc *loadedServerCode) error {
	left := make([]leftOut, 0, len(res.Ignored)+len(res.Skipped))
	for _, s := range res.Ignored {
		left = append(left, leftOut{Path: s.Path, Reason: s.Reason})
	}
	for _, s := range res.Skipped {
		left = append(left, leftOut{Path: s.Path, Reason: s.Reason})
	}
	if g.json {
		if warns == nil {
			warns = []api.Warning{}
		}
		return g.printJSON(dryRunOutput{DryRun: true, ProjectID: o.ProjectID, Files: res.Files, Bytes: res.Bytes,
			UploadFiles: res.NeedFiles, UploadBytes: res.NeedBytes, LeftOut: left, Warnings: warns, Changes: ch,
			Settings: dryRunSettings{Name: o.Name, Dir: o.Dir, HTMLHandling: o.Config.HTMLHandling, NotFoundHandling: o.Config.NotFoundHandling,
				RunWorkerFirst: o.RunWorkerFirst, Server: o.Server, Bundled: sc != nil && sc.Bundled, ServerModules: sc.modules(),
				CompatibilityDate: o.CompatibilityDate, CompatibilityFlags: o.CompatibilityFlags, Env: o.Env},
			Unsupported: g.wranglerProblems(o), Pages: o.Pages})
	}
	fmt.Fprintf(g.io.Out, "%d of %d files (%s) would be uploaded\n", res.NeedFiles, res.Files, manifest.FormatBytes(res.NeedBytes))
	fmt.Fprintf(g.io.Out, "Against the live deployment: %d added, %d changed, %d removed\n", len(ch.Added), len(ch.Changed), len(ch.Removed))
	for _, l := range []struct {
		mark  string
		paths []string
	}{{"+", ch.Added}, {"~", ch.Changed}, {"-", ch.Removed}} {
		for _, p := range l.paths {
			fmt.Fprintf(g.io.Out, "  %s %s\n", l.mark, p)
		}
	}
	if mods := sc.modules(); len(mods) > 0 {
		how := "as they are"
		if sc.Bundled {
			how = "bundled from " + o.Server
		}
		fmt.Fprintf(g.io.Out, "Server code: %d module(s), %s\n", len(mods), how)
		for _, m := range mods {
			fmt.Fprintf(g.io.Out, "  %s  %s  %s\n", m.Name, m.Type, manifest.FormatBytes(int64(m.Bytes)))
		}
	}
	if len(left) > 0 {
		fmt.Fprintf(g.io.Out, "Left out (%d):\n", len(left))
		for _, l := range left {
			fmt.Fprintf(g.io.Out, "  %s  (%s)\n", l.Path, l.Reason)
		}
	}
	return nil
}

// diffManifests lists what going from live to next adds, changes (other
// contents) and removes, each sorted by path.
func diffManifests(live, next api.Manifest) fileChanges {
	ch := fileChanges{Added: []string{}, Changed: []string{}, Removed: []string{}}
	for p, e := range next {
		old, ok := live[p]
		switch {
		case !ok:
			ch.Added = append(ch.Added, p)
		case old.Hash != e.Hash:
			ch.Changed = append(ch.Changed, p)
		}
	}
	for p := range live {
		if _, ok := next[p]; !ok {
			ch.Removed = append(ch.Removed, p)
		}
	}
	slices.Sort(ch.Added)
	slices.Sort(ch.Changed)
	slices.Sort(ch.Removed)
	return ch
}
