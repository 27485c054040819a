package host

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// browser is a client of one test host's dashboard that keeps its session
// cookie by hand and never follows redirects, so each answer is seen.
type browser struct {
	th     *testHost
	host   string
	cookie *http.Cookie
}

func (th *testHost) browser() *browser { return &browser{th: th, host: "localhost"} }

// send makes one request; form, when not nil, is posted. header adds
// name/value pairs.
func (b *browser) send(method, path string, form url.Values, header ...string) (*http.Response, string) {
	b.th.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.th.srv.URL+path, body)
	if err != nil {
		b.th.t.Fatal(err)
	}
	req.Host = b.host
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := *b.th.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		b.th.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.Name == "cfhost_dashboard" {
			if ck.MaxAge < 0 {
				b.cookie = nil
			} else {
				b.cookie = ck
			}
		}
	}
	return resp, string(out)
}

// signIn signs in with token and checks that it worked.
func (b *browser) signIn(token string) {
	b.th.t.Helper()
	resp, body := b.send("POST", "/__dashboard/sign-in", url.Values{"token": {token}})
	if resp.StatusCode != http.StatusSeeOther || b.cookie == nil {
		b.th.t.Fatalf("sign-in: %s, cookie %v\n%s", resp.Status, b.cookie, body)
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token from a signed-in page.
func (b *browser) csrf() string {
	b.th.t.Helper()
	_, body := b.send("GET", "/__dashboard/sign-in?next=/__dashboard/", nil)
	_, body = b.send("GET", "/__dashboard/", nil)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		b.th.t.Fatalf("no CSRF token on the page:\n%s", body)
	}
	return m[1]
}

func wantStatus(t *testing.T, what string, resp *http.Response, body string, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: %s, want %d\n%.2000s", what, resp.Status, status, body)
	}
}

// TestDashboardProjectTokenSeesOnlyItsProject signs in with a project
// token: its own project's page works, another project's pages, the list
// of all projects and a change to another project are refused, and the
// admin-only tokens section is not shown.
func TestDashboardProjectTokenSeesOnlyItsProject(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	a, b := th.createProject("alpha"), th.createProject("bravo")
	th.deploy(a.ID, siteFiles{"/index.html": "a1"})
	bOld := th.deploy(b.ID, siteFiles{"/index.html": "b1"}).Deployment.ID
	th.deploy(b.ID, siteFiles{"/index.html": "b2"})
	tok := th.createToken(a.ID, "ci")

	br := th.browser()
	br.signIn(tok.Value)
	resp, _ := br.send("GET", "/__dashboard/", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/__dashboard/projects/"+a.ID {
		t.Fatalf("projects list for a project token: %s to %q, want its own project", resp.Status, resp.Header.Get("Location"))
	}
	resp, body := br.send("GET", "/__dashboard/projects/"+a.ID, nil)
	wantStatus(t, "own project", resp, body, http.StatusOK)
	if !strings.Contains(body, "alpha") || strings.Contains(body, "Project tokens") {
		t.Errorf("own project page: name missing or admin-only tokens shown:\n%s", body)
	}
	csrf := csrfRE.FindStringSubmatch(body)[1]
	for _, path := range []string{
		"/__dashboard/projects/" + b.ID,
		"/__dashboard/projects/" + b.ID + "/deployments/" + bOld,
		"/__dashboard/projects/" + b.ID + "/live?deployment=" + bOld,
		"/__dashboard/projects/" + b.ID + "/logs",
	} {
		resp, body := br.send("GET", path, nil)
		wantStatus(t, path, resp, body, http.StatusForbidden)
		if strings.Contains(body, "bravo") {
			t.Errorf("%s shows the other project's name:\n%s", path, body)
		}
	}
	resp, body = br.send("POST", "/__dashboard/projects/"+b.ID+"/live", url.Values{"csrf": {csrf}, "deployment": {bOld}})
	wantStatus(t, "roll back another project", resp, body, http.StatusForbidden)
	if got := th.activeDeployment(b.ID); got == bOld {
		t.Fatal("a project token rolled back another project")
	}
	resp, body = br.send("POST", "/__dashboard/projects/"+a.ID+"/tokens", url.Values{"csrf": {csrf}, "name": {"more"}})
	wantStatus(t, "create a token", resp, body, http.StatusForbidden)
}

