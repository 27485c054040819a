package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

func newDeploymentsCmd(g *global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deployments",
		Short: "List a project's deployments",
		Args:  unknownCommand,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	ls := &cobra.Command{
		Use: "ls", Short: "List deployments, newest first", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := g.projectID(cmd)
			if err != nil {
				return err
			}
			return g.runDeploymentsList(cmd.Context(), id)
		},
	}
	ls.Flags().String("project", "", "project ID, unique ID prefix or name (default: project_id from cfdeploy.toml)")
	cmd.AddCommand(ls)
	return cmd
}

// projectID resolves --project / CFDEPLOY_PROJECT_ID / project_id.
func (g *global) projectID(cmd *cobra.Command) (string, error) {
	if err := g.bind(cmd, map[string]string{"project_id": "project"}); err != nil {
		return "", err
	}
	id := g.v.GetString("project_id")
	if id == "" && g.wrangler != nil {
		id = g.v.GetString("name") // a wrangler file names its project
	}
	if id == "" {
		return "", usageError{errors.New("no project: pass --project ID, set project_id in cfdeploy.toml, or run 'cfdeploy init'")}
	}
	return id, nil
}

func (g *global) runDeploymentsList(ctx context.Context, ref string) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	p, err := g.resolveProject(ctx, c, ref)
	if err != nil {
		return err
	}
	projectID := p.ID
	ds, err := c.ListDeployments(ctx, projectID)
	if err != nil {
		return err
	}
	u := g.projectURL(c.BaseURL(), projectID)
	g.withURLs(c.BaseURL(), projectID, ds)
	if g.json {
		out := make([]deploymentWithURL, len(ds))
		for i, d := range ds {
			out[i] = deploymentWithURL{Deployment: d, ProjectURL: u}
		}
		return g.printJSON(out)
	}
	g.chatter("Project %s (%s) is served at %s", p.Name, projectID, u)
	if len(ds) == 0 {
		g.chatter("Project %s has no deployments yet. Deploy with 'cfdeploy deploy'.", projectID)
		return nil
	}
	tw := tabwriter.NewWriter(g.io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tBRANCH\tASSETS\tSERVER CODE\tLIVE\tURL")
	for _, d := range ds {
		live := ""
		if d.Live {
			live = "*"
		}
		branch := d.Branch
		if branch == "" {
			branch = "-"
		}
		if !d.Production {
			branch += " (preview)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.ID, d.CreatedAt.Local().Format(time.DateTime), branch, d.AssetsCount, yesNo(d.HasServerCode), live, d.URL)
	}
	return tw.Flush()
}

func newRollbackCmd(g *global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollback [DEPLOYMENT_ID]",
		Short: "Make an earlier deployment active again",
		Long:  "Make DEPLOYMENT_ID (or a unique prefix of it) active again; without it, the newest production deployment before the active one (previews are skipped).",
		Args:  maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := g.projectID(cmd)
			if err != nil {
				return err
			}
			target := ""
			if len(args) == 1 {
				target = args[0]
			}
			return g.runRollback(cmd.Context(), id, target)
		},
	}
	cmd.Flags().String("project", "", "project ID, unique ID prefix or name (default: project_id from cfdeploy.toml)")
	return cmd
}

func (g *global) runRollback(ctx context.Context, ref, target string) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	p, err := g.resolveProject(ctx, c, ref)
	if err != nil {
		return err
	}
	projectID := p.ID
	ds, err := c.ListDeployments(ctx, projectID)
	if err != nil {
		return err
	}
	if target == "" {
		target, err = previousDeployment(ds)
	} else {
		target, err = resolveDeployment(ds, target, projectID)
	}
	if err != nil {
		return err
	}
	res, err := c.Rollback(ctx, projectID, target)
	if err != nil {
		return err
	}
	if g.json {
		return g.printJSON(map[string]any{"project": res.Project, "deployment": res.Deployment, "url": g.projectURL(c.BaseURL(), projectID)})
	}
	g.chatter("Rolled back: deployment %s is active again.", res.Deployment.ID)
	fmt.Fprintln(g.io.Out, g.projectURL(c.BaseURL(), projectID))
	return nil
}

// deploymentWithURL is a deployment in --json output, with the URL of its
// project (the active deployment is what that URL serves).
type deploymentWithURL struct {
	api.Deployment
	ProjectURL string `json:"projectUrl"`
}

// previousDeployment picks the deployment made just before the active one
// (the list is newest first).
func previousDeployment(ds []api.Deployment) (string, error) {
	active := activeOf(ds)
	for i, d := range ds {
		if d.ID != active {
			continue
		}
		// Previews never went live as deployed: the one to go back to is
		// the newest production deployment older than the live one.
		for _, older := range ds[i+1:] {
			if older.Production {
				return older.ID, nil
			}
		}
		return "", withHint(errors.New("the active deployment is the oldest one; there is nothing to roll back to"), "list deployments with 'cfdeploy deployments ls' and pass an ID")
	}
	if len(ds) == 0 {
		return "", withHint(errors.New("the project has no deployments"), "deploy first with 'cfdeploy deploy'")
	}
	return "", withHint(errors.New("no deployment is active"), "pass the deployment ID to activate; list them with 'cfdeploy deployments ls'")
}
