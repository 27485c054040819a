package e2e

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// deploySite deploys st as project id's assets with the given _headers.
func deploySite(t *testing.T, c *client.Client, id string, st site, headers string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), id)
	st.write(t, dir)
	cfg := &api.AssetConfig{Headers: headers}
	if _, err := c.Deploy(context.Background(), client.DeployOptions{ProjectID: id, Dir: dir, Config: cfg, Ignorer: manifest.NewIgnorer(nil)}); err != nil {
		t.Fatal(err)
	}
}

// dataAttr reads data-<name>="..." from a dumped DOM.
func dataAttr(dom, name string) string {
	m := regexp.MustCompile(`data-` + name + `="([^"]*)"`).FindStringSubmatch(dom)
	if m == nil {
		return ""
	}
	return m[1]
}

// swAttacker is a page that tries to put a service worker over the whole
// path-mode origin, then looks through iframes at what answers its own
// pages and the victim's.
const swAttacker = `<!doctype html><html><head><meta charset="utf-8"></head><body>
<p>attacker</p>
<script>
// Headless Chromium dumps the DOM once the page has loaded and its virtual
// time budget is spent, and service-worker work does not hold either: a
// chain of image loads keeps the load event pending until the checks end.
var finished = false, held = 0;
function hold() {
  if (finished) return;
  var i = new Image();
  i.onload = i.onerror = hold;
  i.src = 'px.gif?' + (held++);
}
hold();
function activated(reg) {
  return new Promise(function (resolve) {
    var w = reg.installing || reg.waiting || reg.active;
    if (w.state === 'activated') return resolve();
    w.addEventListener('statechange', function () { if (w.state === 'activated') resolve(); });
  });
}
function frameText(src) {
  return new Promise(function (resolve) {
    var f = document.createElement('iframe');
    f.onload = function () {
      try { resolve(f.contentDocument.body.textContent.trim()); } catch (e) { resolve('unreadable: ' + e.name); }
    };
    f.src = src;
    document.body.appendChild(f);
  });
}
(async function () {
  var b = document.body.dataset;
  try {
    await activated(await navigator.serviceWorker.register('sw.js', {scope: '/'}));
    b.wide = 'registered';
  } catch (e) {
    b.wide = 'refused ' + e.name;
  }
  try {
    await activated(await navigator.serviceWorker.register('sw.js'));
    b.own = 'registered';
  } catch (e) {
    b.own = 'refused ' + e.name;
  }
  b.ownframe = await frameText('probe');
  b.victimframe = await frameText('VICTIM');
  b.done = 'yes';
  finished = true;
})();
</script></body></html>`

// swScript answers every page navigation it controls with its own text.
const swScript = `self.addEventListener('install', function () { self.skipWaiting(); });
self.addEventListener('activate', function (e) { e.waitUntil(self.clients.claim()); });
self.addEventListener('fetch', function (e) {
  if (e.request.mode === 'navigate') {
    e.respondWith(new Response('<body>answered by the attacker service worker</body>', {headers: {'Content-Type': 'text/html'}}));
  }
});
`

// cookieVictim sets a cookie of its own, embeds a page of another project
// on the same base domain (as a visit to it would), then shows the cookies
// its own origin holds.
const cookieVictim = `<!doctype html><html><head><meta charset="utf-8"></head><body>
<p>victim</p>
<script>
document.cookie = 'mine=1; path=/';
var f = document.createElement('iframe');
f.onload = function () {
  document.body.dataset.cookies = document.cookie || 'none';
  document.body.dataset.done = 'yes';
};
f.src = 'ATTACKER';
document.body.appendChild(f);
</script></body></html>`

// cookieAttacker shows the cookies its own origin holds after its
// response set one for the whole base domain.
const cookieAttacker = `<!doctype html><html><head><meta charset="utf-8"></head><body>
<script>document.body.dataset.cookies = document.cookie || 'none';</script>
</body></html>`

