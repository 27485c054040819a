package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// isDate reports whether s looks like YYYY-MM-DD; the host checks the
// calendar.
func isDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for i, r := range s {
		if i != 4 && i != 7 && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// wranglerWarning says, in one warning, which settings of the wrangler
// file cfhost cannot honour; with --strict they stop the deploy.
func (g *global) wranglerWarning(o deployOptions) error {
	problems := g.wranglerProblems(o)
	if len(problems) == 0 {
		return nil
	}
	msg := fmt.Sprintf("%s: cfhost cannot honour %d setting(s): %s", filepath.Base(g.configPath), len(problems), strings.Join(problems, ", "))
	if o.Strict {
		return withHint(errors.New(msg), "remove them from "+g.configPath+" (or write a cfdeploy.toml: 'cfdeploy init --from wrangler'), or deploy without --strict to leave them out")
	}
	g.chatter("warning: %s; they are left out (--strict refuses instead)", msg)
	return nil
}

// wranglerProblems lists the wrangler file's settings cfhost cannot honour
// in this deploy.
func (g *global) wranglerProblems(o deployOptions) []string {
	if g.wrangler == nil {
		return nil
	}
	return g.wrangler.Problems()
}

// createNamedProject makes the project a wrangler file names, on its first
// deploy; a dry run changes nothing, so it only says so.
func (g *global) createNamedProject(ctx context.Context, c *client.Client, o deployOptions) (*api.Project, error) {
	if o.DryRun {
		return nil, withHint(fmt.Errorf("no project is named %q yet", o.ProjectID), "a deploy without --dry-run creates it (its name comes from "+filepath.Base(g.configPath)+")")
	}
	p, err := c.CreateProject(ctx, o.ProjectID)
	if err != nil {
		return nil, err
	}
	g.chatter("Created project %s (%s), named by %s.", p.Name, p.ID, filepath.Base(g.configPath))
	return p, nil
}
