package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// TestHostileJSHardStop sends, through the real cfhost, requests whose
// handler makes one call to a C builtin that runs for many seconds and
// never polls the engine's interrupt handler (replaceAll over a 16 MB
// string). The deadline must stop it inside the builtin: each request
// ends in 504 within the deadline plus a second, and the project answers
// again right after.
func TestHostileJSHardStop(t *testing.T) {
	const timeout = 2 * time.Second
	srv := startServer(t, "", "--log-level", "error", "--access-log=false", "--worker-timeout", timeout.String())
	c := srv.client(t, client.Options{})
	id := createProject(t, c, "js-builtin")
	err := deployJS(t, c, id, map[string]string{"index.js": `export default {
  fetch(request) {
    if (new URL(request.url).pathname === "/builtin") "ab".repeat(1 << 23).replaceAll("a", "xy");
    return new Response("alive");
  },
};`}, nil, `["/*"]`, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Three rounds show that the stop holds request after request and
	// leaves nothing behind; -short settles for one (two seconds each).
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	for range rounds {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		resp, _, err := fetch(ctx, plainHTTP(), srv.projectURL(id, "/builtin"), nil)
		cancel()
		took := time.Since(start)
		if err != nil || resp.StatusCode != 504 || took > timeout+time.Second {
			t.Fatalf("/builtin: %v %v after %v, want 504 within %v", resp, err, took, timeout+time.Second)
		}
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		resp, body, err := fetch(ctx, plainHTTP(), srv.projectURL(id, "/"), nil)
		cancel()
		if err != nil || resp.StatusCode != 200 || string(body) != "alive" {
			t.Fatalf("after /builtin: %v %v %q", resp, err, body)
		}
	}
}
