package host

import (
	"bytes"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// createToken makes a token for project id with the admin token.
func (th *testHost) createToken(id, name string) api.CreateTokenResponse {
	th.t.Helper()
	resp, body := th.do("POST", "/__api/projects/"+id+"/tokens", api.CreateTokenRequest{Name: name}, "Authorization", "Bearer "+testToken)
	return want[api.CreateTokenResponse](th.t, resp, body, http.StatusCreated)
}

func TestProjectTokensAPI(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("site")

	ct := th.createToken(p.ID, "ci")
	if !ct.Success || !strings.HasPrefix(ct.Value, api.ProjectTokenPrefix) || len(ct.Value) != len(api.ProjectTokenPrefix)+64 ||
		ct.Token.ID == "" || ct.Token.ProjectID != p.ID || ct.Token.Name != "ci" || ct.Token.CreatedAt.IsZero() || ct.Token.LastUsedAt != nil {
		t.Fatalf("created %+v", ct)
	}
	// Without a body (or a name) the token gets a default name.
	resp, body := th.do("POST", "/__api/projects/"+p.ID+"/tokens", nil)
	other := want[api.CreateTokenResponse](t, resp, body, http.StatusCreated)
	if !strings.HasPrefix(other.Token.Name, "token-") || other.Value == ct.Value || other.Token.ID == ct.Token.ID {
		t.Fatalf("second token %+v", other)
	}

	// The list has the metadata and never the token.
	resp, body = th.do("GET", "/__api/projects/"+p.ID+"/tokens", nil)
	list := want[api.TokenListResponse](t, resp, body, http.StatusOK)
	if len(list.Tokens) != 2 || list.Tokens[0].ID != ct.Token.ID || list.Tokens[1].ID != other.Token.ID {
		t.Fatalf("list %s", body)
	}
	if bytes.Contains(body, []byte(ct.Value)) || bytes.Contains(body, []byte(other.Value)) {
		t.Fatalf("list shows a token: %s", body)
	}

	// Using a token records when, and the list shows it.
	resp, body = th.as(ct.Value).do("GET", "/__api/projects/"+p.ID, nil)
	want[api.ProjectResponse](t, resp, body, http.StatusOK)
	resp, body = th.do("GET", "/__api/projects/"+p.ID+"/tokens", nil)
	list = want[api.TokenListResponse](t, resp, body, http.StatusOK)
	if list.Tokens[0].LastUsedAt == nil || list.Tokens[1].LastUsedAt != nil {
		t.Fatalf("last used %s", body)
	}

	// Revoking: the token stops working at once; a second revoke is a 404.
	resp, body = th.do("DELETE", "/__api/projects/"+p.ID+"/tokens/"+ct.Token.ID, nil)
	if r := want[api.RevokeTokenResponse](t, resp, body, http.StatusOK); r.TokenID != ct.Token.ID {
		t.Fatalf("revoke %s", body)
	}
	resp, body = th.as(ct.Value).do("GET", "/__api/projects/"+p.ID, nil)
	wantError(t, resp, body, http.StatusUnauthorized, api.CodeUnauthorized)
	resp, body = th.do("DELETE", "/__api/projects/"+p.ID+"/tokens/"+ct.Token.ID, nil)
	wantError(t, resp, body, http.StatusNotFound, api.CodeNotFound)
	resp, body = th.do("GET", "/__api/projects/"+p.ID+"/tokens", nil)
	if l := want[api.TokenListResponse](t, resp, body, http.StatusOK); len(l.Tokens) != 1 || l.Tokens[0].ID != other.Token.ID {
		t.Fatalf("list after revoke %s", body)
	}

	// A token id of one project cannot be revoked through another.
	q := th.createProject("other")
	resp, body = th.do("DELETE", "/__api/projects/"+q.ID+"/tokens/"+other.Token.ID, nil)
	wantError(t, resp, body, http.StatusNotFound, api.CodeNotFound)

	// Deleting the project revokes its tokens.
	resp, body = th.as(other.Value).do("GET", "/__api/projects/"+p.ID, nil)
	want[api.ProjectResponse](t, resp, body, http.StatusOK)
	resp, body = th.do("DELETE", "/__api/projects/"+p.ID, nil)
	want[api.DeleteProjectResponse](t, resp, body, http.StatusOK)
	resp, body = th.as(other.Value).do("GET", "/__api/projects/"+p.ID, nil)
	wantError(t, resp, body, http.StatusUnauthorized, api.CodeUnauthorized)
}

func TestProjectTokenErrors(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("site")
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code               api.Code
	}{
		{"unknown project", "POST", "/__api/projects/nope/tokens", api.CreateTokenRequest{Name: "x"}, 404, api.CodeNotFound},
		{"list unknown project", "GET", "/__api/projects/nope/tokens", nil, 404, api.CodeNotFound},
		{"revoke in unknown project", "DELETE", "/__api/projects/nope/tokens/x", nil, 404, api.CodeNotFound},
		{"revoke unknown token", "DELETE", "/__api/projects/" + p.ID + "/tokens/nope", nil, 404, api.CodeNotFound},
		{"name too long", "POST", "/__api/projects/" + p.ID + "/tokens", api.CreateTokenRequest{Name: strings.Repeat("n", maxNameLength+1)}, 400, api.CodeInvalid},
		{"control character", "POST", "/__api/projects/" + p.ID + "/tokens", api.CreateTokenRequest{Name: "a\nb"}, 400, api.CodeInvalid},
		{"malformed body", "POST", "/__api/projects/" + p.ID + "/tokens", `{"name":`, 400, api.CodeInvalid},
		{"wrong type", "POST", "/__api/projects/" + p.ID + "/tokens", `{"name":1}`, 400, api.CodeInvalid},
		{"wrong method", "PUT", "/__api/projects/" + p.ID + "/tokens", nil, 405, api.CodeMethod},
		{"wrong method on a token", "GET", "/__api/projects/" + p.ID + "/tokens/x", nil, 405, api.CodeMethod},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := th.do(c.method, c.path, c.body)
			wantError(t, resp, body, c.status, c.code)
		})
	}
	resp, body := th.do("GET", "/__api/projects/"+p.ID+"/tokens", nil)
	if l := want[api.TokenListResponse](t, resp, body, http.StatusOK); len(l.Tokens) != 0 || !strings.Contains(string(body), `"tokens":[]`) {
		t.Fatalf("refused creations stored a token: %s", body)
	}
}

