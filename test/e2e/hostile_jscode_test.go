package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// jsModules turns name->source into the deploy API's modules: bare base64
// strings for the even-numbered, {content, type} objects for the others, as
// the API accepts both.
func jsModules(files map[string]string, types map[string]string) map[string]api.Module {
	out := map[string]api.Module{}
	for name, src := range files {
		out[name] = api.Module{Content: base64.StdEncoding.EncodeToString([]byte(src)), Type: types[name]}
	}
	return out
}

// deployJS deploys JS server code with a small static site.
func deployJS(t *testing.T, c *client.Client, id string, files, types map[string]string, rwf string, env map[string]string) error {
	t.Helper()
	dir := filepath.Join(t.TempDir(), id)
	site{"/index.html": []byte("<h1>static " + id + "</h1>")}.write(t, dir)
	opts := client.DeployOptions{ProjectID: id, Dir: dir, Env: env,
		ServerCode: &api.ServerCode{Entrypoint: "index.js", Modules: jsModules(files, types)}}
	if rwf != "" {
		opts.RunWorkerFirst = json.RawMessage(rwf)
	}
	_, err := c.Deploy(context.Background(), opts)
	return err
}

// TestHostileJSServerCode deploys JavaScript fetch handlers through the
// real API and serves them through the real cfhost: modules of every type
// and env reach the handler; a broken deploy is refused with
// module:line:col; an endless loop ends as 504 within the deadline plus a
// second and the next request is served; an allocation bomb ends as 502
// without growing the host's memory past the limits; a neighbour keeps
// answering throughout.
func TestHostileJSServerCode(t *testing.T) {
	const timeout = 2 * time.Second
	srv := startServer(t, "", "--log-level", "warn", "--access-log=false", "--worker-timeout", timeout.String(), "--worker-memory", "64MiB")
	c := srv.client(t, client.Options{})
	hc := plainHTTP()
	ctx := context.Background()
	get := func(t *testing.T, id, path string) (int, string) {
		t.Helper()
		resp, body, err := fetch(ctx, hc, srv.projectURL(id, path), nil)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp.StatusCode, string(body)
	}

	app := createProject(t, c, "js-app")
	err := deployJS(t, c, app, map[string]string{
		"index.js": `import { greet } from "./lib/helpers.js";
import config from "./config.json";
import template from "./template.txt";
import binaryData from "./data.bin";
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/api/hello") {
      return Response.json({ message: greet(url.searchParams.get("name") || "world"), path: url.pathname,
        env: { A: env.VAR_A, B: env.VAR_B }, config, template, bytes: Array.from(new Uint8Array(binaryData)) });
    }
    return new Response("worker " + url.pathname, { status: 404 });
  },
};`,
		"lib/helpers.js": `export const greet = (n) => "Hello, " + n + "!";`,
		"config.json":    `{"mode":"test","n":3}`,
		"template.txt":   "<p>{{x}}</p>",
		"data.bin":       "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c",
	}, map[string]string{"template.txt": "text", "data.bin": "data"}, `["/api/*"]`, map[string]string{"VAR_A": "alpha", "VAR_B": "beta"})
	if err != nil {
		t.Fatal(err)
	}
	hostile := createProject(t, c, "js-hostile")
	err = deployJS(t, c, hostile, map[string]string{"index.js": `export default { async fetch(request) {
		const p = new URL(request.url).pathname;
		if (p === "/loop") for (;;) {}
		if (p === "/builtin") for (;;) new Array(1e5).fill(0);
		if (p === "/bomb") { const keep = []; for (;;) keep.push(new Uint8Array(1 << 20)); }
		return new Response("alive");
	} };`}, nil, `["/*"]`, nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("fetch handler answers JSON from the URL, env and every module type", func(t *testing.T) {
		status, body := get(t, app, "/api/hello?name=Ada")
		if status != 200 {
			t.Fatalf("status %d: %s", status, body)
		}
		var got struct {
			Message  string            `json:"message"`
			Path     string            `json:"path"`
			Env      map[string]string `json:"env"`
			Config   map[string]any    `json:"config"`
			Template string            `json:"template"`
			Bytes    []int             `json:"bytes"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		if got.Message != "Hello, Ada!" || got.Path != "/api/hello" || got.Env["A"] != "alpha" || got.Env["B"] != "beta" ||
			got.Config["mode"] != "test" || got.Template != "<p>{{x}}</p>" || len(got.Bytes) != 12 || got.Bytes[11] != 12 {
			t.Fatalf("got %+v", got)
		}
		if status, body := get(t, app, "/"); status != 200 || !strings.Contains(body, "static "+app) {
			t.Fatalf("asset: %d %s", status, body)
		}
	})

	t.Run("broken deploys are refused with module:line:col", func(t *testing.T) {
		id := createProject(t, c, "js-broken")
		for _, tc := range []struct {
			name  string
			files map[string]string
			want  string
		}{
			{"syntax error", map[string]string{"index.js": "export default {\n  fetch() { return 1 +; }\n};"}, "index.js:2:"},
			{"unresolved import", map[string]string{"index.js": `import { x } from "./missing.js";
export default { fetch() { return new Response(x); } };`}, `"./missing.js"`},
			{"no default fetch", map[string]string{"index.js": `export const handler = 1;`}, "default export with a fetch"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := deployJS(t, c, id, tc.files, nil, "", nil)
				var apiErr *api.Error
				if !errors.As(err, &apiErr) || apiErr.Code != api.CodeInvalid || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want a 400 naming %s", err, tc.want)
				}
			})
		}
		if status, _ := get(t, id, "/"); status == 200 {
			t.Fatal("a refused deploy went live")
		}
	})

	t.Run("endless loops end as 504 within the deadline and the project keeps serving", func(t *testing.T) {
		paths := []string{"/loop", "/builtin"}
		if testing.Short() {
			// Two seconds each: TestHostileJSHardStop stops a builtin too.
			paths = paths[:1]
		}
		for _, path := range paths {
			start := time.Now()
			status, _ := get(t, hostile, path)
			if took := time.Since(start); status != http.StatusGatewayTimeout || took > timeout+time.Second {
				t.Fatalf("%s: status %d after %s, want 504 within %s", path, status, took, timeout+time.Second)
			}
			if status, body := get(t, hostile, "/"); status != 200 || body != "alive" {
				t.Fatalf("after %s: %d %q", path, status, body)
			}
		}
	})

	t.Run("allocation bombs end as 502 with the host's memory bounded", func(t *testing.T) {
		var wg sync.WaitGroup
		statuses := make(chan int, 8)
		growth := srv.rssGrowth(t, func() {
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, _, err := fetch(ctx, plainHTTP(), srv.projectURL(hostile, "/bomb"), nil)
					if err != nil {
						statuses <- 0
						return
					}
					statuses <- resp.StatusCode
				}()
			}
			// A neighbour answers while the bombs go off.
			if status, _ := get(t, app, "/api/hello"); status != 200 {
				t.Errorf("neighbour during bombs: %d", status)
			}
			wg.Wait()
		})
		close(statuses)
		for s := range statuses {
			if s != http.StatusBadGateway {
				t.Errorf("bomb answered %d, want 502", s)
			}
		}
		// Each run may take the 64 MiB limit and two run at once; their
		// pages go back to the system when the instance is discarded.
		if growth > 200<<20 {
			t.Fatalf("host RSS grew by %d MiB", growth>>20)
		}
		t.Logf("RSS growth during 4 allocation bombs: %d MiB", growth>>20)
	})
}
