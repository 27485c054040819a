package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

func newProjectsCmd(g *global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "projects",
		Short: "List, create, inspect and delete projects",
		Args:  unknownCommand,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		&cobra.Command{
			Use: "ls", Short: "List projects", Args: exactArgs(0),
			RunE: func(cmd *cobra.Command, args []string) error { return g.runProjectsList(cmd.Context()) },
		},
		&cobra.Command{
			Use: "create NAME", Short: "Create a project", Args: exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error { return g.runProjectsCreate(cmd.Context(), args[0]) },
		},
		&cobra.Command{
			Use: "info [PROJECT]", Short: "Show a project (by ID, unique ID prefix or name; default: cfdeploy.toml's)", Args: maxArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				ref := g.v.GetString("project_id")
				if len(args) == 1 {
					ref = args[0]
				}
				if ref == "" {
					return usageError{errors.New("no project: pass PROJECT (an ID, ID prefix or name), or run inside a folder with cfdeploy.toml")}
				}
				return g.runProjectsInfo(cmd.Context(), ref)
			},
		},
		newProjectsRmCmd(g),
		newProjectsRenameCmd(g),
	)
	return cmd
}

func (g *global) runProjectsList(ctx context.Context) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	ps, err := c.AllProjects(ctx)
	if err != nil {
		return err
	}
	if g.json {
		out := make([]projectWithURL, len(ps))
		for i, p := range ps {
			out[i] = projectWithURL{Project: p, URL: g.projectURL(c.BaseURL(), p.ID)}
		}
		return g.printJSON(out)
	}
	if len(ps) == 0 {
		g.chatter("No projects yet. Create one with 'cfdeploy init' or 'cfdeploy projects create NAME'.")
		return nil
	}
	tw := tabwriter.NewWriter(g.io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tASSETS\tSERVER CODE\tUPDATED\tURL")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", p.ID, p.Name, p.AssetsCount, yesNo(p.HasServerCode), ago(p.UpdatedAt), g.projectURL(c.BaseURL(), p.ID))
	}
	return tw.Flush()
}

func (g *global) runProjectsCreate(ctx context.Context, name string) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	p, err := c.CreateProject(ctx, name)
	if err != nil {
		return err
	}
	if g.json {
		return g.printJSON(p)
	}
	g.chatter("Created project %s.", p.Name)
	fmt.Fprintln(g.io.Out, p.ID)
	return nil
}

func (g *global) runProjectsInfo(ctx context.Context, ref string) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	p, err := g.resolveProject(ctx, c, ref)
	if err != nil {
		return err
	}
	if g.json {
		return g.printJSON(projectWithURL{Project: *p, URL: g.projectURL(c.BaseURL(), p.ID)})
	}
	active := "none"
	if p.ActiveDeploymentID != nil {
		active = *p.ActiveDeploymentID
	}
	tw := tabwriter.NewWriter(g.io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\t%s\n", p.ID)
	fmt.Fprintf(tw, "Name\t%s\n", p.Name)
	fmt.Fprintf(tw, "URL\t%s\n", g.projectURL(c.BaseURL(), p.ID))
	fmt.Fprintf(tw, "Assets\t%d\n", p.AssetsCount)
	fmt.Fprintf(tw, "Server code\t%s\n", yesNo(p.HasServerCode))
	fmt.Fprintf(tw, "Active deployment\t%s\n", active)
	fmt.Fprintf(tw, "Created\t%s\n", p.CreatedAt.Format(time.RFC3339))
	fmt.Fprintf(tw, "Updated\t%s\n", p.UpdatedAt.Format(time.RFC3339))
	return tw.Flush()
}

func newProjectsRmCmd(g *global) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use: "rm PROJECT", Short: "Delete a project and all its deployments (by ID, unique ID prefix or name)", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.runProjectsRm(cmd.Context(), args[0], yes)
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "delete without asking")
	return cmd
}

func (g *global) runProjectsRm(ctx context.Context, ref string, yes bool) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	p, err := g.resolveProject(ctx, c, ref)
	if err != nil {
		return err
	}
	id := p.ID
	if !yes {
		if !g.io.CanPrompt() {
			return usageError{fmt.Errorf("deleting project %s needs confirmation: pass --yes", id)}
		}
		fmt.Fprintf(g.io.Err, "Delete project %s and all its deployments? Type the ID to confirm: ", id)
		line, _ := bufio.NewReader(g.io.In).ReadString('\n')
		if strings.TrimSpace(line) != id {
			return withHint(fmt.Errorf("not deleted"), "type the project ID exactly, or pass --yes")
		}
	}
	if err := c.DeleteProject(ctx, id); err != nil {
		return err
	}
	if g.json {
		return g.printJSON(map[string]any{"deleted": true, "projectId": id})
	}
	g.chatter("Deleted project %s (%s).", id, p.Name)
	return nil
}

// projectWithURL is a project in --json output, with where it is served.
type projectWithURL struct {
	api.Project
	URL string `json:"url"`
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// ago renders a time relative to now for tables.
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.Format("2006-01-02")
}

// activeOf returns the active deployment's ID, or "".
func activeOf(ds []api.Deployment) string {
	for _, d := range ds {
		if d.Active {
			return d.ID
		}
	}
	return ""
}
