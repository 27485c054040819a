package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// hostileTokens attacks the real cfhost as a tenant who holds a token
// for their own project only: it deploys that project with the SDK and is
// refused (403, JSON body) everything that touches another project or the
// host; a revoked token and the token of a deleted project are refused
// (401); and an address that keeps guessing tokens is answered 429 with
// Retry-After while other clients go on working.
func hostileTokens(t *testing.T) {
	// Loopback is a trusted proxy, so the guessing phase can come from an
	// address of its own through X-Forwarded-For; the SDK clients, which
	// send none, stay 127.0.0.1. The failure limit is the default.
	srv := startServer(t, "", "--trust-proxy", "127.0.0.0/8", "--log-level", "warn", "--access-log=false")
	ctx := context.Background()
	admin := srv.client(t, client.Options{})
	a := createProject(t, admin, "tenant")
	b := createProject(t, admin, "victim")
	root := t.TempDir()
	victimDir := filepath.Join(root, "victim")
	site{"/index.html": []byte("victim's page")}.write(t, victimDir)
	vd, err := admin.Deploy(ctx, client.DeployOptions{ProjectID: b, Dir: victimDir})
	if err != nil {
		t.Fatal(err)
	}

	created, err := admin.CreateToken(ctx, a, "tenant ci")
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	if !strings.HasPrefix(created.Value, api.ProjectTokenPrefix) || created.Token.ProjectID != a {
		t.Fatalf("created %+v", created)
	}
	tenant, err := client.New(srv.url(""), client.Options{Token: created.Value, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}

	// The token deploys, lists and rolls back its own project.
	tenantDir := filepath.Join(root, "tenant")
	site{"/index.html": []byte("tenant v1")}.write(t, tenantDir)
	first, err := tenant.Deploy(ctx, client.DeployOptions{ProjectID: a, Dir: tenantDir})
	if err != nil {
		t.Fatalf("deploy with the project token: %v", err)
	}
	site{"/index.html": []byte("tenant v2")}.write(t, tenantDir)
	if _, err := tenant.Deploy(ctx, client.DeployOptions{ProjectID: a, Dir: tenantDir}); err != nil {
		t.Fatalf("redeploy with the project token: %v", err)
	}
	if ds, err := tenant.ListDeployments(ctx, a); err != nil || len(ds) != 2 {
		t.Fatalf("deployments: %v %v", ds, err)
	}
	if _, err := tenant.Rollback(ctx, a, first.Deployment.ID); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	wantPage(t, srv, a, "tenant v1")

	// Everything else is forbidden, through the SDK and on the wire.
	forbidden := []struct {
		name string
		call func() error
	}{
		{"deploy another project", func() error {
			_, err := tenant.Deploy(ctx, client.DeployOptions{ProjectID: b, Dir: tenantDir})
			return err
		}},
		{"delete another project", func() error { return tenant.DeleteProject(ctx, b) }},
		{"roll back another project", func() error {
			_, err := tenant.Rollback(ctx, b, vd.Deployment.ID)
			return err
		}},
		{"read another project", func() error { _, err := tenant.GetProject(ctx, b); return err }},
		{"list projects", func() error { _, _, err := tenant.ListProjects(ctx, 0, ""); return err }},
		{"create a project", func() error { _, err := tenant.CreateProject(ctx, "mine"); return err }},
		{"delete its own project", func() error { return tenant.DeleteProject(ctx, a) }},
		{"mint another token", func() error { _, err := tenant.CreateToken(ctx, a, "more"); return err }},
		{"list tokens", func() error { _, err := tenant.ListTokens(ctx, a); return err }},
		{"revoke a token", func() error { return tenant.RevokeToken(ctx, a, created.Token.ID) }},
	}
	for _, c := range forbidden {
		t.Run("sdk/"+c.name, func(t *testing.T) {
			if err := c.call(); api.ErrorCode(err) != api.CodeForbidden {
				t.Fatalf("got %v, want a forbidden error", err)
			}
		})
	}
	wire := []struct{ method, path, body string }{
		{"POST", "/__api/projects/" + b + "/deploy", `{"completionJwt":"x"}`},
		{"DELETE", "/__api/projects/" + b, ""},
		{"POST", "/__api/projects/" + b + "/rollback", `{"deploymentId":"` + vd.Deployment.ID + `"}`},
		{"POST", "/__api/projects", `{"name":"mine"}`},
		{"GET", "/__api/projects", ""},
		{"DELETE", "/__api/projects/" + a, ""},
	}
	for _, w := range wire {
		t.Run("wire/"+w.method+" "+w.path, func(t *testing.T) {
			resp, body := apiCall(t, srv, w.method, w.path, created.Value, w.body, "")
			wantAPIError(t, resp, body, http.StatusForbidden)
			if code := errorCode(body); code != api.CodeForbidden {
				t.Fatalf("code %q, want forbidden", code)
			}
		})
	}
	// The victim is untouched and both projects still exist.
	wantPage(t, srv, b, "victim's page")
	if ps, err := admin.AllProjects(ctx); err != nil || len(ps) != 2 {
		t.Fatalf("projects after the attacks: %v %v", ps, err)
	}

	// Tokens outlive a restart of the host.
	srv.stop()
	if err := srv.start(); err != nil {
		t.Fatal(err)
	}
	if _, err := tenant.GetProject(ctx, a); err != nil {
		t.Fatalf("token after a restart: %v", err)
	}

	// A revoked token is refused at once.
	if err := admin.RevokeToken(ctx, a, created.Token.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tenant.GetProject(ctx, a); api.ErrorCode(err) != api.CodeUnauthorized {
		t.Fatalf("revoked token: %v, want unauthorized", err)
	}
	if _, err := tenant.Deploy(ctx, client.DeployOptions{ProjectID: a, Dir: tenantDir}); api.ErrorCode(err) != api.CodeUnauthorized {
		t.Fatalf("deploy with a revoked token: %v, want unauthorized", err)
	}
	// Deleting a project revokes its tokens.
	doomed := createProject(t, admin, "doomed")
	dt, err := admin.CreateToken(ctx, doomed, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.DeleteProject(ctx, doomed); err != nil {
		t.Fatal(err)
	}
	resp, body := apiCall(t, srv, "GET", "/__api/projects/"+doomed, dt.Value, "", "")
	wantAPIError(t, resp, body, http.StatusUnauthorized)

	// Guessing: the default limit is 20 failures a minute per address.
	// Tokens that look like project tokens and others count alike.
	const guesser = "203.0.113.77"
	for i := range 20 {
		guess := randomHex(32)
		if i%2 == 0 {
			guess = api.ProjectTokenPrefix + guess
		}
		resp, body := apiCall(t, srv, "GET", "/__api/projects/"+a, guess, "", guesser)
		wantAPIError(t, resp, body, http.StatusUnauthorized)
	}
	for _, tok := range []string{randomHex(32), srv.token} {
		resp, body := apiCall(t, srv, "GET", "/__api/projects/"+a, tok, "", guesser)
		wantAPIError(t, resp, body, http.StatusTooManyRequests)
		if code := errorCode(body); code != api.CodeRateLimited {
			t.Fatalf("code %q, want rate_limited", code)
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
			t.Fatalf("Retry-After %q, want 1..60 seconds", resp.Header.Get("Retry-After"))
		}
	}
	// Everyone else carries on, the admin included.
	if _, err := admin.GetProject(ctx, a); err != nil {
		t.Fatalf("admin while another address is limited: %v", err)
	}
	resp, body = apiCall(t, srv, "GET", "/__api/projects/"+a, srv.token, "", "203.0.113.78")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a neighbour address: %s %s", resp.Status, body)
	}
	// And the sites are served to the guesser as to anyone.
	wantPage(t, srv, a, "tenant v1")
}

// apiCall sends an API request with a bearer token, from the client
// address xff when given (loopback must be a trusted proxy).
func apiCall(t *testing.T, srv *server, method, path, token, body, xff string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.url(path), rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// errorCode is the code of a JSON error body.
func errorCode(body []byte) api.Code {
	var er api.ErrorResponse
	if json.Unmarshal(body, &er) != nil || len(er.Errors) == 0 {
		return ""
	}
	return er.Errors[0].Code
}

// wantPage checks what a project serves at /.
func wantPage(t *testing.T, srv *server, id, want string) {
	t.Helper()
	resp, body, err := fetch(context.Background(), plainHTTP(), srv.projectURL(id, "/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		t.Fatalf("project %s serves %s %q, want %q", id, resp.Status, body, want)
	}
}