// TestProjectTokenScope: a project token deploys, lists, rolls back and
// reads its own project, and gets 403 everywhere else.
func TestProjectTokenScope(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	a, b := th.createProject("a"), th.createProject("b")
	th.deploy(b.ID, siteFiles{"/index.html": "b"})
	tok := th.createToken(a.ID, "deployer").Value
	ta := th.as(tok)

	first := ta.deploy(a.ID, siteFiles{"/index.html": "one"})
	second := ta.deploy(a.ID, siteFiles{"/index.html": "two"})
	resp, body := ta.do("GET", "/__api/projects/"+a.ID+"/deployments", nil)
	if ds := want[api.DeploymentListResponse](t, resp, body, http.StatusOK).Deployments; len(ds) != 2 || ds[0].ID != second.Deployment.ID {
		t.Fatalf("deployments %s", body)
	}
	resp, body = ta.do("POST", "/__api/projects/"+a.ID+"/rollback", api.RollbackRequest{DeploymentID: first.Deployment.ID})
	want[api.RollbackResponse](t, resp, body, http.StatusOK)
	if ta.activeDeployment(a.ID) != first.Deployment.ID {
		t.Fatal("rollback did not take")
	}

	// Variables and secrets of its own project are the token's to manage.
	for _, kind := range []string{"env", "secrets"} {
		resp, body = ta.do("PUT", "/__api/projects/"+a.ID+"/"+kind+"/API_URL", `{"value":"x"}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT own %s: %d %s", kind, resp.StatusCode, body)
		}
		resp, body = ta.do("GET", "/__api/projects/"+a.ID+"/"+kind, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET own %s: %d %s", kind, resp.StatusCode, body)
		}
		resp, body = ta.do("DELETE", "/__api/projects/"+a.ID+"/"+kind+"/API_URL", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("DELETE own %s: %d %s", kind, resp.StatusCode, body)
		}
	}

	resp, body = ta.do("GET", "/__api/projects/"+a.ID+"/deployments/"+first.Deployment.ID+"/files", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("own deployment's files: %d %s", resp.StatusCode, body)
	}

	bDeployment := th.activeDeployment(b.ID)
	sess := api.UploadSessionRequest{Manifest: siteFiles{"/x.html": "x"}.manifest()}
	forbidden := []struct {
		name, method, path string
		body               any
	}{
		{"list projects", "GET", "/__api/projects", nil},
		{"create project", "POST", "/__api/projects", api.CreateProjectRequest{Name: "mine"}},
		{"delete own project", "DELETE", "/__api/projects/" + a.ID, nil},
		{"delete other project", "DELETE", "/__api/projects/" + b.ID, nil},
		{"read other project", "GET", "/__api/projects/" + b.ID, nil},
		{"other project's session", "POST", "/__api/projects/" + b.ID + "/assets-upload-session", sess},
		{"other project's deploy", "POST", "/__api/projects/" + b.ID + "/deploy", api.DeployRequest{CompletionJWT: "x"}},
		{"other project's deployments", "GET", "/__api/projects/" + b.ID + "/deployments", nil},
		{"other project's deployment files", "GET", "/__api/projects/" + b.ID + "/deployments/" + bDeployment + "/files", nil},
		{"other project's rollback", "POST", "/__api/projects/" + b.ID + "/rollback", api.RollbackRequest{DeploymentID: bDeployment}},
		{"unknown project", "GET", "/__api/projects/nope", nil},
		{"create a token", "POST", "/__api/projects/" + a.ID + "/tokens", nil},
		{"list tokens", "GET", "/__api/projects/" + a.ID + "/tokens", nil},
		{"revoke a token", "DELETE", "/__api/projects/" + a.ID + "/tokens/x", nil},
		{"other project's tokens", "POST", "/__api/projects/" + b.ID + "/tokens", nil},
		{"other project's env", "GET", "/__api/projects/" + b.ID + "/env", nil},
		{"set other project's env", "PUT", "/__api/projects/" + b.ID + "/env/X", `{"value":"x"}`},
		{"delete other project's env", "DELETE", "/__api/projects/" + b.ID + "/env/X", nil},
		{"other project's secrets", "GET", "/__api/projects/" + b.ID + "/secrets", nil},
		{"set other project's secret", "PUT", "/__api/projects/" + b.ID + "/secrets/X", `{"value":"x"}`},
		{"delete other project's secret", "DELETE", "/__api/projects/" + b.ID + "/secrets/X", nil},
	}
	for _, c := range forbidden {
		t.Run(c.name, func(t *testing.T) {
			resp, body := ta.do(c.method, c.path, c.body)
			wantError(t, resp, body, http.StatusForbidden, api.CodeForbidden)
		})
	}
	// Nothing of B's, nor the project list, changed.
	if th.activeDeployment(b.ID) != bDeployment {
		t.Fatal("B's active deployment changed")
	}
	resp, body = th.do("GET", "/__api/projects", nil)
	if l := want[api.ProjectListResponse](t, resp, body, http.StatusOK); len(l.Projects) != 2 {
		t.Fatalf("projects %s", body)
	}
	// 403s are not failed authentications: the token still works after
	// more of them than the failure limit.
	resp, body = ta.do("GET", "/__api/projects/"+a.ID, nil)
	want[api.ProjectResponse](t, resp, body, http.StatusOK)
}

// TestProjectTokenStoredHashed: neither the database nor its WAL holds a
// token, only its hash.
func TestProjectTokenStoredHashed(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("site")
	ct := th.createToken(p.ID, "ci")
	files, _ := filepath.Glob(filepath.Join(th.h.cfg.DataDir, "cfhost.db*"))
	if len(files) == 0 {
		t.Fatal("no database files")
	}
	hashSeen := false
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(ct.Value)) || bytes.Contains(b, []byte(strings.TrimPrefix(ct.Value, api.ProjectTokenPrefix))) {
			t.Fatalf("%s holds the token", f)
		}
		hashSeen = hashSeen || bytes.Contains(b, []byte(sha([]byte(ct.Value))))
	}
	if !hashSeen {
		t.Fatal("the token's hash is not stored either; is the test reading the right files?")
	}
}

// TestAuthFailureLimit: an address that fails authentication too often is
// answered 429 with Retry-After, whatever it sends, until the window ends;
// other addresses, and addresses that authenticate, are not limited.
func TestAuthFailureLimit(t *testing.T) {
	t.Parallel()
	const limit = 5
	th := newTestHost(t, func(c *Config) {
		c.AuthFailLimit = limit
		c.AuthFailWindow = time.Hour
		// The test plays several clients through X-Forwarded-For.
		c.TrustProxy = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	p := th.createProject("site")
	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
	bad := func(ip string) (*http.Response, []byte) {
		return th.do("GET", "/__api/projects/"+p.ID, nil, append(from(ip), "Authorization", "Bearer wrong")...)
	}

	// Successes never count.
	for range 3 * limit {
		resp, body := th.do("GET", "/__api/projects/"+p.ID, nil, from("198.51.100.1")...)
		want[api.ProjectResponse](t, resp, body, http.StatusOK)
	}
	for i := range limit {
		resp, body := bad("198.51.100.1")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401; %s", i+1, resp.StatusCode, body)
		}
	}
	check429 := func(resp *http.Response, body []byte) {
		t.Helper()
		wantError(t, resp, body, http.StatusTooManyRequests, api.CodeRateLimited)
		s, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || s < 1 || s > 3600 {
			t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
	}
	check429(bad("198.51.100.1"))
	// Blocked is blocked, even with the right token: otherwise the 429
	// would tell a right guess from a wrong one.
	check429(th.do("GET", "/__api/projects/"+p.ID, nil, from("198.51.100.1")...))
	check429(th.do("POST", "/__api/projects", nil, from("198.51.100.1")...))
	// A project token is refused the same.
	check429(th.do("GET", "/__api/projects/"+p.ID, nil, append(from("198.51.100.1"), "Authorization", "Bearer "+api.ProjectTokenPrefix+"guess")...))

	// Another address is unaffected, as is a neighbour in another IPv6 /64;
	// an IPv6 client is limited by its /64.
	resp, body := bad("198.51.100.2")
	wantError(t, resp, body, http.StatusUnauthorized, api.CodeUnauthorized)
	for i := range limit {
		resp, body := bad(fmt.Sprintf("2001:db8:1:2::%x", i+1))
		wantError(t, resp, body, http.StatusUnauthorized, api.CodeUnauthorized)
	}
	check429(bad("2001:db8:1:2::ffff"))
	resp, body = th.do("GET", "/__api/projects/"+p.ID, nil, from("2001:db8:1:3::1")...)
	want[api.ProjectResponse](t, resp, body, http.StatusOK)

	// The health check needs no token and is never limited.
	resp, body = th.do("GET", "/__api/health", nil, from("198.51.100.1")...)
	want[api.HealthResponse](t, resp, body, http.StatusOK)
}

// TestAuthLimiterWindows drives the limiter's clock by hand.
func TestAuthLimiterWindows(t *testing.T) {
	t.Parallel()
	l := newAuthLimiter(3, time.Minute, 100)
	k := clientKey("192.0.2.1:1234")
	t0 := time.Unix(1_000_000, 0)
	for i := range 3 {
		if _, ok := l.blocked(k, t0); ok {
			t.Fatalf("blocked after %d failures", i)
		}
		l.fail(k, t0.Add(time.Duration(i)*time.Second))
	}
	if wait, ok := l.blocked(k, t0.Add(10*time.Second)); !ok || wait != 50*time.Second {
		t.Fatalf("blocked %v, wait %v; want true, 50s", ok, wait)
	}
	// The window closes a minute after the first failure.
	if _, ok := l.blocked(k, t0.Add(time.Minute)); ok {
		t.Fatal("still blocked after the window")
	}
	l.fail(k, t0.Add(time.Minute))
	if _, ok := l.blocked(k, t0.Add(time.Minute)); ok {
		t.Fatal("a new window starts from zero")
	}
}

// TestAuthLimiterBounded: however many addresses fail, the limiter
// remembers at most its maximum.
func TestAuthLimiterBounded(t *testing.T) {
	t.Parallel()
	l := newAuthLimiter(1, time.Minute, 100)
	t0 := time.Unix(1_000_000, 0)
	for i := range 10_000 {
		l.fail(clientKey(fmt.Sprintf("10.%d.%d.%d:1", i>>16, (i>>8)&0xff, i&0xff)), t0.Add(time.Duration(i)*time.Millisecond))
		if n := l.tracked(); n > 100 {
			t.Fatalf("%d clients tracked after %d failures", n, i+1)
		}
	}
	// The newest are kept.
	if _, ok := l.blocked(clientKey("10.0.39.15:1"), t0.Add(10*time.Second)); !ok {
		t.Fatal("the last client to fail is not blocked")
	}
}

// TestAuthLimiterEvictsFirstToClose: a full table makes room by dropping
// the window that closes first, and a reopened window counts as new.
func TestAuthLimiterEvictsFirstToClose(t *testing.T) {
	t.Parallel()
	l := newAuthLimiter(1, time.Minute, 3)
	t0 := time.Unix(1_000_000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	key := func(c string) netip.Prefix { return clientKey("192.0.2." + c + ":1") }
	l.fail(key("1"), at(0))
	l.fail(key("2"), at(1))
	l.fail(key("3"), at(2))
	l.fail(key("2"), at(62)) // 2's window closed at 61: it reopens, last to close now
	l.fail(key("4"), at(63)) // drops 1, whose window closed first
	l.fail(key("5"), at(64)) // drops 3
	for c, want := range map[string]bool{"1": false, "2": true, "3": false, "4": true, "5": true} {
		if _, got := l.blocked(key(c), at(65)); got != want {
			t.Errorf("client %s blocked %v, want %v", c, got, want)
		}
	}
	if l.tracked() != 3 {
		t.Fatalf("%d tracked, want 3", l.tracked())
	}
}

// TestAuthLimiterMemory: a full table of the default size stays small.
func TestAuthLimiterMemory(t *testing.T) {
	t.Parallel()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := newAuthLimiter(defaultAuthFailLimit, defaultAuthFailWindow, defaultAuthFailClients)
	t0 := time.Unix(1_000_000, 0)
	for i := range 2 * defaultAuthFailClients {
		l.fail(clientKey(fmt.Sprintf("[2001:db8:%x:%x::1]:1", i>>16, i&0xffff)), t0)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d clients tracked in %d KiB", l.tracked(), grew>>10)
	if l.tracked() != defaultAuthFailClients || grew > 8<<20 {
		t.Fatalf("%d clients tracked in %d bytes", l.tracked(), grew)
	}
	runtime.KeepAlive(l)
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	cases := []struct{ addr, want string }{
		{"192.0.2.1:1234", "192.0.2.1/32"},
		{"192.0.2.1", "192.0.2.1/32"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1/32"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:1", "fe80::/64"},
		{"not an address", "invalid Prefix"},
	}
	for _, c := range cases {
		t.Run(c.addr, func(t *testing.T) {
			if got := clientKey(c.addr).String(); got != c.want {
				t.Fatalf("clientKey(%q) = %s, want %s", c.addr, got, c.want)
			}
		})
	}
}

// BenchmarkAuthLimiterFull: a failure from a new client when the table is
// full, the case an attacker with many addresses can repeat.
func BenchmarkAuthLimiterFull(b *testing.B) {
	l := newAuthLimiter(defaultAuthFailLimit, defaultAuthFailWindow, defaultAuthFailClients)
	t0 := time.Unix(1_000_000, 0)
	keys := make([]netip.Prefix, 4*defaultAuthFailClients)
	for i := range keys {
		keys[i] = clientKey(fmt.Sprintf("[2001:db8:%x:%x::1]:1", i>>16, i&0xffff))
	}
	for _, k := range keys[:defaultAuthFailClients] {
		l.fail(k, t0)
	}
	b.ResetTimer()
	for i := range b.N {
		l.fail(keys[i%len(keys)], t0.Add(time.Second))
	}
}
