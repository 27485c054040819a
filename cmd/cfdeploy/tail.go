package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

func newTailCmd(g *global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tail [PROJECT]",
		Short: "Print a project's server-code logs as they come",
		Long: `Print what the project's server code logs: console.* lines and uncaught
errors (with their stack) of JavaScript, the standard error of WebAssembly
guests, and why a request failed. The lines the host still keeps come first,
then new lines as they arrive, until Ctrl-C. --no-follow prints the kept
lines and exits; --json prints each line as the host sends it (one JSON
object per line).`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ref string
			if len(args) == 1 {
				ref = args[0]
			} else {
				id, err := g.projectID(cmd)
				if err != nil {
					return err
				}
				ref = id
			}
			noFollow, _ := cmd.Flags().GetBool("no-follow")
			return g.runTail(cmd.Context(), ref, !noFollow)
		},
	}
	cmd.Flags().String("project", "", "project ID, unique ID prefix or name (default: project_id from cfdeploy.toml)")
	cmd.Flags().Bool("no-follow", false, "print the lines the host keeps and exit")
	return cmd
}

func (g *global) runTail(ctx context.Context, ref string, follow bool) error {
	c, err := g.client(true)
	if err != nil {
		return err
	}
	p, err := g.resolveProject(ctx, c, ref)
	if err != nil {
		return err
	}
	if follow && !g.json {
		g.chatter("Following the logs of project %s (%s); Ctrl-C stops.", p.Name, p.ID)
	}
	return c.Logs(ctx, p.ID, follow, func(raw []byte, e api.LogEntry) error {
		if g.json {
			_, err := fmt.Fprintf(g.io.Out, "%s\n", raw)
			return err
		}
		_, err := fmt.Fprint(g.io.Out, formatLogEntry(e))
		return err
	})
}

// formatLogEntry writes a log line for people: the time, the request, the
// level or source, the message (a stack's lines indented under it).
func formatLogEntry(e api.LogEntry) string {
	var b strings.Builder
	b.WriteString(e.Time.Local().Format("15:04:05.000"))
	if e.Method != "" {
		fmt.Fprintf(&b, " %s %s", e.Method, e.Path)
	}
	kind := e.Level
	switch e.Source {
	case api.LogException:
		kind = "uncaught"
	case api.LogFailure:
		kind = fmt.Sprintf("failed %d", e.Status)
	case api.LogStderr:
		kind = "stderr"
	case api.LogHost:
		kind = "cfhost"
	}
	fmt.Fprintf(&b, " [%s] ", kind)
	b.WriteString(strings.ReplaceAll(terminalSafe(strings.TrimRight(e.Message, "\n")), "\n", "\n    "))
	b.WriteString("\n")
	return b.String()
}

// terminalSafe shows control characters other than newline and tab as
// escapes: a log line is the tenant's (or a visitor's) text, and must not
// move the cursor, retitle the window or clear the user's terminal.
func terminalSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || (r >= 0x20 && r != 0x7f && (r < 0x80 || r > 0x9f)) {
			return r
		}
		return '\uFFFD'
	}, s)
}
