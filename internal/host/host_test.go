package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/internal/host/coalesce"
	"github.com/cfdeploy/cfdeploy/internal/wasmcache"
	"github.com/cfdeploy/cfdeploy/pkg/api"
)

const testToken = "test-token"

// testHost is a real host on a real SQLite file behind a real HTTP server.
type testHost struct {
	t   *testing.T
	h   *Host
	srv *httptest.Server
	// token replaces testToken as the default credential (see as).
	token string
}

// as returns th sending token instead of the admin token.
func (th *testHost) as(token string) *testHost {
	c := *th
	c.token = token
	return &c
}

func newTestHost(t *testing.T, mod ...func(*Config)) *testHost {
	t.Helper()
	cfg := Config{DataDir: t.TempDir(), APIToken: testToken}
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	scratch := cfg.DataDir
	for _, m := range mod {
		m(&cfg)
	}
	if cfg.DataDir == scratch && cfg.Worker.CacheDir == "" {
		// Guests and the JS engine load the machine code earlier tests
		// compiled; a test of the cache itself brings its own data dir.
		caches := []string{filepath.Join(cfg.DataDir, "wasm-cache"), filepath.Join(cfg.DataDir, "js-cache")}
		wasmcache.Seed(caches...)
		t.Cleanup(func() { wasmcache.Keep(caches...) }) // after the host's Close
	}
	h, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Served as cmd/cfhost serves it: responses gather their writes.
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = coalesce.Listener(srv.Listener)
	srv.Config.ConnContext = coalesce.ConnContext
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		h.Close()
	})
	return &testHost{t: t, h: h, srv: srv}
}

