package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/cfdeploy/cfdeploy/internal/host"
	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// TestDeployReportsSupersededDeployment runs a second deploy to completion
// while the first is between its upload session and its finalize: the
// first must report the deployment it replaced.
func TestDeployReportsSupersededDeployment(t *testing.T) {
	t.Parallel()
	_, hostURL := startHost(t, host.Config{})
	direct := newClient(t, hostURL)
	ctx := context.Background()
	p, err := direct.CreateProject(ctx, "race")
	if err != nil {
		t.Fatal(err)
	}
	slowDir, _ := makeSite(t, 3)
	fastDir, _ := makeSite(t, 5)

	var once sync.Once
	var other *client.DeployResult
	var otherErr error
	next := reverseTo(strings.TrimPrefix(hostURL, "http://"))
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/assets-upload-session") {
			once.Do(func() { other, otherErr = direct.Deploy(ctx, client.DeployOptions{ProjectID: p.ID, Dir: fastDir}) })
		}
		next.ServeHTTP(w, r)
	}))
	t.Cleanup(ps.Close)

	res, err := newClient(t, ps.URL).Deploy(ctx, client.DeployOptions{ProjectID: p.ID, Dir: slowDir})
	if err != nil || otherErr != nil {
		t.Fatalf("deploys: %v, %v", err, otherErr)
	}
	if res.Superseded != other.Deployment.ID {
		t.Fatalf("Superseded = %q, want the deployment that went live meanwhile, %q", res.Superseded, other.Deployment.ID)
	}
	if other.Superseded != "" {
		t.Fatalf("the undisturbed deploy reports %q as superseded", other.Superseded)
	}
}
