package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// maxSecretInput bounds what secret put reads from stdin; the host's own
// bound (cfhost --max-env-value) is far lower and is what users hit.
const maxSecretInput = 1 << 20

func newSecretCmd(g *global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Manage the project's secrets, kept on the host",
		Long: `Secrets reach server code as environment variables, like 'cfdeploy env', but
their values can never be read back: the host lists only names and update
times. Values are read from stdin (or typed at a prompt that does not echo),
never from the command line, where they would land in shell history and
process listings.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	var from string
	put := &cobra.Command{
		Use:   "put NAME | put --from FILE",
		Short: "Create or replace a secret; the value comes from stdin or a prompt",
		Example: `  cfdeploy secret put API_KEY                 # asks for the value, without echo
  printf %s "$KEY" | cfdeploy secret put API_KEY
  cfdeploy secret put TLS_KEY < key.pem
  cfdeploy secret put --from .dev.vars         # every KEY=VALUE line of the file`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("from") {
				return exactArgs(0)(cmd, args)
			}
			return exactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := g.projectID(cmd)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("from") {
				return g.runSecretPutFrom(cmd.Context(), id, from)
			}
			return g.runSecretPut(cmd.Context(), id, args[0])
		},
	}
	put.Flags().StringVar(&from, "from", "", "store every KEY=VALUE of a dotenv file (wrangler's .dev.vars) as a secret")
	ls := &cobra.Command{
		Use: "ls", Short: "List secret names and when each was set", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := g.projectID(cmd)
			if err != nil {
				return err
			}
			return g.runSecretList(cmd.Context(), id)
		},
	}
	rm := &cobra.Command{
		Use: "rm NAME...", Short: "Remove one or more secrets", Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := g.projectID(cmd)
			if err != nil {
				return err
			}
			return g.runSettingRemove(cmd.Context(), id, args, true)
		},
	}
	for _, c := range []*cobra.Command{put, ls, rm} {
		c.Flags().String("project", "", "project ID, unique ID prefix or name (default: project_id from cfdeploy.toml)")
		cmd.AddCommand(c)
	}
	return cmd
}

func (g *global) runSecretPut(ctx context.Context, projectID, name string) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	if projectID, err = g.projectRef(ctx, c, projectID); err != nil {
		return err
	}
	value, err := g.io.ReadSecret(fmt.Sprintf("Value of %s: ", name))
	if err != nil {
		return err
	}
	if value == "" {
		return withHint(errors.New("the secret's value is empty; nothing was stored"), "Type the value at the prompt, or pipe it in: printf %s \"$VALUE\" | cfdeploy secret put "+name)
	}
	s, err := c.PutSecret(ctx, projectID, name, value)
	if err != nil {
		return err
	}
	if g.json {
		return g.printJSON(s)
	}
	g.chatter("Stored secret %s; the live deployment sees it now.", name)
	return nil
}

func (g *global) runSecretList(ctx context.Context, projectID string) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	if projectID, err = g.projectRef(ctx, c, projectID); err != nil {
		return err
	}
	secrets, err := c.ListSecrets(ctx, projectID)
	if err != nil {
		return err
	}
	if g.json {
		return g.printJSON(secrets)
	}
	if len(secrets) == 0 {
		g.chatter("Project %s has no secrets. Add one with 'cfdeploy secret put NAME'.", projectID)
		return nil
	}
	tw := tabwriter.NewWriter(g.io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tUPDATED")
	for _, s := range secrets {
		fmt.Fprintf(tw, "%s\t%s\n", s.Name, s.UpdatedAt.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

// ReadSecret reads a secret value: typed at a prompt without echo when
// stdin is a terminal, otherwise all of stdin, less one trailing newline
// (what echo and most files add).
func (s *IOStreams) ReadSecret(prompt string) (string, error) {
	if f, ok := s.In.(*os.File); ok && s.StdinTTY {
		fmt.Fprint(s.Err, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(s.Err)
		if err != nil {
			return "", fmt.Errorf("read the secret: %w", err)
		}
		return string(b), nil
	}
	b, err := io.ReadAll(io.LimitReader(s.In, maxSecretInput+1))
	if err != nil {
		return "", fmt.Errorf("read the secret from stdin: %w", err)
	}
	if len(b) > maxSecretInput {
		return "", fmt.Errorf("the secret on stdin is over %d bytes", maxSecretInput)
	}
	v := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(v, "\r"), nil
}
