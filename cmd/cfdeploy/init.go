package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// initOptions are the inputs of init; empty values are asked for on a
// terminal and defaulted otherwise.
type initOptions struct {
	Name  string
	Slug  string
	Dir   string
	Force bool
	// From is "wrangler": translate the wrangler file of the current
	// directory; EnvName picks its [env.NAME] section.
	From    string
	EnvName string
}

// initOutput is the --json document of init.
type initOutput struct {
	Project api.Project `json:"project"`
	Config  string      `json:"config"`
}

func newInitCmd(g *global) *cobra.Command {
	var o initOptions
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a project on the host and write cfdeploy.toml",
		Long: `Create a project on the host and write cfdeploy.toml in the current directory
(or at --config). When cfdeploy.toml exists without a project_id (an
example or a template), the project it names is created and its project_id
added at the top of the file, the rest kept as written. On a terminal, missing values are asked for; elsewhere
--name defaults to the current directory's name and --dir to the first of
dist, public, build, site or out that exists. The site directory is never
the project directory by default (it holds cfdeploy.toml and, often,
secrets): without one of those, pass --dir.

--from wrangler translates the wrangler.json, wrangler.jsonc or
wrangler.toml of the current directory (its [env.NAME] section with
--env-name): the project is the one its name names (created when none
has that name), and the settings cfhost cannot honour are listed in a
comment at the top of the new file and in a warning.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.runInit(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Name, "name", "", "project name")
	cmd.Flags().StringVar(&o.Slug, "slug", "", "a unique short name for the project, usable in place of its ID in hostnames and commands")
	cmd.Flags().StringVar(&o.Dir, "dir", "", "site directory to deploy")
	cmd.Flags().BoolVar(&o.Force, "force", false, "overwrite an existing cfdeploy.toml")
	cmd.Flags().StringVar(&o.From, "from", "", "translate another tool's project file: wrangler")
	cmd.Flags().StringVar(&o.EnvName, "env-name", "", "with --from wrangler: the [env.NAME] section to translate")
	return cmd
}

func (g *global) runInit(ctx context.Context, o initOptions) error {
	switch o.From {
	case "":
		if o.EnvName != "" {
			return usageError{errors.New("--env-name goes with --from wrangler")}
		}
	case "wrangler":
		return g.initFromWrangler(ctx, o)
	default:
		return usageError{fmt.Errorf("--from %q: the only source cfdeploy translates is wrangler", o.From)}
	}
	if _, err := os.Stat(g.configPath); err == nil && !o.Force {
		if !g.configLoaded || g.file.ProjectID != "" {
			return withHint(fmt.Errorf("%s already exists", g.configPath), "pass --force to create a new project and overwrite it, or deploy with 'cfdeploy deploy'")
		}
		// A project file without a project (an example, a template):
		// create the project it describes and add its ID, keeping the
		// rest of the file as written.
		return g.adoptProjectFile(ctx, o)
	}
	c, err := g.client(true)
	if err != nil {
		return err
	}
	cwd, _ := os.Getwd()
	defName := filepath.Base(cwd)
	defDir := guessSiteDir()
	if g.io.CanPrompt() {
		in := bufio.NewReader(g.io.In)
		if o.Name == "" {
			if o.Name, err = g.ask(in, "Project name", defName); err != nil {
				return err
			}
		}
		if o.Dir == "" {
			if o.Dir, err = g.ask(in, "Site directory (your build output, e.g. ./dist)", defDir); err != nil {
				return err
			}
		}
	}
	if o.Name == "" {
		o.Name = defName
	}
	if o.Dir == "" {
		o.Dir = defDir
	}
	if o.Dir == "" {
		return usageError{errors.New("no site directory: none of ./dist, ./public, ./build, ./site or ./out exists; pass --dir DIR (the directory that holds your built site)")}
	}
	p, err := c.CreateProjectWithSlug(ctx, o.Name, o.Slug)
	if err != nil {
		return err
	}
	if err := writeProjectFile(g.configPath, p, o.Dir); err != nil {
		return fmt.Errorf("project %s was created, but %w", p.ID, err)
	}
	if g.json {
		return g.printJSON(initOutput{Project: *p, Config: g.configPath})
	}
	g.chatter("Created project %s (%s) and wrote %s.", p.Name, p.ID, g.configPath)
	g.chatter("Deploy with: cfdeploy deploy")
	fmt.Fprintln(g.io.Out, p.ID)
	return nil
}

// adoptProjectFile creates the project an existing cfdeploy.toml without
// project_id describes (its name, or --name) and writes the new ID at the
// top of the file.
func (g *global) adoptProjectFile(ctx context.Context, o initOptions) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	name := o.Name
	if name == "" {
		name = g.file.Name
	}
	if name == "" {
		name = filepath.Base(g.projectDir())
	}
	b, err := os.ReadFile(g.configPath)
	if err != nil {
		return fmt.Errorf("read %s: %w", g.configPath, err)
	}
	p, err := c.CreateProject(ctx, name)
	if err != nil {
		return err
	}
	body := "project_id = " + tomlString(p.ID) + "\n" + string(b)
	if err := os.WriteFile(g.configPath, []byte(body), 0o644); err != nil {
		return fmt.Errorf("project %s was created, but write %s: %w", p.ID, g.configPath, err)
	}
	if g.json {
		return g.printJSON(initOutput{Project: *p, Config: g.configPath})
	}
	g.chatter("Created project %s (%s) and added its project_id to %s.", p.Name, p.ID, g.configPath)
	g.chatter("Deploy with: cfdeploy deploy")
	fmt.Fprintln(g.io.Out, p.ID)
	return nil
}

// ask prompts on stderr and reads one line; an empty answer takes def.
func (g *global) ask(in *bufio.Reader, question, def string) (string, error) {
	if def != "" {
		fmt.Fprintf(g.io.Err, "%s [%s]: ", question, def)
	} else {
		fmt.Fprintf(g.io.Err, "%s: ", question)
	}
	line, err := in.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read answer: %w", err)
	}
	if line = strings.TrimSpace(line); line != "" {
		return line, nil
	}
	return def, nil
}

// guessSiteDir picks the usual build output directory if there is one, and
// "" otherwise: never ".", whose dotfiles and project file are private.
func guessSiteDir() string {
	for _, d := range []string{"dist", "public", "build", "site", "out"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return "./" + d
		}
	}
	return ""
}

// writeProjectFile writes cfdeploy.toml with the project and commented
// defaults, so the file documents what can be set.
func writeProjectFile(path string, p *api.Project, dir string) error {
	body := fmt.Sprintf(`# cfdeploy project file: see 'cfdeploy deploy --help'.
project_id = %s
name = %s
dir = %s

[assets]
# html_handling = "auto-trailing-slash"   # force-trailing-slash, drop-trailing-slash, none
# not_found_handling = "none"             # single-page-application, 404-page
# run_worker_first = false                # or ["/api/*"]

# [server]
# entrypoint = "server/app.wasm"
# modules = ["server/data.json"]

# [env]
# GREETING = "hello"
`, tomlString(p.ID), tomlString(p.Name), tomlString(filepath.ToSlash(dir)))
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