// TestDashboardCSRF posts a rollback without the form's token, with a
// forged one and from another site: each is refused and the live
// deployment stays; the real form works.
func TestDashboardCSRF(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("site")
	old := th.deploy(p.ID, siteFiles{"/index.html": "v1"}).Deployment.ID
	cur := th.deploy(p.ID, siteFiles{"/index.html": "v2"}).Deployment.ID
	br := th.browser()
	br.signIn(testToken)
	csrf := br.csrf()
	other := th.browser()
	other.signIn(testToken)
	live := "/__dashboard/projects/" + p.ID + "/live"
	for _, c := range []struct {
		name   string
		form   url.Values
		header []string
	}{
		{"missing", url.Values{"deployment": {old}}, nil},
		{"forged", url.Values{"deployment": {old}, "csrf": {"AAAA" + csrf[4:]}}, nil},
		{"another session's", url.Values{"deployment": {old}, "csrf": {other.csrf()}}, nil},
		{"from another site", url.Values{"deployment": {old}, "csrf": {csrf}}, []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document"}},
		{"another origin", url.Values{"deployment": {old}, "csrf": {csrf}}, []string{"Origin", "http://evil.example"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := br.send("POST", live, c.form, c.header...)
			wantStatus(t, "rollback", resp, body, http.StatusForbidden)
			if got := th.activeDeployment(p.ID); got != cur {
				t.Fatalf("live deployment changed to %s", got)
			}
		})
	}
	resp, body := br.send("POST", live, url.Values{"deployment": {old}, "csrf": {csrf}}, "Origin", "http://localhost")
	wantStatus(t, "rollback with the form's token", resp, body, http.StatusSeeOther)
	if got := th.activeDeployment(p.ID); got != old {
		t.Fatalf("live deployment is %s after the rollback, want %s", got, old)
	}
	// Sign-out is a form too.
	resp, body = other.send("POST", "/__dashboard/sign-out", url.Values{})
	wantStatus(t, "sign-out without a token", resp, body, http.StatusForbidden)
}

// TestDashboardCookieOfAnotherHost presents a session cookie made by a
// host with another secret (and the same admin token), and a tampered
// one: both are sent to the sign-in page.
func TestDashboardCookieOfAnotherHost(t *testing.T) {
	t.Parallel()
	one := newTestHost(t, func(c *Config) { c.JWTSecret = "secret-one" })
	two := newTestHost(t, func(c *Config) { c.JWTSecret = "secret-two" })
	br := one.browser()
	br.signIn(testToken)
	resp, body := br.send("GET", "/__dashboard/", nil)
	wantStatus(t, "own host", resp, body, http.StatusOK)

	stolen := *br.cookie
	elsewhere := two.browser()
	elsewhere.cookie = &stolen
	resp, body = elsewhere.send("GET", "/__dashboard/", nil)
	wantStatus(t, "another host's cookie", resp, body, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/__dashboard/sign-in") {
		t.Fatalf("another host's cookie sent to %q", loc)
	}
	v := []byte(stolen.Value)
	v[len(v)/2] ^= 1
	br.cookie.Value = string(v)
	resp, body = br.send("GET", "/__dashboard/", nil)
	wantStatus(t, "tampered cookie", resp, body, http.StatusSeeOther)
}

// TestDashboardHeaders checks that every kind of dashboard answer carries
// the CSP and the framing and sniffing headers: pages, redirects, errors,
// static files, refusals.
func TestDashboardHeaders(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("site")
	d := th.deploy(p.ID, siteFiles{"/index.html": "v1"}).Deployment.ID
	anon, br := th.browser(), th.browser()
	br.signIn(testToken)
	check := func(what string, resp *http.Response) {
		t.Helper()
		h := resp.Header
		if got := h.Get("Content-Security-Policy"); !strings.Contains(got, "default-src 'self'") || strings.Contains(got, "unsafe-inline") {
			t.Errorf("%s (%s): CSP %q", what, resp.Status, got)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s (%s): X-Frame-Options %q, X-Content-Type-Options %q", what, resp.Status, h.Get("X-Frame-Options"), h.Get("X-Content-Type-Options"))
		}
	}
	for _, path := range []string{"/__dashboard", "/__dashboard/", "/__dashboard/sign-in", "/__dashboard/static/app.css",
		"/__dashboard/static/app.js", "/__dashboard/static/nope", "/__dashboard/nope", "/__dashboard/projects/" + p.ID} {
		resp, _ := anon.send("GET", path, nil)
		check("anonymous GET "+path, resp)
	}
	for _, path := range []string{"/__dashboard/", "/__dashboard/projects/" + p.ID, "/__dashboard/projects/" + p.ID + "/deployments/" + d,
		"/__dashboard/projects/" + p.ID + "/live?deployment=" + d, "/__dashboard/projects/" + p.ID + "/logs",
		"/__dashboard/projects/nope", "/__dashboard/projects/" + p.ID + "/deployments/nope"} {
		resp, _ := br.send("GET", path, nil)
		check("GET "+path, resp)
	}
	resp, _ := br.send("GET", "/__dashboard/", nil, "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "cors", "Sec-Fetch-Dest", "empty")
	check("a script's fetch", resp)
	resp, _ = br.send("POST", "/__dashboard/projects/"+p.ID+"/live", url.Values{"deployment": {d}})
	check("POST without CSRF", resp)
	resp, _ = anon.send("POST", "/__dashboard/sign-in", url.Values{"token": {"wrong"}})
	check("failed sign-in", resp)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("failed sign-in: %s, want 401", resp.Status)
	}
}

// TestDashboardRefusesScripts asks for a page as a project's script in
// path mode would (same origin, with the user's cookie): refused, so a
// project cannot read the CSRF token or the page.
func TestDashboardRefusesScripts(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("site")
	br := th.browser()
	br.signIn(testToken)
	for _, mode := range []string{"cors", "no-cors", "same-origin"} {
		resp, body := br.send("GET", "/__dashboard/projects/"+p.ID, nil, "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", mode, "Sec-Fetch-Dest", "empty")
		wantStatus(t, "fetch mode "+mode, resp, body, http.StatusForbidden)
		if csrfRE.MatchString(body) {
			t.Fatalf("a script's request got a CSRF token:\n%s", body)
		}
	}
	resp, body := br.send("GET", "/__dashboard/projects/"+p.ID, nil, "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "iframe")
	wantStatus(t, "in a frame", resp, body, http.StatusForbidden)
	resp, body = br.send("GET", "/__dashboard/projects/"+p.ID, nil, "Sec-Fetch-Site", "none", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document")
	wantStatus(t, "a typed address", resp, body, http.StatusOK)
}

// TestDashboardSignInLimit fails sign-ins until the API's limit: then the
// right token is refused too, on the dashboard and on the API, from that
// address.
func TestDashboardSignInLimit(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.AuthFailLimit = 3 })
	br := th.browser()
	for i := range 3 {
		resp, body := br.send("POST", "/__dashboard/sign-in", url.Values{"token": {"guess"}})
		wantStatus(t, "wrong token", resp, body, http.StatusUnauthorized)
		if i == 0 && !strings.Contains(body, "not valid") {
			t.Errorf("a wrong token's page does not say so:\n%s", body)
		}
	}
	resp, body := br.send("POST", "/__dashboard/sign-in", url.Values{"token": {testToken}})
	wantStatus(t, "right token after the limit", resp, body, http.StatusTooManyRequests)
	if br.cookie != nil || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("signed in past the limit, or no Retry-After: %v", resp.Header)
	}
	r2, b2 := th.do("GET", "/__api/projects", nil)
	wantError(t, r2, b2, http.StatusTooManyRequests, api.CodeRateLimited)
}

