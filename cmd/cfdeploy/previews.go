package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cfdeploy/cfdeploy/pkg/alias"
	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// deploymentURL is where one deployment is served whatever is live: with a
// base domain http://SHORT--ID.DOMAIN:PORT/, otherwise the path form
// HOST/__project/ID/__deployment/SHORT/, as projectURL does for projects.
func (g *global) deploymentURL(host, projectID string, d api.Deployment) string {
	short := d.ShortID
	if short == "" {
		short = alias.ShortID(d.ID)
	}
	if g.v.GetString("base_domain") != "" {
		return g.projectURL(host, alias.Label(short, projectID))
	}
	return pathURL(host, "/__project/"+projectID+"/__deployment/"+short+"/")
}

// branchURL is where the newest deployment of d's branch is served, "" when
// d has no branch: the label <branch-slug>--<project> as a subdomain, or in
// the project position of the path form.
func (g *global) branchURL(host, projectID string, d api.Deployment) string {
	slug := alias.BranchSlug(d.Branch)
	if slug == "" {
		return ""
	}
	return g.projectURL(host, alias.Label(slug, projectID))
}

// pathURL is host with its path replaced by p.
func pathURL(host, p string) string {
	u, err := url.Parse(host)
	if err != nil {
		return host
	}
	u.RawQuery, u.Fragment = "", ""
	u.Path, u.RawPath = strings.TrimSuffix(u.Path, "/")+p, ""
	return u.String()
}

// withURLs gives each deployment the URLs this CLI prints (they follow
// --base-domain like the project's URL), in place of the host's.
func (g *global) withURLs(host, projectID string, ds []api.Deployment) {
	for i := range ds {
		ds[i].URL = g.deploymentURL(host, projectID, ds[i])
		ds[i].BranchURL = g.branchURL(host, projectID, ds[i])
	}
}

func newPromoteCmd(g *global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "promote [DEPLOYMENT]",
		Short: "Make a deployment (a preview, say) live",
		Long: `Make DEPLOYMENT (its ID, short ID or a unique prefix) the project's live
deployment, atomically, as a deploy would; without it, the newest
deployment. Rollback is the same operation for an older deployment.`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := g.projectID(cmd)
			if err != nil {
				return err
			}
			target := ""
			if len(args) == 1 {
				target = args[0]
			}
			return g.runPromote(cmd.Context(), id, target)
		},
	}
	cmd.Flags().String("project", "", "project ID, unique ID prefix, slug or name (default: project_id from cfdeploy.toml)")
	return cmd
}

func (g *global) runPromote(ctx context.Context, ref, target string) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	p, err := g.resolveProject(ctx, c, ref)
	if err != nil {
		return err
	}
	ds, err := c.ListDeployments(ctx, p.ID)
	if err != nil {
		return err
	}
	if target == "" {
		if len(ds) == 0 {
			return withHint(fmt.Errorf("project %s has no deployments to promote", p.ID), "Deploy a preview with 'cfdeploy deploy --preview'.")
		}
		target = ds[0].ID
		if ds[0].Live {
			g.chatter("The newest deployment, %s, is already live.", ds[0].ShortID)
		}
	} else if target, err = resolveDeployment(ds, target, p.ID); err != nil {
		return err
	}
	res, err := c.Promote(ctx, p.ID, target)
	if err != nil {
		return err
	}
	u := g.projectURL(c.BaseURL(), p.ID)
	if g.json {
		return g.printJSON(map[string]any{"project": res.Project, "deployment": res.Deployment, "url": u})
	}
	g.chatter("Promoted: deployment %s is live.", res.Deployment.ID)
	fmt.Fprintln(g.io.Out, u)
	return nil
}

func newProjectsRenameCmd(g *global) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "rename SLUG",
		Short: "Give the project a unique slug (\"\" removes it), and with --name a new name",
		Long: `Give the project (--project, default cfdeploy.toml's) the slug SLUG: 1 to 32
lower-case letters, digits and single hyphens, starting with a letter, held by
no other project. The slug then works in place of the project's ID in
hostnames (SLUG.<base-domain>, <preview>--SLUG.<base-domain>) and in
commands. An empty SLUG removes it; the old slug stops answering at once.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := g.projectID(cmd)
			if err != nil {
				return err
			}
			req := api.UpdateProjectRequest{Slug: &args[0]}
			if cmd.Flags().Changed("name") {
				req.Name = &name
			}
			if args[0] != "" {
				if err := alias.ValidateProjectSlug(args[0]); err != nil {
					return usageError{err}
				}
			}
			return g.runProjectsRename(cmd.Context(), id, req)
		},
	}
	cmd.Flags().String("project", "", "project ID, unique ID prefix, slug or name (default: project_id from cfdeploy.toml)")
	cmd.Flags().StringVar(&name, "name", "", "also rename the project")
	return cmd
}

func (g *global) runProjectsRename(ctx context.Context, ref string, req api.UpdateProjectRequest) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	p, err := g.resolveProject(ctx, c, ref)
	if err != nil {
		return err
	}
	up, err := c.UpdateProject(ctx, p.ID, req)
	if api.ErrorCode(err) == api.CodeConflict {
		return withHint(err, "choose another slug; 'cfdeploy projects ls' shows those taken")
	}
	if err != nil {
		return err
	}
	if g.json {
		return g.printJSON(projectWithURL{Project: *up, URL: g.projectURL(c.BaseURL(), up.ID)})
	}
	if up.Slug == "" {
		g.chatter("Project %s (%s) has no slug.", up.Name, up.ID)
	} else {
		g.chatter("Project %s (%s) now answers to %s.", up.Name, up.ID, up.Slug)
	}
	fmt.Fprintln(g.io.Out, g.projectURL(c.BaseURL(), up.ID))
	return nil
}
