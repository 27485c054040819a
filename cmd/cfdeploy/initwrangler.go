package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// initFromWrangler writes the cfdeploy.toml equivalent to the wrangler file
// of the current directory, for the project its name names.
func (g *global) initFromWrangler(ctx context.Context, o initOptions) error {
	src := findWranglerFile(".")
	if src == "" {
		return withHint(errors.New("no wrangler.json, wrangler.jsonc or wrangler.toml in the current directory"), "run 'cfdeploy init --from wrangler' where your wrangler file is")
	}
	if _, err := os.Stat(g.configPath); err == nil && !o.Force {
		return withHint(fmt.Errorf("%s already exists", g.configPath), "pass --force to overwrite it")
	}
	w, err := readWranglerFile(src, o.EnvName)
	if err != nil {
		return withHint(err, "fix "+src)
	}
	fc := w.File
	if o.Name != "" {
		fc.Name = o.Name
	}
	if fc.Name == "" {
		return usageError{fmt.Errorf("%s has no name: pass --name", src)}
	}
	if o.Dir != "" {
		fc.Dir = o.Dir
	}
	if fc.Dir == "" {
		return usageError{fmt.Errorf("%s has neither assets.directory nor pages_build_output_dir: pass --dir DIR", src)}
	}
	if w.Pages && fc.Assets.NotFoundHandling == "" {
		// Pages' default, written down so the file keeps it.
		fc.Assets.NotFoundHandling = pagesNotFound(fc.Dir)
	}
	c, err := g.client(true)
	if err != nil {
		return err
	}
	p, err := g.resolveProject(ctx, c, fc.Name)
	created := false
	if errors.Is(err, errNoProject) {
		p, err = c.CreateProject(ctx, fc.Name)
		created = true
	}
	if err != nil {
		return err
	}
	fc.ProjectID = p.ID
	notes := []string{"cfdeploy project file, translated from " + filepath.Base(src) + " by 'cfdeploy init --from wrangler'."}
	if w.EnvName != "" {
		notes = append(notes, "Its [env."+w.EnvName+"] section applied.")
	}
	if problems := w.Problems(); len(problems) > 0 {
		notes = append(notes, "Left out, as cfhost cannot honour them:")
		for _, pr := range problems {
			notes = append(notes, "  "+pr)
		}
	}
	if err := os.WriteFile(g.configPath, []byte(projectFileText(fc, notes)), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", g.configPath, err)
	}
	if problems := w.Problems(); len(problems) > 0 {
		g.chatter("warning: %s: cfhost cannot honour %d setting(s), left out of %s: %s", filepath.Base(src), len(problems), g.configPath, strings.Join(problems, ", "))
	}
	if g.json {
		return g.printJSON(initOutput{Project: *p, Config: g.configPath})
	}
	verb := "Using"
	if created {
		verb = "Created"
	}
	g.chatter("%s project %s (%s) and wrote %s from %s.", verb, p.Name, p.ID, g.configPath, src)
	g.chatter("Deploy with: cfdeploy deploy")
	fmt.Fprintln(g.io.Out, p.ID)
	return nil
}
