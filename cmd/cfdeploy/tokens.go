package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newTokensCmd(g *global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "Create, list and revoke a project's deploy tokens",
		Long: `A project token can deploy, list deployments, roll back and read one
project, and nothing else: give it to CI or to whoever deploys that project
instead of the host's admin token. Managing tokens needs the admin token.
Use a project token like the admin token, with CFDEPLOY_TOKEN or --token.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	var name string
	create := &cobra.Command{
		Use: "create", Short: "Create a token for the project; it is shown once", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := g.projectID(cmd)
			if err != nil {
				return err
			}
			return g.runTokensCreate(cmd.Context(), id, name)
		},
	}
	create.Flags().StringVar(&name, "name", "", "what the token is for (default: token-<id prefix>)")
	ls := &cobra.Command{
		Use: "ls", Short: "List the project's tokens (never the tokens themselves)", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := g.projectID(cmd)
			if err != nil {
				return err
			}
			return g.runTokensList(cmd.Context(), id)
		},
	}
	revoke := &cobra.Command{
		Use: "revoke TOKEN_ID", Short: "Revoke a token; it stops working at once", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := g.projectID(cmd)
			if err != nil {
				return err
			}
			return g.runTokensRevoke(cmd.Context(), id, args[0])
		},
	}
	for _, c := range []*cobra.Command{create, ls, revoke} {
		c.Flags().String("project", "", "project ID (default: project_id from cfdeploy.toml)")
	}
	cmd.AddCommand(create, ls, revoke)
	return cmd
}

func (g *global) runTokensCreate(ctx context.Context, projectID, name string) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	res, err := c.CreateToken(ctx, projectID, name)
	if err != nil {
		return err
	}
	if g.json {
		return g.printJSON(res)
	}
	g.chatter("Created token %s (%s) for project %s.", res.Token.ID, res.Token.Name, projectID)
	g.chatter("Copy it now: the host keeps only its hash and cannot show it again.")
	fmt.Fprintln(g.io.Out, res.Value)
	return nil
}

func (g *global) runTokensList(ctx context.Context, projectID string) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	ts, err := c.ListTokens(ctx, projectID)
	if err != nil {
		return err
	}
	if g.json {
		return g.printJSON(ts)
	}
	if len(ts) == 0 {
		g.chatter("Project %s has no tokens. Create one with 'cfdeploy tokens create'.", projectID)
		return nil
	}
	tw := tabwriter.NewWriter(g.io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tCREATED\tLAST USED")
	for _, t := range ts {
		used := "never"
		if t.LastUsedAt != nil {
			used = ago(*t.LastUsedAt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Name, t.CreatedAt.Local().Format(time.DateTime), used)
	}
	return tw.Flush()
}

func (g *global) runTokensRevoke(ctx context.Context, projectID, tokenID string) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	if err := c.RevokeToken(ctx, projectID, tokenID); err != nil {
		return err
	}
	if g.json {
		return g.printJSON(map[string]any{"revoked": true, "tokenId": tokenID, "projectId": projectID})
	}
	g.chatter("Revoked token %s of project %s.", tokenID, projectID)
	return nil
}
