package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// DefaultHost is where cfhost listens by default.
const DefaultHost = "http://127.0.0.1:8788"

// DefaultConfigFile is the project file read from the current directory.
const DefaultConfigFile = "cfdeploy.toml"

// global holds what every command shares: the streams, the layered settings
// and the parsed cfdeploy.toml.
type global struct {
	io *IOStreams
	v  *viper.Viper
	// json is --json: exactly one JSON document on stdout.
	json bool
	// configPath is the cfdeploy.toml in use (it may not exist);
	// configLoaded says whether it was read.
	configPath   string
	configLoaded bool
	file         fileConfig
	// wrangler is the wrangler file read in place of a missing
	// cfdeploy.toml (configPath is then that file), or nil.
	wrangler *wranglerProject
	// ran is set once a command's own code starts, so that errors before
	// it (flag parsing, arguments) are told apart as usage errors.
	ran bool
}

// run executes one cfdeploy invocation and returns its exit status.
func run(ctx context.Context, args []string, streams *IOStreams) int {
	g := &global{io: streams, v: viper.New()}
	root := newRootCmd(g)
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if ctx.Err() != nil {
		// Ctrl-C: signal.NotifyContext's cause is not context.Canceled,
		// and what comes back may be the cause or a wrapped Canceled.
		err = interruptedError{err}
	}
	return g.report(err)
}

