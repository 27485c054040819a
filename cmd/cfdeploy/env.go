package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// Project settings are kept on the host, so they survive every deploy
// (unlike --env and cfdeploy.toml's [env], which are part of one deploy and
// win over them). They reach the live deployment at once.

func newEnvCmd(g *global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Manage the project's environment variables, kept on the host",
		Long: `Environment variables set here are stored with the project on the host and
given to the server code of every deployment, now and later; a deploy's own
--env or [env] values win over them. Changes apply to the live deployment at
once. For values that must not be shown again, use 'cfdeploy secret'.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	set := &cobra.Command{
		Use: "set KEY=VALUE...", Short: "Set one or more variables", Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := g.projectID(cmd)
			if err != nil {
				return err
			}
			return g.runEnvSet(cmd.Context(), id, args)
		},
	}
	ls := &cobra.Command{
		Use: "ls", Short: "List the variables and their values", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := g.projectID(cmd)
			if err != nil {
				return err
			}
			return g.runEnvList(cmd.Context(), id)
		},
	}
	rm := &cobra.Command{
		Use: "rm KEY...", Short: "Remove one or more variables", Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := g.projectID(cmd)
			if err != nil {
				return err
			}
			return g.runSettingRemove(cmd.Context(), id, args, false)
		},
	}
	for _, c := range []*cobra.Command{set, ls, rm} {
		c.Flags().String("project", "", "project ID, unique ID prefix or name (default: project_id from cfdeploy.toml)")
		cmd.AddCommand(c)
	}
	return cmd
}

func (g *global) runEnvSet(ctx context.Context, projectID string, args []string) error {
	type pair struct{ k, v string }
	pairs := make([]pair, 0, len(args))
	for _, kv := range args {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageError{fmt.Errorf("%q: want KEY=VALUE", kv)}
		}
		pairs = append(pairs, pair{k, v})
	}
	c, err := g.client(true)
	if err != nil {
		return err
	}
	if projectID, err = g.projectRef(ctx, c, projectID); err != nil {
		return err
	}
	set := make([]api.EnvVar, 0, len(pairs))
	for _, p := range pairs {
		v, err := c.SetEnv(ctx, projectID, p.k, p.v)
		if err != nil {
			return settingsPartial(err, len(set), "set")
		}
		set = append(set, *v)
		g.chatter("Set %s", p.k)
	}
	if g.json {
		return g.printJSON(set)
	}
	return nil
}

func (g *global) runEnvList(ctx context.Context, projectID string) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	if projectID, err = g.projectRef(ctx, c, projectID); err != nil {
		return err
	}
	vars, err := c.ListEnv(ctx, projectID)
	if err != nil {
		return err
	}
	if g.json {
		return g.printJSON(vars)
	}
	if len(vars) == 0 {
		g.chatter("Project %s has no variables. Set one with 'cfdeploy env set KEY=VALUE'.", projectID)
		return nil
	}
	tw := tabwriter.NewWriter(g.io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVALUE\tUPDATED")
	for _, v := range vars {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Name, v.Value, v.UpdatedAt.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

// runSettingRemove removes variables (or secrets) one by one.
func (g *global) runSettingRemove(ctx context.Context, projectID string, names []string, secret bool) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	if projectID, err = g.projectRef(ctx, c, projectID); err != nil {
		return err
	}
	kind, ls := "variable", "cfdeploy env ls"
	if secret {
		kind, ls = "secret", "cfdeploy secret ls"
	}
	removed := make([]string, 0, len(names))
	for _, name := range names {
		if secret {
			err = c.DeleteSecret(ctx, projectID, name)
		} else {
			err = c.DeleteEnv(ctx, projectID, name)
		}
		if err != nil {
			if api.ErrorCode(err) == api.CodeNotFound && strings.Contains(err.Error(), "is not set") {
				err = withHint(err, "See which are set with '"+ls+"'.")
			}
			return settingsPartial(err, len(removed), "removed")
		}
		removed = append(removed, name)
		g.chatter("Removed %s %s", kind, name)
	}
	if g.json {
		return g.printJSON(map[string][]string{"removed": removed})
	}
	return nil
}

// settingsPartial says how far a multi-name command got before err, since
// the names before it did change.
func settingsPartial(err error, done int, verb string) error {
	if done == 0 {
		return err
	}
	var he *hintError
	if errors.As(err, &he) {
		return withHint(fmt.Errorf("%w (the %d before it were %s)", he.err, done, verb), he.hint)
	}
	return fmt.Errorf("%w (the %d before it were %s)", err, done, verb)
}

// minArgs is cobra.MinimumNArgs as a usage error.
func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MinimumNArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// projectRef turns --project (an ID, a unique ID prefix or a unique name)
// into the project's ID.
func (g *global) projectRef(ctx context.Context, c *client.Client, ref string) (string, error) {
	p, err := g.resolveProject(ctx, c, ref)
	if err != nil {
		return "", err
	}
	return p.ID, nil
}
