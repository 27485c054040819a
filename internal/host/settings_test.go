package host

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// lockedBuffer collects log output written from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestProjectSettingsAPI drives the env and secrets endpoints through every
// answer they give, and checks that no response and no log line ever
// carries a secret's value.
func TestProjectSettingsAPI(t *testing.T) {
	t.Parallel()
	const secretValue = "s3cr3t-value-never-shown"
	logs := &lockedBuffer{}
	th := newTestHost(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.AccessLog = true
		c.MaxProjectVars = 3
		c.MaxVarValueBytes = 32
	})
	p := th.createProject("settings")
	other := th.createProject("other")
	base := "/__api/projects/" + p.ID
	var bodies []string
	do := func(method, path string, body any) (*http.Response, []byte) {
		t.Helper()
		resp, b := th.do(method, path, body)
		bodies = append(bodies, string(b))
		return resp, b
	}

	resp, body := do("PUT", base+"/env/GREETING", map[string]string{"value": "hi"})
	v := want[api.EnvVarResponse](t, resp, body, 200)
	if v.Variable.Name != "GREETING" || v.Variable.Value != "hi" || v.Variable.UpdatedAt.IsZero() {
		t.Fatalf("put env: %s", body)
	}
	resp, body = do("PUT", base+"/secrets/API_KEY", map[string]string{"value": secretValue})
	s := want[api.SecretResponse](t, resp, body, 200)
	if s.Secret.Name != "API_KEY" || s.Secret.UpdatedAt.IsZero() {
		t.Fatalf("put secret: %s", body)
	}
	// Replacing a value keeps the count.
	resp, body = do("PUT", base+"/env/GREETING", map[string]string{"value": "hello"})
	want[api.EnvVarResponse](t, resp, body, 200)

	resp, body = do("GET", base+"/env", nil)
	env := want[api.EnvListResponse](t, resp, body, 200)
	if len(env.Env) != 1 || env.Env[0].Name != "GREETING" || env.Env[0].Value != "hello" {
		t.Fatalf("list env: %s", body)
	}
	resp, body = do("GET", base+"/secrets", nil)
	secrets := want[api.SecretListResponse](t, resp, body, 200)
	if len(secrets.Secrets) != 1 || secrets.Secrets[0].Name != "API_KEY" {
		t.Fatalf("list secrets: %s", body)
	}
	// Another project sees none of them.
	resp, body = do("GET", "/__api/projects/"+other.ID+"/env", nil)
	if e := want[api.EnvListResponse](t, resp, body, 200); len(e.Env) != 0 {
		t.Fatalf("other project's env: %s", body)
	}
	resp, body = do("GET", "/__api/projects/"+other.ID+"/secrets", nil)
	if s := want[api.SecretListResponse](t, resp, body, 200); len(s.Secrets) != 0 {
		t.Fatalf("other project's secrets: %s", body)
	}
	// Deploy and list: the deployment listing and the project carry no
	// settings either.
	th.deploy(p.ID, siteFiles{"/index.html": "x"})
	do("GET", base+"/deployments", nil)
	do("GET", base, nil)

	for _, c := range []struct {
		name, method, path string
		body               any
		status             int
		code               api.Code
	}{
		{"lower-case name", "PUT", base + "/env/greeting", map[string]string{"value": "x"}, 400, api.CodeInvalid},
		{"reserved prefix", "PUT", base + "/secrets/HTTP_HOST", map[string]string{"value": "x"}, 400, api.CodeInvalid},
		{"CGI name", "PUT", base + "/env/REQUEST_METHOD", map[string]string{"value": "x"}, 400, api.CodeInvalid},
		{"platform name", "PUT", base + "/env/CFHOST_ASSETS_DIR", map[string]string{"value": "x"}, 400, api.CodeInvalid},
		{"value too long", "PUT", base + "/env/LONG", map[string]string{"value": strings.Repeat("x", 33)}, 400, api.CodeInvalid},
		{"NUL in value", "PUT", base + "/secrets/NUL", map[string]string{"value": "a\x00b"}, 400, api.CodeInvalid},
		{"no value", "PUT", base + "/env/EMPTY", map[string]string{}, 400, api.CodeInvalid},
		{"not JSON", "PUT", base + "/env/BAD", "value=x", 400, api.CodeInvalid},
		{"body far too large", "PUT", base + "/env/HUGE", strings.Repeat("x", 1<<20), 413, api.CodeTooLarge},
		{"secret name taken by a variable", "PUT", base + "/secrets/GREETING", map[string]string{"value": "x"}, 409, api.CodeConflict},
		{"variable name taken by a secret", "PUT", base + "/env/API_KEY", map[string]string{"value": "x"}, 409, api.CodeConflict},
		{"unknown project", "PUT", "/__api/projects/nope/env/X", map[string]string{"value": "x"}, 404, api.CodeNotFound},
		{"unknown project list", "GET", "/__api/projects/nope/secrets", nil, 404, api.CodeNotFound},
		{"delete missing", "DELETE", base + "/env/MISSING", nil, 404, api.CodeNotFound},
		{"delete a secret as a variable", "DELETE", base + "/env/API_KEY", nil, 404, api.CodeNotFound},
		{"wrong method on list", "POST", base + "/env", nil, 405, api.CodeMethod},
		{"wrong method on one", "POST", base + "/secrets/API_KEY", nil, 405, api.CodeMethod},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := do(c.method, c.path, c.body)
			wantError(t, resp, body, c.status, c.code)
		})
	}

	// The count bound: two kept, a third fits, a fourth does not.
	resp, body = do("PUT", base+"/env/THIRD", map[string]string{"value": ""})
	want[api.EnvVarResponse](t, resp, body, 200)
	resp, body = do("PUT", base+"/secrets/FOURTH", map[string]string{"value": "x"})
	wantError(t, resp, body, 400, api.CodeInvalid)
	if !strings.Contains(string(body), "3 variables and secrets") {
		t.Fatalf("limit error: %s", body)
	}

	t.Run("no token", func(t *testing.T) {
		for _, path := range []string{base + "/env", base + "/secrets"} {
			req, _ := http.NewRequest("GET", th.srv.URL+path, nil)
			resp, err := th.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Fatalf("%s without token: %d", path, resp.StatusCode)
			}
		}
	})

	t.Run("project tokens", func(t *testing.T) {
		resp, body := th.do("POST", base+"/tokens", map[string]string{"name": "ci"})
		tok := want[api.CreateTokenResponse](t, resp, body, http.StatusCreated).Value
		// Its own project: listing and setting work.
		resp, body = th.do("GET", base+"/secrets", nil, "Authorization", "Bearer "+tok)
		want[api.SecretListResponse](t, resp, body, 200)
		// Another project's settings are out of its reach.
		for _, c := range []struct{ method, path string }{
			{"GET", "/__api/projects/" + other.ID + "/env"},
			{"GET", "/__api/projects/" + other.ID + "/secrets"},
			{"PUT", "/__api/projects/" + other.ID + "/secrets/STOLEN"},
			{"DELETE", "/__api/projects/" + other.ID + "/env/ANY"},
		} {
			resp, body := th.do(c.method, c.path, map[string]string{"value": "x"}, "Authorization", "Bearer "+tok)
			wantError(t, resp, body, http.StatusForbidden, api.CodeForbidden)
		}
	})

	resp, body = do("DELETE", base+"/secrets/API_KEY", nil)
	if d := want[api.DeleteSettingResponse](t, resp, body, 200); d.Name != "API_KEY" {
		t.Fatalf("delete: %s", body)
	}
	resp, body = do("GET", base+"/secrets", nil)
	if s := want[api.SecretListResponse](t, resp, body, 200); len(s.Secrets) != 0 {
		t.Fatalf("after delete: %s", body)
	}

	for _, b := range bodies {
		if strings.Contains(b, secretValue) {
			t.Fatalf("a response carries the secret's value: %s", b)
		}
	}
	if strings.Contains(logs.String(), secretValue) {
		t.Fatalf("the log carries the secret's value:\n%s", logs.String())
	}
}