func newRootCmd(g *global) *cobra.Command {
	root := &cobra.Command{
		Use:   "cfdeploy",
		Short: "Deploy static sites and server code to a cfhost",
		Long: `cfdeploy deploys a directory to a cfhost, a self-hosted Cloudflare-Pages-like
platform, and manages its projects and deployments.

Settings come from flags, then CFDEPLOY_* environment variables, then
cfdeploy.toml, then defaults.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Without subcommand: show help. Unknown subcommands are errors,
		// with the closest command suggested.
		Args: unknownCommand,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return g.load(cmd)
		},
	}
	pf := root.PersistentFlags()
	pf.String("host", DefaultHost, "URL of the cfhost, or HOST:PORT (env CFDEPLOY_HOST)")
	pf.String("token", "", "API token: the host's admin token or a project token (env CFDEPLOY_TOKEN)")
	pf.String("config", DefaultConfigFile, "project file (default: cfdeploy.toml in the current directory or the nearest parent; env CFDEPLOY_CONFIG)")
	pf.BoolVar(&g.json, "json", false, "print one JSON document on stdout and nothing else there")
	pf.String("base-domain", "", "the host's base domain, to print project URLs as http://ID.DOMAIN/ (env CFDEPLOY_BASE_DOMAIN)")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError{suggestFlag(cmd, err)} })

	root.AddCommand(
		newInitCmd(g),
		newDeployCmd(g),
		newProjectsCmd(g),
		newDeploymentsCmd(g),
		newRollbackCmd(g),
		newPromoteCmd(g),
		newTokensCmd(g),
		newEnvCmd(g),
		newDomainsCmd(g),
		newSecretCmd(g),
		newDevCmd(g),
		newTailCmd(g),
		newHashCmd(g),
		newVersionCmd(g),
	)
	return root
}

// load layers settings for the command about to run: flags bound now (not
// at construction, as several commands bind the same key), CFDEPLOY_*
// environment, then cfdeploy.toml.
func (g *global) load(cmd *cobra.Command) error {
	g.ran = true
	v := g.v
	v.SetEnvPrefix("CFDEPLOY")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	v.AutomaticEnv()
	v.SetDefault("host", DefaultHost)
	v.SetDefault("config", DefaultConfigFile)
	v.SetDefault("concurrency", 3)
	for key, flag := range map[string]string{"host": "host", "token": "token", "config": "config", "base_domain": "base-domain"} {
		if err := v.BindPFlag(key, cmd.Flags().Lookup(flag)); err != nil {
			return fmt.Errorf("bind --%s: %w", flag, err)
		}
	}
	g.configPath = v.GetString("config")
	explicit := cmd.Flags().Changed("config") || os.Getenv("CFDEPLOY_CONFIG") != ""
	if !explicit && cmd.Name() != "init" {
		// Like git: the project file of the nearest directory up.
		// init is left out: it makes a new project where it runs.
		if p := findProjectFile(); p != "" {
			g.configPath = p
		}
	}
	g.wrangler = nil
	envName := ""
	if f := cmd.Flags().Lookup("env-name"); f != nil && cmd.Name() != "init" {
		envName = f.Value.String()
	}
	if isWranglerFile(g.configPath) {
		return g.loadWrangler(envName)
	}
	if envName != "" {
		return usageError{fmt.Errorf("--env-name %q selects an [env.%s] section of a wrangler file, and %s is not one", envName, envName, g.configPath)}
	}
	fc, err := readFileConfig(g.configPath)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		// No project file: fine for most commands.
	case err != nil:
		return withHint(err, "fix or remove "+g.configPath+", or point --config at another file; keys it may hold: "+strings.Join(fileConfigKeys(), ", "))
	default:
		g.file, g.configLoaded = fc, true
		v.SetConfigFile(g.configPath)
		v.SetConfigType("toml")
		if err := v.ReadInConfig(); err != nil {
			return withHint(fmt.Errorf("read %s: %w", g.configPath, err), "fix the TOML syntax of "+g.configPath)
		}
	}
	return nil
}

// findProjectFile looks for cfdeploy.toml in the current directory and then
// in each parent, and returns its path ("cfdeploy.toml" in the current
// directory, absolute above it), or "" when there is none. A directory with
// a wrangler file (wrangler.json, wrangler.jsonc, wrangler.toml) and no
// cfdeploy.toml yields the wrangler file: a Cloudflare project deploys as
// it is.
func findProjectFile() string {
	if _, err := os.Stat(DefaultConfigFile); err == nil {
		return DefaultConfigFile
	}
	if p := findWranglerFile("."); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
		p := filepath.Join(dir, DefaultConfigFile)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
		if p := findWranglerFile(dir); p != "" {
			return p
		}
	}
}

// isWranglerFile reports whether path names one of wrangler's files.
func isWranglerFile(path string) bool {
	return slices.Contains(wranglerFiles, filepath.Base(path))
}

// loadWrangler reads the wrangler file at g.configPath as the project file:
// viper gets its settings as the equivalent cfdeploy.toml text, so flags
// and CFDEPLOY_ variables override them exactly as they override the file.
func (g *global) loadWrangler(envName string) error {
	w, err := readWranglerFile(g.configPath, envName)
	if err != nil {
		return withHint(err, "fix "+g.configPath+", or write a cfdeploy.toml next to it (it takes precedence)")
	}
	g.wrangler, g.file, g.configLoaded = w, w.File, true
	g.v.SetConfigType("toml")
	if err := g.v.ReadConfig(strings.NewReader(projectFileText(w.File, nil))); err != nil {
		return fmt.Errorf("read the settings of %s: %w", g.configPath, err)
	}
	return nil
}

// bind makes the named flags of cmd override the given keys.
func (g *global) bind(cmd *cobra.Command, keys map[string]string) error {
	for key, flag := range keys {
		f := cmd.Flags().Lookup(flag)
		if f == nil {
			return fmt.Errorf("bind %s: no flag --%s", key, flag)
		}
		if err := g.v.BindPFlag(key, f); err != nil {
			return fmt.Errorf("bind --%s: %w", flag, err)
		}
	}
	return nil
}

// fromFile reports whether key's value comes from cfdeploy.toml (not from a
// flag or the environment), so relative paths in it are resolved against
// the file's directory rather than the current one.
func (g *global) fromFile(cmd *cobra.Command, key, flag string) bool {
	if flag != "" {
		if f := cmd.Flags().Lookup(flag); f != nil && f.Changed {
			return false
		}
	}
	env := "CFDEPLOY_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
	if _, ok := os.LookupEnv(env); ok {
		return false
	}
	return g.configLoaded && g.v.InConfig(key)
}

// cachePath is the hash cache for deploying siteDir: .cfdeploy/cache in the
// directory of cfdeploy.toml when there is one (the project directory).
// Without a project file there is no project directory, and dropping a
// .cfdeploy into whatever the current directory is would litter it, so the
// cache then lives in the user's cache directory, one per site directory.
func (g *global) cachePath(siteDir string) string {
	if g.configLoaded {
		return manifest.CachePath(g.projectDir())
	}
	if abs, err := filepath.Abs(siteDir); err == nil {
		siteDir = abs
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return manifest.CachePath(siteDir)
	}
	return filepath.Join(base, "cfdeploy", manifest.HashBytes([]byte(siteDir))[:16], "cache")
}

// projectDir is the directory of cfdeploy.toml: relative paths in it, and
// the .cfdeploy cache, live there.
func (g *global) projectDir() string {
	dir := filepath.Dir(g.configPath)
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// resolve turns a path from the project file into one usable from the
// current directory.
func (g *global) resolve(p string, fromFile bool) string {
	if p == "" || filepath.IsAbs(p) || !fromFile {
		return p
	}
	return filepath.Join(filepath.Dir(g.configPath), p)
}

// client returns an API client; needToken makes a missing token an error
// with instructions, before any request is sent.
func (g *global) client(needToken bool) (*client.Client, error) {
	host := g.v.GetString("host")
	token := g.v.GetString("token")
	if needToken && token == "" {
		return nil, withHint(errors.New("no API token"), tokenHint)
	}
	c, err := client.New(hostURL(host), client.Options{Token: token, UserAgent: "cfdeploy/" + version()})
	if err != nil {
		return nil, usageError{fmt.Errorf("--host %q: want a URL such as http://127.0.0.1:8788 or a HOST:PORT", host)}
	}
	return c, nil
}

// hostURL lets --host be given as HOST:PORT (or a bare host name), as
// people type it: without a scheme, http:// is meant.
func hostURL(host string) string {
	if host != "" && !strings.Contains(host, "://") {
		return "http://" + host
	}
	return host
}

// printJSON writes v as the single JSON document on stdout.
func (g *global) printJSON(v any) error {
	enc := json.NewEncoder(g.io.Out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// chatter writes a line for people to stderr.
func (g *global) chatter(format string, args ...any) {
	fmt.Fprintf(g.io.Err, format+"\n", args...)
}

// noArgs, exactArgs and maxArgs are cobra argument checks whose errors
// count as usage errors (exit 2).
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MaximumNArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// stringSliceFlag reads a repeatable flag's values.
func stringSliceFlag(fs *pflag.FlagSet, name string) []string {
	v, _ := fs.GetStringArray(name)
	return v
}