// TestDashboardNotAProjectPath deploys a project with its own
// /__dashboard/ page: on the host's own name the dashboard answers (the
// default project cannot shadow it), on the project's subdomain and its
// custom domain the project's page does.
func TestDashboardNotAProjectPath(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("shadow")
	th.deploy(p.ID, siteFiles{"/__dashboard/index.html": "project page", "/index.html": "home"})
	th.h.SetDefaultProject(p.ID)
	resp, body := th.do("POST", "/__api/projects/"+p.ID+"/domains", api.AddDomainRequest{Hostname: "www.shadow.test"})
	want[api.DomainResponse](t, resp, body, http.StatusOK)
	for _, c := range []struct {
		host    string
		project bool
	}{
		{"localhost", false},
		{"127.0.0.1", false},
		{p.ID + ".localhost", true},
		{"www.shadow.test", true},
	} {
		resp, body := th.fetch(c.host, "/__dashboard/")
		isDash := resp.Header.Get("Content-Security-Policy") != "" && strings.Contains(resp.Header.Get("Location")+body, "sign-in")
		if c.project && (isDash || !strings.Contains(body, "project page")) {
			t.Errorf("%s: the dashboard answered on a project's name: %s %q", c.host, resp.Status, body)
		}
		if !c.project && !isDash {
			t.Errorf("%s: the project shadowed the dashboard: %s %q", c.host, resp.Status, body)
		}
	}
}

