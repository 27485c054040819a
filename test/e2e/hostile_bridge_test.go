package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// TestHostileBridgeNestedCallKeepsTheHostUp deploys JS that calls the
// host bridge from inside a bridge call, using only what every handler
// can reach: Error.prepareStackTrace (which the engine runs when it throws
// inside the bridge), a Response subclass whose body is no ArrayBuffer,
// and __cfhost.dispatch. Before the bridge refused nested calls, the
// inner call took over the native stack of the outer one and the first
// such request killed cfhost (SIGSEGV) with every project on it. Now each
// ends as its own 502, and a neighbour's assets and JS keep answering; so
// does the attacker's next request. The same tenant also tries to take the
// raw bridge function from prepareStackTrace's call sites (the engine
// handed it out) to send a response head with a CR, and sends one through
// Headers: the function is not handed out, and no injected header ever
// reaches the client.
func TestHostileBridgeNestedCallKeepsTheHostUp(t *testing.T) {
	srv := startServer(t, "", "--log-level", "warn", "--access-log=false", "--worker-timeout", "10s")
	c := srv.client(t, client.Options{})
	hc := plainHTTP()
	ctx := context.Background()

	victim := createProject(t, c, "bridge-victim")
	if err := deployJS(t, c, victim, map[string]string{"index.js": `export default { fetch() { return new Response("victim js"); } };`},
		nil, `["/api/*"]`, nil); err != nil {
		t.Fatal(err)
	}
	attacker := createProject(t, c, "bridge-attacker")
	if err := deployJS(t, c, attacker, map[string]string{"index.js": `
const notAB = { length: 1e9, byteOffset: 0, byteLength: 1, buffer: { byteLength: 1 } };
class Nest extends Response { _raw() { return notAB; } }
let host = null;
export default { fetch(request) {
  const p = new URL(request.url).pathname;
  if (p === "/alive") return new Response("alive");
  if (p === "/nest") {
    Error.prepareStackTrace = () => { Error.prepareStackTrace = undefined; __cfhost.dispatch(); return ""; };
    return new Nest("");
  }
  if (p === "/grab") {
    Error.prepareStackTrace = (e, sites) => {
      for (const s of sites) if (s.getFunctionName() === "host" && s.isNative()) host = s.getFunction();
      return "";
    };
    return new Nest("");
  }
  if (p === "/raw-cr" && host) {
    host(3, 200, "x-a\nb\r\nx-injected: 1", "raw");
    host(7);
    return new Promise(() => {});
  }
  if (p === "/headers-cr") return new Response("h", { headers: { "x-a": "b\r\nx-injected: 1" } });
  return new Response("no " + p, { status: 404 });
} };`}, nil, `["/*"]`, nil); err != nil {
		t.Fatal(err)
	}
	get := func(t *testing.T, id, path string) (*http.Response, string) {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		resp, body, err := fetch(rctx, hc, srv.projectURL(id, path), nil)
		if err != nil {
			t.Fatalf("GET %s on %s: %v (cfhost exited: %v)\n%s", path, id, err, srv.exited(), srv.logTail(4096))
		}
		return resp, string(body)
	}
	neighbour := func(t *testing.T) {
		t.Helper()
		if resp, body := get(t, victim, "/"); resp.StatusCode != 200 || !strings.Contains(body, "static "+victim) {
			t.Fatalf("victim assets: %d %q", resp.StatusCode, body)
		}
		if resp, body := get(t, victim, "/api/x"); resp.StatusCode != 200 || body != "victim js" {
			t.Fatalf("victim js: %d %q", resp.StatusCode, body)
		}
	}
	neighbour(t)

	t.Run("nested bridge calls", func(t *testing.T) {
		for range 3 {
			if resp, body := get(t, attacker, "/nest"); resp.StatusCode != http.StatusBadGateway {
				t.Errorf("nested call: %d %q, want 502", resp.StatusCode, body)
			}
			neighbour(t)
			if resp, body := get(t, attacker, "/alive"); resp.StatusCode != 200 || body != "alive" {
				t.Errorf("attacker after: %d %q", resp.StatusCode, body)
			}
		}
	})

	t.Run("no header carries a CR to the client", func(t *testing.T) {
		if resp, body := get(t, attacker, "/headers-cr"); resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("X-Injected") != "" {
			t.Errorf("Headers with CR: %d %v %q", resp.StatusCode, resp.Header, body)
		}
		// The grab and the raw call must meet the same instance: the
		// default keeps two idle, so a few rounds make sure of it.
		for range 4 {
			get(t, attacker, "/grab")
			resp, body := get(t, attacker, "/raw-cr")
			if resp.Header.Get("X-Injected") != "" || resp.Header.Get("X-A") != "" || body == "raw" {
				t.Fatalf("raw head with CR went out: %d %v %q", resp.StatusCode, resp.Header, body)
			}
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("the handler got the bridge function: %d %q", resp.StatusCode, body)
			}
		}
		neighbour(t)
	})
}