// TestProjectSettingsReachServerCode checks what a guest sees: the
// project's variables and secrets under the deployment's own env, across
// deploys, and a change applies to the live deployment at once.
func TestProjectSettingsReachServerCode(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a wasm guest")
	}
	wasm := buildHello(t)
	th := newTestHost(t)
	p := th.createProject("settings-guest")
	base := "/__api/projects/" + p.ID
	sub := p.ID + ".localhost"
	withServer := func(env map[string]string) func(*api.DeployRequest) {
		return func(r *api.DeployRequest) {
			r.ServerCode = &api.ServerCode{Entrypoint: "server.wasm", Modules: map[string]api.Module{
				"server.wasm": {Content: base64.StdEncoding.EncodeToString(wasm)},
			}}
			r.Env = env
		}
	}
	greeting := func(want string) {
		t.Helper()
		resp, body := th.fetch(sub, "/api/time")
		if resp.StatusCode != 200 || !strings.Contains(body, `"greeting":"`+want+`"`) {
			t.Fatalf("guest: %d %q, want greeting %q", resp.StatusCode, body, want)
		}
	}
	put := func(kind, name, value string) {
		t.Helper()
		resp, body := th.do("PUT", base+"/"+kind+"/"+name, map[string]string{"value": value})
		if resp.StatusCode != 200 {
			t.Fatalf("put %s: %d %s", name, resp.StatusCode, body)
		}
	}

	put("secrets", "GREETING", "from the secret")
	th.deploy(p.ID, siteFiles{"/index.html": "x"}, withServer(nil))
	greeting("from the secret")
	// Another project running the same module sees none of it.
	other := th.createProject("neighbour")
	th.deploy(other.ID, siteFiles{"/index.html": "x"}, withServer(nil))
	if resp, body := th.fetch(other.ID+".localhost", "/api/time"); resp.StatusCode != 200 || !strings.Contains(body, `"greeting":""`) {
		t.Fatalf("neighbour's guest: %d %q", resp.StatusCode, body)
	}
	// A rotation reaches the live deployment without a deploy.
	put("secrets", "GREETING", "rotated")
	greeting("rotated")
	// A deploy-time value wins over the project's.
	th.deploy(p.ID, siteFiles{"/index.html": "x"}, withServer(map[string]string{"GREETING": "from the deploy"}))
	greeting("from the deploy")
	// A later deploy without it falls back to the project's again.
	th.deploy(p.ID, siteFiles{"/index.html": "y"}, withServer(nil))
	greeting("rotated")
	// Removing the secret removes it from the live deployment.
	resp, body := th.do("DELETE", base+"/secrets/GREETING", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	greeting("")
	put("env", "GREETING", "plain variable")
	greeting("plain variable")
}