// TestDashboardRevokedTokenSignsOut revokes the token a session holds:
// the next page sends the user to sign in again.
func TestDashboardRevokedTokenSignsOut(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("site")
	tok := th.createToken(p.ID, "ci")
	br := th.browser()
	br.signIn(tok.Value)
	resp, body := br.send("GET", "/__dashboard/projects/"+p.ID, nil)
	wantStatus(t, "before revocation", resp, body, http.StatusOK)
	r2, b2 := th.do("DELETE", "/__api/projects/"+p.ID+"/tokens/"+tok.Token.ID, nil)
	want[api.RevokeTokenResponse](t, r2, b2, http.StatusOK)
	resp, body = br.send("GET", "/__dashboard/projects/"+p.ID, nil)
	wantStatus(t, "after revocation", resp, body, http.StatusSeeOther)
	if br.cookie != nil {
		t.Fatal("the session cookie was kept after its token was revoked")
	}
}

// TestDashboardPathModeOpenerPolicy: a project served by path shares the
// dashboard's origin; were its page to send the dashboard's
// Cross-Origin-Opener-Policy, a dashboard window it opened would stay in
// its browsing context group and its script could read and drive it. Path
// mode drops the header; a project's own subdomain keeps it.
func TestDashboardPathModeOpenerPolicy(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("opener")
	th.deploy(p.ID, siteFiles{"/index.html": "<h1>hi</h1>"}, func(r *api.DeployRequest) {
		r.Config = &api.AssetConfig{Headers: "/*\n  Cross-Origin-Opener-Policy: same-origin\n"}
	})
	resp, _ := th.fetch("localhost", "/__project/"+p.ID+"/")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cross-Origin-Opener-Policy") != "" {
		t.Errorf("path mode: %s, Cross-Origin-Opener-Policy %q, want none", resp.Status, resp.Header.Get("Cross-Origin-Opener-Policy"))
	}
	resp, _ = th.fetch(p.ID+".localhost", "/")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cross-Origin-Opener-Policy") != "same-origin" {
		t.Errorf("subdomain: %s, Cross-Origin-Opener-Policy %q, want the project's", resp.Status, resp.Header.Get("Cross-Origin-Opener-Policy"))
	}
}

