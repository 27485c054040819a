package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// dashboardAttacker is a project page served by path, so on the
// dashboard's origin, whose script tries to reach the dashboard of a
// signed-in admin: read a page (and its CSRF token) with fetch, look into
// it through a frame, and script a window it opens. Its own page in a
// window it opens is the control: that one it can read.
const dashboardAttacker = `<!doctype html><html><head><meta charset="utf-8"></head><body>
<p>attacker</p>
<script>
function later(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
async function readWindow(url) {
  var w = window.open(url, '_blank');
  if (!w) return 'blocked';
  for (var i = 0; i < 50; i++) {
    await later(100);
    try {
      if (w.closed) return 'closed';
      if (w.document && w.document.readyState === 'complete' && w.location.href !== 'about:blank') {
        var t = w.document.documentElement.outerHTML;
        w.close();
        return /<p>attacker<\/p>/.test(t) ? 'read own page' : (/name="csrf"/.test(t) ? 'read csrf' : 'read other');
      }
    } catch (e) { return 'unreadable ' + e.name; }
  }
  return 'unreadable timeout';
}
function frameText(src) {
  return new Promise(function (resolve) {
    var f = document.createElement('iframe');
    f.onload = function () {
      try { resolve(/name="csrf"/.test(f.contentDocument.documentElement.outerHTML) ? 'read csrf' : 'no csrf'); }
      catch (e) { resolve('unreadable ' + e.name); }
    };
    f.src = src;
    document.body.appendChild(f);
    setTimeout(function () { resolve('no load'); }, 5000);
  });
}
(async function () {
  var b = document.body.dataset;
  try {
    var r = await fetch('/__dashboard/', {credentials: 'include'});
    var t = await r.text();
    b.fetch = r.status + (/name="csrf"/.test(t) ? ' csrf' : '');
  } catch (e) { b.fetch = 'error ' + e.name; }
  try {
    var r2 = await fetch(location.pathname, {credentials: 'include'});
    b.fetchOwn = String(r2.status);
  } catch (e) { b.fetchOwn = 'error ' + e.name; }
  b.frame = await frameText('/__dashboard/');
  b.windowOwn = await readWindow(location.pathname + '?control');
  b.window = await readWindow('/__dashboard/');
  b.done = '1';
})();
</script></body></html>`

// TestHostileDashboardPathMode signs an admin in to the dashboard in
// Chromium, then opens a path-mode project's page on the same origin
// whose script attacks the dashboard. Its fetch gets a 403 without the
// page, its frame stays empty, and the dashboard window it opens is cut
// off from it, although the project's _headers send the dashboard's own
// Cross-Origin-Opener-Policy (cfhost drops it in path mode); the same
// tricks on its own pages work, so each refusal is the dashboard's.
func TestHostileDashboardPathMode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real browser")
	}
	chromium := chromiumPath(t)
	srv := startServer(t, "", "--log-level", "warn")
	c := srv.client(t, client.Options{})
	id := createProject(t, c, "attacker")
	dir := filepath.Join(t.TempDir(), "attacker")
	site{"index.html": []byte(dashboardAttacker)}.write(t, dir)
	cfg := &api.AssetConfig{Headers: "/*\n  Cross-Origin-Opener-Policy: same-origin\n"}
	if _, err := c.Deploy(context.Background(), client.DeployOptions{ProjectID: id, Dir: dir, Config: cfg, Ignorer: manifest.NewIgnorer(nil)}); err != nil {
		t.Fatal(err)
	}
	port := srv.addr[strings.LastIndexByte(srv.addr, ':')+1:]
	origin := "http://localhost:" + port

	b := startCDP(t, chromium)
	b.navigate(origin + "/__dashboard/sign-in")
	b.eval(fmt.Sprintf(`window.__old = true; document.getElementById('token').value = %q; document.querySelector('form[action$="sign-in"]').requestSubmit(); true`, srv.token))
	b.waitFor("the projects list", `!window.__old && document.readyState === 'complete' && location.pathname === '/__dashboard/' && !!document.querySelector('table.list')`)

	b.navigate(origin + "/__project/" + id + "/")
	b.waitFor("the attack to finish", `document.body.dataset.done === '1'`)
	got := func(name string) string { return b.text("document.body.dataset." + name) }
	for _, c := range []struct{ name, want string }{
		{"fetchOwn", "200"},
		{"fetch", "403"},
		{"windowOwn", "read own page"},
	} {
		if g := got(c.name); g != c.want {
			t.Errorf("%s: %q, want %q", c.name, g, c.want)
		}
	}
	if g := got("frame"); strings.Contains(g, "csrf") && !strings.Contains(g, "no csrf") {
		t.Errorf("the attacker read the dashboard through a frame: %q", g)
	}
	if g := got("window"); strings.HasPrefix(g, "read") {
		t.Errorf("the attacker scripted a dashboard window it opened: %q", g)
	}
	t.Logf("attack results: fetch %q, frame %q, window %q (controls: fetch %q, window %q)",
		got("fetch"), got("frame"), got("window"), got("fetchOwn"), got("windowOwn"))
}
