package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// A custom domain serves the project's live deployment under a name of the
// user's own, once their DNS points it at the host.

func newDomainsCmd(g *global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "domains",
		Short: "Manage the project's custom domains",
		Long: `A custom domain is a hostname (www.example.com), or *.example.com for every
name one label below example.com, that serves the project's live deployment.
Point the name's DNS at the host; a host run with --https obtains a
certificate for it on the first HTTPS request (exact names only). A name
belongs to one project at a time.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	run := func(fn func(ctx context.Context, id string, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			id, err := g.projectID(cmd)
			if err != nil {
				return err
			}
			return fn(cmd.Context(), id, args)
		}
	}
	add := &cobra.Command{Use: "add HOSTNAME...", Short: "Route hostnames to the project", Args: minArgs(1), RunE: run(g.runDomainsAdd)}
	ls := &cobra.Command{Use: "ls", Short: "List the project's domains", Args: exactArgs(0), RunE: run(g.runDomainsList)}
	rm := &cobra.Command{Use: "rm HOSTNAME...", Short: "Remove domains from the project", Args: minArgs(1), RunE: run(g.runDomainsRemove)}
	for _, c := range []*cobra.Command{add, ls, rm} {
		c.Flags().String("project", "", "project ID, unique ID prefix or name (default: project_id from cfdeploy.toml)")
		cmd.AddCommand(c)
	}
	return cmd
}

func (g *global) runDomainsAdd(ctx context.Context, projectID string, names []string) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	if projectID, err = g.projectRef(ctx, c, projectID); err != nil {
		return err
	}
	added := make([]api.Domain, 0, len(names))
	for _, n := range names {
		d, err := c.AddDomain(ctx, projectID, n)
		if err != nil {
			return settingsPartial(err, len(added), "added")
		}
		added = append(added, *d)
		g.chatter("Added %s to project %s", d.Hostname, projectID)
	}
	if g.json {
		return g.printJSON(added)
	}
	return nil
}

func (g *global) runDomainsList(ctx context.Context, projectID string, _ []string) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	if projectID, err = g.projectRef(ctx, c, projectID); err != nil {
		return err
	}
	ds, err := c.ListDomains(ctx, projectID)
	if err != nil {
		return err
	}
	if g.json {
		return g.printJSON(ds)
	}
	if len(ds) == 0 {
		g.chatter("Project %s has no custom domains. Add one with 'cfdeploy domains add HOSTNAME'.", projectID)
		return nil
	}
	tw := tabwriter.NewWriter(g.io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOSTNAME\tADDED")
	for _, d := range ds {
		fmt.Fprintf(tw, "%s\t%s\n", d.Hostname, d.CreatedAt.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func (g *global) runDomainsRemove(ctx context.Context, projectID string, names []string) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	if projectID, err = g.projectRef(ctx, c, projectID); err != nil {
		return err
	}
	removed := make([]string, 0, len(names))
	for _, n := range names {
		if err := c.RemoveDomain(ctx, projectID, n); err != nil {
			if api.ErrorCode(err) == api.CodeNotFound {
				err = withHint(err, "See the project's domains with 'cfdeploy domains ls'.")
			}
			return settingsPartial(err, len(removed), "removed")
		}
		removed = append(removed, n)
		g.chatter("Removed %s", n)
	}
	if g.json {
		return g.printJSON(map[string][]string{"removed": removed})
	}
	return nil
}
