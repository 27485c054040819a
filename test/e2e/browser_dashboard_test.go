package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// TestBrowserDashboard uses the dashboard in headless Chromium as a person
// would: signs in with the admin token through the form, opens the project
// from the list, sees its two deployments, opens the older one's preview
// URL, rolls back to it through the confirmation, and sees the live
// deployment change (on the page, in the API and on the live site).
// Screenshots of the pages at 1280 and 390 pixels wide (and one dark) go to
// $CFHOST_E2E_ARTIFACTS when set, else the test's temp dir.
func TestBrowserDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real browser")
	}
	chromium := chromiumPath(t)
	srv := startServer(t, "", "--log-level", "warn")
	c := srv.client(t, client.Options{})
	ctx := context.Background()
	id := createProject(t, c, "marketing-site")
	projects := map[string]string{"docs": createProject(t, c, "docs")}
	deploy := func(body, branch string) api.Deployment {
		t.Helper()
		dir := t.TempDir()
		st := site{
			"index.html":       []byte("<!doctype html><title>Marketing</title><h1>" + body + "</h1>"),
			"about/index.html": []byte("<h1>About</h1>"),
			"styles/site.css":  []byte("h1 { color: #f38020 }"),
			"logo.svg":         []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`),
		}
		st.write(t, dir)
		cfg := &api.AssetConfig{
			Redirects: "/old /about/ 301\n/blog/* https://blog.example.com/:splat 302\n/broken\n",
			Headers:   "/*\n  X-Frame-Options: DENY\n  Referrer-Policy: no-referrer\n/styles/*\n  Cache-Control: public, max-age=86400\n",
		}
		res, err := c.Deploy(ctx, client.DeployOptions{ProjectID: id, Dir: dir, Config: cfg, Branch: branch, Ignorer: manifest.NewIgnorer(nil)})
		if err != nil {
			t.Fatal(err)
		}
		return res.Deployment
	}
	first := deploy("Version one", "")
	second := deploy("Version two", "main")

	port := srv.addr[strings.LastIndexByte(srv.addr, ':')+1:]
	origin := "http://localhost:" + port
	dir := os.Getenv("CFHOST_E2E_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shots := 0
	shoot := func(b *cdpBrowser, name string, width int, dark bool) {
		t.Helper()
		p := filepath.Join(dir, fmt.Sprintf("dashboard-%s-%d.png", name, width))
		if dark {
			p = strings.TrimSuffix(p, ".png") + "-dark.png"
		}
		b.screenshot(width, dark, p)
		shots++
		t.Logf("screenshot %s", p)
	}

	b := startCDP(t, chromium)
	b.navigate(origin + "/__dashboard/")
	if !strings.HasPrefix(b.text("location.pathname"), "/__dashboard/sign-in") {
		t.Fatalf("signed out, the dashboard did not ask to sign in: %s", b.text("location.href"))
	}
	shoot(b, "sign-in", 390, false)
	// A wrong token first: the form says so.
	b.eval(`document.getElementById('token').value = 'not-the-token'; document.querySelector('form[action$="sign-in"]').requestSubmit(); true`)
	b.waitFor("the refusal", `document.readyState === 'complete' && !!document.querySelector('.alert')`)
	b.eval(fmt.Sprintf(`window.__old = true; document.getElementById('token').value = %q; document.querySelector('form[action$="sign-in"]').requestSubmit(); true`, srv.token))
	b.waitFor("the projects list", `!window.__old && document.readyState === 'complete' && location.pathname === '/__dashboard/'`)
	if n := b.eval(`document.querySelectorAll('table.list tbody tr').length`); n != float64(2) {
		t.Fatalf("the projects list shows %v projects, want 2:\n%s", n, b.text("document.body.innerText"))
	}
	shoot(b, "projects", 1280, false)
	shoot(b, "projects", 390, false)

	b.clickAndWait(fmt.Sprintf(`a[href="/__dashboard/projects/%s"]`, id), fmt.Sprintf("p === '/__dashboard/projects/%s'", id))
	if n := b.eval(`document.querySelectorAll('tr[data-deployment]').length`); n != float64(2) {
		t.Fatalf("the project page shows %v deployments, want 2:\n%s", n, b.text("document.body.innerText"))
	}
	if got := b.text(`document.getElementById('live-deployment').textContent`); got != second.ShortID {
		t.Fatalf("live deployment on the page is %q, want %s", got, second.ShortID)
	}
	// Script adds a copy button to every URL; the exact time is on hover.
	if n := b.eval(`document.querySelectorAll('tr[data-deployment] button.copy:not([hidden])').length`); n.(float64) < 2 {
		t.Errorf("%v visible copy buttons in the deployments table, want one per URL", n)
	}
	if title := b.text(`document.querySelector('tr[data-deployment] time').title`); !strings.HasSuffix(title, " UTC") {
		t.Errorf("a relative time's hover text is %q, want the exact time", title)
	}
	shoot(b, "project", 1280, false)
	shoot(b, "project", 390, false)
	shoot(b, "project", 1280, true)
	shoot(b, "project", 390, true)

	// The older deployment's preview URL serves it, whatever is live.
	previewURL := b.text(fmt.Sprintf(`document.querySelector('tr[data-deployment=%q] a.preview-url').href`, first.ShortID))
	if previewURL != first.URL {
		t.Errorf("preview URL on the page %q, the API says %q", previewURL, first.URL)
	}
	projectPage := b.text("location.href")
	b.navigate(previewURL)
	if got := b.text(`document.querySelector('h1').textContent`); got != "Version one" {
		t.Fatalf("the preview URL %s shows %q, want the first deployment", previewURL, got)
	}
	b.navigate(projectPage)

	// Roll back, through the confirmation page.
	b.clickAndWait(fmt.Sprintf(`tr[data-deployment=%q] a.make-live`, first.ShortID), "p.includes('/live?deployment=')")
	if h := b.text(`document.querySelector('h1').textContent`); !strings.Contains(h, "Roll back") {
		t.Fatalf("the confirmation page says %q", h)
	}
	shoot(b, "confirm", 390, false)
	b.clickAndWait("#confirm", fmt.Sprintf("p.startsWith('/__dashboard/projects/%s?done=')", id))
	if got := b.text(`document.getElementById('live-deployment').textContent`); got != first.ShortID {
		t.Fatalf("after the rollback the page's live deployment is %q, want %s:\n%s", got, first.ShortID, b.text("document.body.innerText"))
	}
	if flash := b.text(`document.querySelector('.flash').textContent`); !strings.Contains(flash, first.ShortID) {
		t.Errorf("no confirmation of the rollback: %q", flash)
	}
	p, err := c.GetProject(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if p.ActiveDeploymentID == nil || *p.ActiveDeploymentID != first.ID {
		t.Fatalf("the API's live deployment is %v after the rollback, want %s", p.ActiveDeploymentID, first.ID)
	}
	resp, body, err := fetch(ctx, plainHTTP(), srv.url("/"), map[string]string{"Host": id + ".localhost:" + port})
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Version one") {
		t.Fatalf("the live site after the rollback: %v %v %q", err, resp, body)
	}
	shoot(b, "project-after-rollback", 1280, false)

	// The deployment page: files and rules with the skipped line's warning.
	b.clickAndWait("#live-deployment", "p.includes('/deployments/')")
	page := b.text("document.body.innerText")
	for _, want := range []string{"/about/index.html", "text/css", "/blog/*", "cache-control", "_redirects:3"} {
		if !strings.Contains(page, want) {
			t.Errorf("the deployment page does not show %q:\n%s", want, page)
		}
	}
	shoot(b, "deployment", 1280, false)
	shoot(b, "deployment", 390, false)
	// An admin makes a project token: its value is shown once.
	b.navigate(projectPage)
	b.eval(`window.__old = true; document.querySelector('input[name=name]').value = 'ci'; document.querySelector('form[action$="/tokens"]').requestSubmit(); true`)
	b.waitFor("the new token", `!window.__old && document.readyState === 'complete' && !!document.querySelector('.secret code')`)
	if v := b.text(`document.querySelector('.secret code').textContent`); !strings.HasPrefix(v, "cfp_") {
		t.Errorf("the new token's page shows %q", v)
	}
	shoot(b, "token", 390, false)

	// The other project runs JavaScript that logs; its logs page follows
	// the log as requests come in.
	docs := projects["docs"]
	worker := "export default { async fetch(request) { const p = new URL(request.url).pathname; console.log('served', p); if (p === '/oops') console.error('something is off at', p); return new Response('ok ' + p); } };"
	docsDir := t.TempDir()
	site{"robots.txt": []byte("User-agent: *\n")}.write(t, docsDir)
	if _, err := c.Deploy(ctx, client.DeployOptions{ProjectID: docs, Dir: docsDir, Ignorer: manifest.NewIgnorer(nil),
		ServerCode: &api.ServerCode{Entrypoint: "index.js", Modules: map[string]api.Module{"index.js": {Content: base64.StdEncoding.EncodeToString([]byte(worker))}}}}); err != nil {
		t.Fatal(err)
	}
	hit := func(path string) {
		t.Helper()
		resp, body, err := fetch(ctx, plainHTTP(), srv.url(path), map[string]string{"Host": docs + ".localhost:" + port})
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s of the JS project: %v %v %q", path, err, resp, body)
		}
	}
	hit("/")
	hit("/oops")
	b.eval("window.__old = true")
	b.call("Page.navigate", map[string]any{"url": origin + "/__dashboard/projects/" + docs + "/logs?follow=1"}, nil)
	b.waitFor("the logged lines", `!window.__old && document.querySelectorAll('#log .log-line').length >= 3`)
	hit("/after-the-page-opened")
	b.waitFor("a line logged after the page opened", `[...document.querySelectorAll('#log .log-msg')].some(e => e.textContent.includes('/after-the-page-opened'))`)
	shoot(b, "logs", 1280, false)
	shoot(b, "logs", 390, false)
	t.Logf("%d screenshots in %s", shots, dir)
}
