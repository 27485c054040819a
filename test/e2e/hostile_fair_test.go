package e2e

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// This file holds the attacks of one tenant (or its visitors) on the CPU
// its neighbours need: rules that are slow to match, expensive requests
// sent on many connections, redeploys in a loop.

// TestHostileFairRuleLiteral deploys rules with long text between two
// placeholders of one segment. Go searches such text a byte at a time
// (Rabin-Karp) rather than with vector instructions: 200 such rules and a
// long path cost tens of milliseconds per request, so the deploy is
// refused, naming the line.
func TestHostileFairRuleLiteral(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	srv := startServer(t, "", "--log-level", "warn", "--access-log=false")
	c := srv.client(t, client.Options{})
	long := strings.Repeat("-", 100)
	for _, tt := range []struct {
		cfg  api.AssetConfig
		line string
	}{
		{api.AssetConfig{Redirects: "/ok /fine\n/:a" + long + "~:b /x\n"}, "line 2: "},
		{api.AssetConfig{Headers: "/ok\n  X-A: 1\n/:a" + long + "~:b\n  X-B: 2\n"}, "line 3: "},
	} {
		id := createProject(t, c, "literal")
		dir := filepath.Join(t.TempDir(), id)
		site{"/index.html": []byte("x")}.write(t, dir)
		_, err := c.Deploy(context.Background(), client.DeployOptions{ProjectID: id, Dir: dir, Config: &tt.cfg})
		var apiErr *api.Error
		if !errors.As(err, &apiErr) || apiErr.Code != api.CodeInvalid || !strings.Contains(err.Error(), tt.line) || !strings.Contains(err.Error(), "between two placeholders") {
			t.Errorf("deploy with 101 bytes between two placeholders: %v, want a 400 naming %q", err, tt.line)
		}
	}
}