// do sends a request with the API token (th.token when set) unless auth is
// given.
func (th *testHost) do(method, path string, body any, header ...string) (*http.Response, []byte) {
	th.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, th.srv.URL+path, rd)
	if err != nil {
		th.t.Fatal(err)
	}
	token := testToken
	if th.token != "" {
		token = th.token
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := th.srv.Client().Do(req)
	if err != nil {
		th.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// want decodes a JSON body after checking the status.
func want[T any](t *testing.T, resp *http.Response, body []byte, status int) T {
	t.Helper()
	var v T
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

// wantError checks a JSON error body with status and code.
func wantError(t *testing.T, resp *http.Response, body []byte, status int, code api.Code) {
	t.Helper()
	e := want[api.ErrorResponse](t, resp, body, status)
	if e.Success || e.Error == "" || len(e.Errors) != 1 || e.Errors[0].Code != code {
		t.Fatalf("error body %s, want code %s", body, code)
	}
}

func (th *testHost) createProject(name string) api.Project {
	th.t.Helper()
	resp, body := th.do("POST", "/__api/projects", map[string]string{"name": name})
	return want[api.ProjectResponse](th.t, resp, body, http.StatusCreated).Project
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// siteFiles is a set of files to deploy, path → content.
type siteFiles map[string]string

func (s siteFiles) manifest() api.Manifest {
	m := api.Manifest{}
	for p, c := range s {
		m[p] = api.ManifestEntry{Hash: sha([]byte(c)), Size: int64(len(c))}
	}
	return m
}

// upload runs phases one and two and returns the completion token.
func (th *testHost) upload(projectID string, files siteFiles) string {
	th.t.Helper()
	resp, body := th.do("POST", "/__api/projects/"+projectID+"/assets-upload-session", api.UploadSessionRequest{Manifest: files.manifest()})
	sess := want[api.UploadSessionResponse](th.t, resp, body, http.StatusOK).Result
	if len(sess.Buckets) == 0 {
		return sess.JWT
	}
	byHash := map[string]string{}
	for _, c := range files {
		byHash[sha([]byte(c))] = c
	}
	var completion string
	for i, bucket := range sess.Buckets {
		payload := map[string]string{}
		for _, h := range bucket {
			payload[h] = base64.StdEncoding.EncodeToString([]byte(byHash[h]))
		}
		resp, body := th.do("POST", "/__api/projects/"+projectID+"/assets/upload", payload, "Authorization", "Bearer "+sess.JWT)
		status := http.StatusOK
		if i == len(sess.Buckets)-1 {
			status = http.StatusCreated
		}
		r := want[api.UploadResponse](th.t, resp, body, status)
		if r.Result.JWT != nil {
			completion = *r.Result.JWT
		}
	}
	return completion
}

func (th *testHost) deploy(projectID string, files siteFiles, extra ...func(*api.DeployRequest)) api.DeployResponse {
	th.t.Helper()
	req := api.DeployRequest{CompletionJWT: th.upload(projectID, files)}
	for _, e := range extra {
		e(&req)
	}
	resp, body := th.do("POST", "/__api/projects/"+projectID+"/deploy", req)
	return want[api.DeployResponse](th.t, resp, body, http.StatusOK)
}

func (th *testHost) activeDeployment(projectID string) string {
	th.t.Helper()
	resp, body := th.do("GET", "/__api/projects/"+projectID, nil)
	p := want[api.ProjectResponse](th.t, resp, body, http.StatusOK).Project
	if p.ActiveDeploymentID == nil {
		return ""
	}
	return *p.ActiveDeploymentID
}

func TestHealthNeedsNoToken(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	resp, body := th.do("GET", "/__api/health", nil, "Authorization", "")
	h := want[api.HealthResponse](t, resp, body, http.StatusOK)
	if !h.Success || h.Result.Status != "ok" {
		t.Fatalf("health %s", body)
	}
}

func TestProjectLifecycle(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("My Site")
	if p.Name != "My Site" || len(p.ID) != 36 || p.ActiveDeploymentID != nil || p.AssetsCount != 0 || p.CreatedAt.IsZero() {
		t.Fatalf("created %+v", p)
	}
	resp, body := th.do("GET", "/__api/projects/"+p.ID, nil)
	if got := want[api.ProjectResponse](t, resp, body, http.StatusOK).Project; got.ID != p.ID || got.Name != p.Name {
		t.Fatalf("get %+v", got)
	}
	resp, body = th.do("GET", "/__api/projects", nil)
	list := want[api.ProjectListResponse](t, resp, body, http.StatusOK)
	if len(list.Projects) != 1 || list.Cursor != nil {
		t.Fatalf("list %s", body)
	}
	// The project-less name gets a default.
	resp, body = th.do("POST", "/__api/projects", nil)
	if q := want[api.ProjectResponse](t, resp, body, http.StatusCreated).Project; !strings.HasPrefix(q.Name, "project-") {
		t.Fatalf("default name %q", q.Name)
	}
	resp, body = th.do("DELETE", "/__api/projects/"+p.ID, nil)
	del := want[api.DeleteProjectResponse](t, resp, body, http.StatusOK)
	if del.Message != "Project deleted" {
		t.Fatalf("delete %s", body)
	}
	resp, body = th.do("GET", "/__api/projects/"+p.ID, nil)
	wantError(t, resp, body, http.StatusNotFound, api.CodeNotFound)
	resp, body = th.do("DELETE", "/__api/projects/"+p.ID, nil)
	wantError(t, resp, body, http.StatusNotFound, api.CodeNotFound)
}

func TestListProjectsPages(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	for range 7 {
		th.createProject("p")
	}
	seen := map[string]bool{}
	path := "/__api/projects?limit=3"
	pages := 0
	for {
		resp, body := th.do("GET", path, nil)
		list := want[api.ProjectListResponse](t, resp, body, http.StatusOK)
		pages++
		for _, p := range list.Projects {
			seen[p.ID] = true
		}
		if list.Cursor == nil {
			break
		}
		path = "/__api/projects?limit=3&cursor=" + *list.Cursor
	}
	if len(seen) != 7 || pages != 3 {
		t.Fatalf("saw %d projects in %d pages", len(seen), pages)
	}
	resp, body := th.do("GET", "/__api/projects?cursor=nonsense", nil)
	wantError(t, resp, body, http.StatusBadRequest, api.CodeInvalid)
	resp, body = th.do("GET", "/__api/projects?limit=0", nil)
	wantError(t, resp, body, http.StatusBadRequest, api.CodeInvalid)
}

func TestDefaultPageStopsAt100(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	for range 101 {
		th.createProject("p")
	}
	resp, body := th.do("GET", "/__api/projects", nil)
	list := want[api.ProjectListResponse](t, resp, body, http.StatusOK)
	if len(list.Projects) != 100 || list.Cursor == nil {
		t.Fatalf("first page has %d projects, cursor %v", len(list.Projects), list.Cursor)
	}
	resp, body = th.do("GET", "/__api/projects?cursor="+*list.Cursor, nil)
	list = want[api.ProjectListResponse](t, resp, body, http.StatusOK)
	if len(list.Projects) != 1 || list.Cursor != nil {
		t.Fatalf("second page has %d projects", len(list.Projects))
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	// More failures than the default limit of one address: this test is
	// about the 401s, TestAuthFailureLimit about the 429s.
	th := newTestHost(t, func(c *Config) { c.AuthFailLimit = 1000 })
	p := th.createProject("x")
	for _, auth := range []string{"", "wrong", "Bearer wrong", "Bearer " + testToken + "x"} {
		for _, route := range [][2]string{{"GET", "/__api/projects"}, {"POST", "/__api/projects"}, {"GET", "/__api/projects/" + p.ID},
			{"DELETE", "/__api/projects/" + p.ID}, {"POST", "/__api/projects/" + p.ID + "/assets-upload-session"},
			{"POST", "/__api/projects/" + p.ID + "/deploy"}, {"GET", "/__api/projects/" + p.ID + "/deployments"},
			{"POST", "/__api/projects/" + p.ID + "/rollback"}} {
			resp, body := th.do(route[0], route[1], "{}", "Authorization", auth)
			wantError(t, resp, body, http.StatusUnauthorized, api.CodeUnauthorized)
		}
	}
	// The raw token form works as well as Bearer.
	resp, body := th.do("GET", "/__api/projects/"+p.ID, nil, "Authorization", testToken)
	want[api.ProjectResponse](t, resp, body, http.StatusOK)
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("x")
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     api.Code
	}{
		{"unknown route", "GET", "/__api/nope", "", 404, api.CodeNotFound},
		{"unknown sub-route", "GET", "/__api/projects/" + p.ID + "/nope", "", 404, api.CodeNotFound},
		{"unknown project", "GET", "/__api/projects/00000000-0000-0000-0000-000000000000", "", 404, api.CodeNotFound},
		{"unknown project deployments", "GET", "/__api/projects/nope/deployments", "", 404, api.CodeNotFound},
		{"wrong method", "PUT", "/__api/projects", "", 405, api.CodeMethod},
		{"wrong method on health", "POST", "/__api/health", "", 405, api.CodeMethod},
		{"malformed JSON", "POST", "/__api/projects", `{"name":`, 400, api.CodeInvalid},
		{"wrong JSON type", "POST", "/__api/projects", `{"name": 5}`, 400, api.CodeInvalid},
		{"trailing data", "POST", "/__api/projects", `{} {}`, 400, api.CodeInvalid},
		{"control character in name", "POST", "/__api/projects", `{"name": "a\u0001b"}`, 400, api.CodeInvalid},
		{"oversized body", "POST", "/__api/projects", `{"name": "` + strings.Repeat("a", 100<<10) + `"}`, 413, api.CodeTooLarge},
		{"rollback without id", "POST", "/__api/projects/" + p.ID + "/rollback", `{}`, 400, api.CodeInvalid},
		{"rollback to unknown deployment", "POST", "/__api/projects/" + p.ID + "/rollback", `{"deploymentId": "nope"}`, 404, api.CodeNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body any
			if c.body != "" {
				body = c.body
			}
			resp, b := th.do(c.method, c.path, body)
			wantError(t, resp, b, c.status, c.code)
		})
	}
}

func TestProjectRouting(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.BaseDomain = "example.test" })
	p := th.createProject("x")
	get := func(host, path string) (int, string) {
		req, _ := http.NewRequest("GET", th.srv.URL+path, nil)
		req.Host = host
		resp, err := th.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		host, path string
		status     int
		contains   string
	}{
		{p.ID + ".example.test", "/", 404, "nothing deployed"},
		{p.ID + ".example.test:8080", "/", 404, "nothing deployed"},
		{"127.0.0.1", "/__project/" + p.ID + "/", 404, "nothing deployed"},
		{"127.0.0.1", "/__project/" + p.ID, 404, "nothing deployed"},
		{"other.example.test", "/", 404, "No project other"},
		{"127.0.0.1", "/__project/nope/", 404, "No project nope"},
		{"127.0.0.1", "/", 404, "__project/<project-id>"},
		{"example.test", "/", 404, "__project/<project-id>"},
		{"a." + p.ID + ".example.test", "/", 404, "__project/<project-id>"},
		{p.ID + ".example.test.evil.test", "/", 404, "__project/<project-id>"},
		{"[::1]:8080", "/", 404, "__project/<project-id>"},
		{strings.ToUpper(p.ID) + ".EXAMPLE.TEST.", "/", 404, "nothing deployed"},
	}
	for _, c := range cases {
		status, body := get(c.host, c.path)
		if status != c.status || !strings.Contains(body, c.contains) {
			t.Errorf("%s%s: %d %q, want %d containing %q", c.host, c.path, status, body, c.status, c.contains)
		}
	}
}

func TestTokenFileIsCreatedOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h, err := New(context.Background(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	tok, secret := h.APIToken(), string(h.tokens.key)
	h.Close()
	if len(tok) < 32 {
		t.Fatalf("token %q too short", tok)
	}
	info, err := os.Stat(filepath.Join(dir, "api-token"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", info, err)
	}
	h, err = New(context.Background(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.APIToken() != tok {
		t.Fatal("token changed on restart")
	}
	if len(secret) < 32 || string(h.tokens.key) != secret {
		t.Fatal("the generated JWT secret must be kept across restarts")
	}
}

func TestDataDirIsExclusive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h, err := New(context.Background(), Config{DataDir: dir, APIToken: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), Config{DataDir: dir, APIToken: "x"}); err == nil || !strings.Contains(err.Error(), "in use by another cfhost") {
		t.Fatalf("second host on one data dir: %v", err)
	}
	h.Close()
	h, err = New(context.Background(), Config{DataDir: dir, APIToken: "x"})
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	h.Close()
}