// TestDashboardProjectsPagesAndSearch lists 105 projects: 100 on the first
// page with a link to the rest; a search finds names across pages.
func TestDashboardProjectsPagesAndSearch(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	for i := range 105 {
		name := "site-" + strings.Repeat("x", i%3)
		if i == 104 {
			name = "needle-last"
		}
		th.createProject(name)
	}
	br := th.browser()
	br.signIn(testToken)
	rows := regexp.MustCompile(`<tr>\s*<td data-label="Project">`)
	next := regexp.MustCompile(`href="(/__dashboard/\?cursor=[^"]+)"`)
	resp, body := br.send("GET", "/__dashboard/", nil)
	wantStatus(t, "first page", resp, body, http.StatusOK)
	if n := len(rows.FindAllString(body, -1)); n != 100 {
		t.Fatalf("first page has %d projects, want 100", n)
	}
	m := next.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no link to the next page")
	}
	resp, body = br.send("GET", strings.ReplaceAll(m[1], "&amp;", "&"), nil)
	wantStatus(t, "second page", resp, body, http.StatusOK)
	if n := len(rows.FindAllString(body, -1)); n != 5 || next.MatchString(body) {
		t.Fatalf("second page has %d projects (want 5) or a next link", n)
	}
	resp, body = br.send("GET", "/__dashboard/?q=NEEDLE", nil)
	wantStatus(t, "search", resp, body, http.StatusOK)
	if n := len(rows.FindAllString(body, -1)); n != 1 || !strings.Contains(body, "needle-last") {
		t.Fatalf("search for NEEDLE found %d projects:\n%s", n, body)
	}
	resp, body = br.send("GET", "/__dashboard/?q=nothing-like-it", nil)
	wantStatus(t, "search without a match", resp, body, http.StatusOK)
	if !strings.Contains(body, "No project matches") {
		t.Fatalf("no empty state for a search without a match:\n%s", body)
	}
}

// TestDashboardCookieAttributes: the session cookie is HttpOnly,
// SameSite=Strict and scoped to /__dashboard/, and Secure when the sign-in
// came over TLS.
func TestDashboardCookieAttributes(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	tlsSrv := httptest.NewTLSServer(th.h)
	t.Cleanup(tlsSrv.Close)
	for _, c := range []struct {
		name   string
		srv    *httptest.Server
		secure bool
	}{
		{"plain HTTP", th.srv, false},
		{"TLS", tlsSrv, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", c.srv.URL+"/__dashboard/sign-in", strings.NewReader(url.Values{"token": {testToken}}.Encode()))
			req.Host = "localhost"
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			cl := *c.srv.Client()
			cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var ck *http.Cookie
			for _, k := range resp.Cookies() {
				if k.Name == "cfhost_dashboard" {
					ck = k
				}
			}
			if ck == nil {
				t.Fatalf("%s: no session cookie", resp.Status)
			}
			if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/__dashboard/" || ck.Secure != c.secure || ck.Domain != "" {
				t.Errorf("cookie %s: HttpOnly %v SameSite %v Path %q Secure %v (want %v) Domain %q", ck.Name, ck.HttpOnly, ck.SameSite, ck.Path, ck.Secure, c.secure, ck.Domain)
			}
		})
	}
}

// TestDashboardPromotesPreview: a preview's button is Promote, its
// confirmation says so, and the form makes it live through the API's
// promote.
func TestDashboardPromotesPreview(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("site")
	th.deploy(p.ID, siteFiles{"/index.html": "v1"})
	pre := th.deploy(p.ID, siteFiles{"/index.html": "v2"}, preview("feature/x")).Deployment
	br := th.browser()
	br.signIn(testToken)
	resp, body := br.send("GET", "/__dashboard/projects/"+p.ID, nil)
	wantStatus(t, "project", resp, body, http.StatusOK)
	if !strings.Contains(body, ">Promote</a>") || !strings.Contains(body, "feature/x") || !strings.Contains(body, "http://"+pre.ShortID+"--"+p.ID+".localhost/") {
		t.Fatalf("the project page lacks the preview's Promote button, branch or URL:\n%s", body)
	}
	resp, body = br.send("GET", "/__dashboard/projects/"+p.ID+"/live?deployment="+pre.ID, nil)
	wantStatus(t, "confirmation", resp, body, http.StatusOK)
	if !strings.Contains(body, "Promote to "+pre.ShortID+"?") {
		t.Fatalf("the confirmation does not ask to promote:\n%s", body)
	}
	csrf := csrfRE.FindStringSubmatch(body)[1]
	resp, body = br.send("POST", "/__dashboard/projects/"+p.ID+"/live", url.Values{"csrf": {csrf}, "deployment": {pre.ID}})
	wantStatus(t, "promote", resp, body, http.StatusSeeOther)
	if got := th.activeDeployment(p.ID); got != pre.ID {
		t.Fatalf("live deployment %s after promote, want %s", got, pre.ID)
	}
	if got := th.fetchBody(p.ID+".localhost", "/"); got != "v2" {
		t.Fatalf("the live site serves %q after promote", got)
	}
}
