package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// Exit statuses: 0 success, 1 failure, 2 usage error (as
// docs/configuration.md says).
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	// exitInterrupted is the shell's status for a process ended by SIGINT
	// (128+2), so scripts can tell Ctrl-C from a failure.
	exitInterrupted = 130
)

const tokenHint = "Set CFDEPLOY_TOKEN (or pass --token) to the management token of the host (cfhost logs where it keeps it, DATA_DIR/api-token, at start-up) or to a project token from 'cfdeploy tokens create'."

// usageError marks a wrong invocation: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// interruptedError marks a command stopped by Ctrl-C (or SIGTERM): exit
// status 130.
type interruptedError struct{ err error }

func (e interruptedError) Error() string { return e.err.Error() }
func (e interruptedError) Unwrap() error { return e.err }

// hintError carries what the user should do next.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

func withHint(err error, hint string) error { return &hintError{err: err, hint: hint} }

// report prints err with advice and returns the exit status. With --json a
// failure is also one JSON document on stdout, so scripts always get one.
func (g *global) report(err error) int {
	code := exitFailure
	var ue usageError
	switch {
	case errors.As(err, &ue) || !g.ran:
		code = exitUsage
	case errors.As(err, new(interruptedError)):
		code = exitInterrupted
	}
	hint := g.hintFor(err, code)
	fmt.Fprintf(g.io.Err, "Error: %v\n", err)
	if hint != "" {
		fmt.Fprintln(g.io.Err, hint)
	}
	if g.json {
		detail := map[string]any{"code": "error", "message": err.Error()}
		var apiErr *api.Error
		switch {
		case code == exitUsage:
			detail["code"] = "usage"
		case code == exitInterrupted:
			detail["code"] = "interrupted"
		case errors.As(err, &apiErr):
			detail["code"] = string(apiErr.Code)
		}
		if hint != "" {
			detail["hint"] = hint
		}
		g.printJSON(map[string]any{"error": detail}) //nolint:errcheck // already failing
	}
	return code
}

// hintFor says what to do next about err.
func (g *global) hintFor(err error, code int) string {
	var he *hintError
	if errors.As(err, &he) {
		return he.hint
	}
	if code == exitUsage {
		return "Run 'cfdeploy --help' for usage."
	}
	var unreachable *client.UnreachableError
	var invalid *manifest.ValidationError
	var changed *client.FileChangedError
	var hostData *client.HostDataError
	switch {
	case errors.Is(err, client.ErrEmptyDeploy):
		return "Check the directory (is the build output somewhere else?), or pass --allow-empty to replace the live site with an empty one."
	case errors.As(err, &hostData):
		return "Deploy the directory that holds only your built site (e.g. ./dist), or list the data directory in " + manifest.AssetsIgnoreFile + "."
	case errors.As(err, &unreachable):
		return "Is cfhost running there? Start it with 'cfhost serve', or point --host / CFDEPLOY_HOST at it."
	case errors.As(err, &invalid):
		return "Fix or remove these files, or list them in " + manifest.AssetsIgnoreFile + " so they are not deployed."
	case errors.As(err, &changed):
		return "Wait for your build to finish writing files, then deploy again."
	case errors.As(err, new(interruptedError)) || errors.Is(err, context.Canceled):
		return "Interrupted: nothing went live unless the deploy had already been finalized. Run the same command to resume; files already uploaded are not sent again."
	}
	var apiErr *api.Error
	if !errors.As(err, &apiErr) {
		return ""
	}
	switch apiErr.Code {
	case api.CodeUnauthorized:
		return "The host refused the token. " + tokenHint
	case api.CodeForbidden:
		return "This is a project token: it can only deploy, list deployments, roll back and read its own project. Use the host's admin token for anything else."
	case api.CodeRateLimited:
		if strings.Contains(err.Error(), "deploy budget") {
			return "The host bounds how many files one project may deploy, roll back or promote per minute (cfhost serve --deploy-budget). Try again after the wait."
		}
		return "The host refuses this address for a while after repeated failed authentications. Check the token (CFDEPLOY_TOKEN or --token), then try again after the wait."
	case api.CodeNotFound:
		if strings.Contains(err.Error(), "project") {
			return "List projects with 'cfdeploy projects ls', or create one with 'cfdeploy init'."
		}
	case api.CodeTooLarge:
		return "Make the offending file smaller, or list it in " + manifest.AssetsIgnoreFile + "."
	case api.CodeUnavailable, api.CodeInternal:
		return "The host failed; its log (stderr of cfhost) says why. Try again in a moment."
	}
	return ""
}