// TestBrowserIsolation shows in headless Chromium that one project cannot
// act on another's browser state. In path mode, where every project shares
// the host's origin, an attacker's _headers grant its service worker the
// scope "/": the registration is refused, the victim's page is still the
// victim's, and the attacker's worker over its own prefix still works (so
// service workers do run here). By subdomain, a cookie set with Domain=<base
// domain> reaches the attacker's own pages but not the victim's, a page
// cannot be served by path below the victim's host, where its script could
// set a cookie for the victim itself, and Clear-Site-Data from one project
// does not clear another's cookies.
func TestBrowserIsolation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real browser")
	}
	chromium := chromiumPath(t)

	t.Run("path mode service worker", func(t *testing.T) {
		srv := startServer(t, "", "--log-level", "warn", "--access-log=false")
		c := srv.client(t, client.Options{})
		victim := createProject(t, c, "victim")
		attacker := createProject(t, c, "attacker")
		deploySite(t, c, victim, site{"/index.html": []byte("<!doctype html><body>the victim's own page</body>")}, "")
		deploySite(t, c, attacker, site{
			"/index.html": []byte(strings.ReplaceAll(swAttacker, "VICTIM", "/__project/"+victim+"/")),
			"/sw.js":      []byte(swScript),
			"/probe.html": []byte("<!doctype html><body>the attacker's page from the network</body>"),
			"/px.gif":     []byte("GIF89a"),
		}, "/sw.js\n  Service-Worker-Allowed: /\n")

		dom := headless(t, chromium, srv.projectURL(attacker, "/"), "--dump-dom")
		if dataAttr(dom, "done") != "yes" {
			t.Fatalf("the attacker's page did not finish:\n%s", dom)
		}
		if got := dataAttr(dom, "own"); got != "registered" || !strings.Contains(dataAttr(dom, "ownframe"), "attacker service worker") {
			t.Fatalf("control: the attacker's worker over its own prefix: %q, its page %q; service workers do not run here, so the test proves nothing:\n%s", got, dataAttr(dom, "ownframe"), dom)
		}
		if got := dataAttr(dom, "wide"); !strings.HasPrefix(got, "refused") {
			t.Errorf("a service worker with scope / was %s", got)
		}
		if got := dataAttr(dom, "victimframe"); got != "the victim's own page" {
			t.Errorf("the victim's page, loaded after the attacker's visit, showed %q", got)
		}
		t.Logf("scope /: %s; victim's page: %q", dataAttr(dom, "wide"), dataAttr(dom, "victimframe"))
	})

	t.Run("subdomain cookie tossing", func(t *testing.T) {
		// A base domain below localhost: Chromium resolves every
		// *.localhost name to loopback, and treats cfhost.localhost as a
		// registrable domain that cookies may name, as it would a real one.
		const base = "cfhost.localhost"
		srv := startServer(t, "", "--log-level", "warn", "--access-log=false", "--base-domain", base)
		port := srv.addr[strings.LastIndexByte(srv.addr, ':')+1:]
		c := srv.client(t, client.Options{})
		victim := createProject(t, c, "victim")
		attacker := createProject(t, c, "attacker")
		origin := func(id string) string { return "http://" + id + "." + base + ":" + port }
		deploySite(t, c, attacker, site{"/index.html": []byte(cookieAttacker)},
			"/*\n  Set-Cookie: tossed=by-attacker; Domain="+base+"; Path=/\n")
		deploySite(t, c, victim, site{"/index.html": []byte(strings.ReplaceAll(cookieVictim, "ATTACKER", origin(attacker)+"/"))}, "")

		rules := "--host-resolver-rules=MAP *." + base + " 127.0.0.1"
		dom := headless(t, chromium, origin(attacker)+"/", "--dump-dom", rules)
		if got := dataAttr(dom, "cookies"); got != "tossed=by-attacker" {
			t.Fatalf("control: the attacker's own page holds cookies %q; the browser did not take the cookie, so the test proves nothing:\n%s", got, dom)
		}
		dom = headless(t, chromium, origin(victim)+"/", "--dump-dom", rules)
		if dataAttr(dom, "done") != "yes" {
			t.Fatalf("the victim's page did not finish:\n%s", dom)
		}
		if got := dataAttr(dom, "cookies"); got != "mine=1" {
			t.Errorf("after embedding the attacker's page the victim's origin holds cookies %q, want only its own mine=1", got)
		}

		// No header filter sees a cookie a page's own script sets. Served
		// by path on x.<victim>.<base>, the attacker's script could set
		// Domain=<victim>.<base>, which a Public Suffix List entry for the
		// base domain would not stop; path mode is not served there.
		embedder := createProject(t, c, "embedder")
		scripted := createProject(t, c, "scripted")
		deploySite(t, c, scripted, site{"/index.html": []byte(`<!doctype html><body><script>document.cookie = "scripted=by-attacker; domain=` + embedder + "." + base + `; path=/";</script></body>`)}, "")
		below := "http://x." + embedder + "." + base + ":" + port + "/__project/" + scripted + "/"
		deploySite(t, c, embedder, site{"/index.html": []byte(strings.ReplaceAll(cookieVictim, "ATTACKER", below))}, "")
		dom = headless(t, chromium, origin(embedder)+"/", "--dump-dom", rules)
		if dataAttr(dom, "done") != "yes" {
			t.Fatalf("the victim's page did not finish:\n%s", dom)
		}
		if got := dataAttr(dom, "cookies"); got != "mine=1" {
			t.Errorf("after embedding the attacker's path-mode page at %s the victim's origin holds cookies %q, want only its own mine=1", below, got)
		}

		// Clear-Site-Data "cookies" would clear the whole base domain's.
		wiper := createProject(t, c, "wiper")
		deploySite(t, c, wiper, site{"/index.html": []byte("<!doctype html><body>wiper</body>")}, "/*\n  Clear-Site-Data: \"cookies\", \"storage\"\n")
		wiped := createProject(t, c, "wiped")
		deploySite(t, c, wiped, site{"/index.html": []byte(strings.ReplaceAll(cookieVictim, "ATTACKER", origin(wiper)+"/"))}, "")
		dom = headless(t, chromium, origin(wiped)+"/", "--dump-dom", rules)
		if dataAttr(dom, "done") != "yes" {
			t.Fatalf("the victim's page did not finish:\n%s", dom)
		}
		if got := dataAttr(dom, "cookies"); got != "mine=1" {
			t.Errorf("after embedding a page that clears site data the victim's origin holds cookies %q, want its own mine=1", got)
		}
	})
}

// TestPathRoutingFlag: cfhost serve --path-routing=false serves projects
// by subdomain only; /__project/<id>/ is a 404 that says why.
func TestPathRoutingFlag(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts cfhost")
	}
	srv := startServer(t, "", "--log-level", "warn", "--access-log=false", "--path-routing=false")
	port := srv.addr[strings.LastIndexByte(srv.addr, ':')+1:]
	c := srv.client(t, client.Options{})
	id := createProject(t, c, "site")
	deploySite(t, c, id, site{"/index.html": []byte("<h1>the site</h1>")}, "")
	hc := plainHTTP()
	resp, body, err := fetch(context.Background(), hc, srv.projectURL(id, "/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 404 || !strings.Contains(string(body), "path routing is off") {
		t.Errorf("by path: %s %q, want 404 saying path routing is off", resp.Status, body)
	}
	resp, body, err = fetch(context.Background(), hc, srv.url("/"), map[string]string{"Host": id + ".localhost:" + port})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || string(body) != "<h1>the site</h1>" {
		t.Errorf("by subdomain: %s %q", resp.Status, body)
	}
}
