package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/poll"
	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// TestJSRuntimeAPIs serves, through the real cfhost over HTTP, what a fetch
// handler reaches beyond its request: outbound fetch() under the host's
// policy (a local server through --worker-outbound-allow, loopback refused
// after DNS resolution and after a redirect), the subrequest limit, a fetch
// of the project's own URL served in-process, a streamed response,
// ctx.waitUntil after the response, and crypto.subtle.digest.
func TestJSRuntimeAPIs(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	allowed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hit" {
			hits.Add(1)
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen-Method", r.Method)
		w.Write([]byte("allowed says " + r.URL.Path + " " + string(body)))
	}))
	defer allowed.Close()
	private := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("private data")) }))
	defer private.Close()
	bounce := httptest.NewServer(http.RedirectHandler(private.URL+"/", http.StatusFound))
	defer bounce.Close()
	allowedHost := strings.TrimPrefix(allowed.URL, "http://")
	bounceHost := strings.TrimPrefix(bounce.URL, "http://")
	_, privatePort, _ := strings.Cut(strings.TrimPrefix(private.URL, "http://"), ":")

	srv := startServer(t, "", "--log-level", "warn", "--access-log=false", "--worker-timeout", "5s",
		"--worker-outbound-allow", allowedHost, "--worker-outbound-allow", bounceHost)
	c := srv.client(t, client.Options{})
	id := createProject(t, c, "js-apis")
	err := deployJS(t, c, id, map[string]string{"index.js": `export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const target = url.searchParams.get("u");
    const attempt = async (u, init) => {
      try { const r = await fetch(u, init); return r.status + " " + await r.text(); } catch (e) { return "error: " + e.message; }
    };
    switch (url.pathname) {
      case "/out": return new Response(await attempt(target, { method: "POST", body: "ping" }));
      case "/many": {
        let ok = 0, err = "";
        for (let i = 0; i < 51; i++) {
          try { await (i % 2 ? env.ASSETS.fetch("/index.html") : fetch(target)); ok++; } catch (e) { err = e.message; }
        }
        return Response.json({ ok, err });
      }
      case "/self": {
        const r = await fetch(new URL("/api/inner?x=1", request.url));
        const a = await fetch(new URL("/index.html", request.url));
        return new Response("self: " + await r.text() + " | " + (await a.text()).length);
      }
      case "/api/inner": return new Response("inner " + url.search);
      case "/stream": {
        let i = 0;
        const enc = new TextEncoder();
        return new Response(new ReadableStream({ async pull(c) {
          await new Promise((r) => setTimeout(r, 20));
          if (i < 5) c.enqueue(enc.encode("part" + i++ + "\n")); else c.close();
        } }), { headers: { "content-type": "text/plain" } });
      }
      case "/later":
        ctx.waitUntil(new Promise((r) => setTimeout(r, 300)).then(() => fetch(target)));
        return new Response("sent");
      case "/digest": {
        const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(url.searchParams.get("s")));
        return new Response([...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join(""));
      }
    }
    return env.ASSETS.fetch(request);
  },
};`}, nil, `["/*"]`, nil)
	if err != nil {
		t.Fatal(err)
	}
	get := func(t *testing.T, path string) string {
		t.Helper()
		resp, body, err := fetch(t.Context(), plainHTTP(), srv.projectURL(id, path), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		return string(body)
	}
	q := func(u string) string { return strings.ReplaceAll(strings.ReplaceAll(u, ":", "%3A"), "/", "%2F") }

	for _, tc := range []struct{ name, url, want string }{
		{"a local server through --worker-outbound-allow", allowed.URL + "/x", "200 allowed says /x ping"},
		{"127.0.0.1 without allow", private.URL + "/", "error: fetch " + private.URL + "/ failed"},
		{"a name resolving to loopback", "http://localhost:" + privatePort + "/", "not public"},
		{"a redirect to loopback", bounce.URL + "/", "not public"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := get(t, "/out?u="+q(tc.url)); !strings.Contains(got, tc.want) || strings.Contains(got, "private data") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("the 51st subrequest fails", func(t *testing.T) {
		got := get(t, "/many?u="+q(allowed.URL+"/n"))
		if !strings.Contains(got, `"ok":50`) || !strings.Contains(got, "Too many subrequests") {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("own URL served in-process", func(t *testing.T) {
		if got := get(t, "/self"); got != "self: inner ?x=1 | "+strconv.Itoa(len("<h1>static "+id+"</h1>")) {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("streamed response", func(t *testing.T) {
		resp, err := plainHTTP().Get(srv.projectURL(id, "/stream"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ContentLength != -1 || len(resp.TransferEncoding) == 0 {
			t.Errorf("length %d, transfer encoding %v: not streamed", resp.ContentLength, resp.TransferEncoding)
		}
		buf := make([]byte, 64)
		start := time.Now()
		n, _ := resp.Body.Read(buf)
		first := time.Since(start)
		rest, _ := io.ReadAll(resp.Body)
		if got := string(buf[:n]) + string(rest); got != "part0\npart1\npart2\npart3\npart4\n" {
			t.Fatalf("body %q", got)
		}
		t.Logf("first chunk after %v", first)
	})
	t.Run("waitUntil runs after the response", func(t *testing.T) {
		before := hits.Load()
		if got := get(t, "/later?u="+q(allowed.URL+"/hit")); got != "sent" {
			t.Fatalf("got %q", got)
		}
		if hits.Load() != before {
			t.Fatal("the waitUntil work ran before the response")
		}
		poll.Until(t, 5*time.Second, "the waitUntil fetch", func() bool { return hits.Load() != before })
	})
	t.Run("crypto.subtle.digest", func(t *testing.T) {
		if got := get(t, "/digest?s=abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
			t.Fatalf("got %q", got)
		}
	})
}
