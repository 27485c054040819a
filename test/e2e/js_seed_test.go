package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// rawDeploy deploys st through the three phases of the deploy API with
// hand-written JSON, so that serverCode modules go out exactly as given
// (bare base64 strings or {content, type} objects).
func rawDeploy(t *testing.T, srv *server, id string, st site, extra map[string]any) (*http.Response, []byte) {
	t.Helper()
	auth := "Bearer " + srv.token
	resp, body := postJSON(t, srv, "/__api/projects/"+id+"/assets-upload-session", auth, api.UploadSessionRequest{Manifest: st.manifest()})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload session: %d %s", resp.StatusCode, body)
	}
	var sess struct{ Result api.UploadSessionResult }
	if err := json.Unmarshal(body, &sess); err != nil {
		t.Fatal(err)
	}
	byHash := map[string][]byte{}
	for _, b := range st {
		byHash[sha(b)] = b
	}
	jwt := sess.Result.JWT
	for _, bucket := range sess.Result.Buckets {
		up := map[string]string{}
		for _, h := range bucket {
			up[h] = base64.StdEncoding.EncodeToString(byHash[h])
		}
		resp, body := postJSON(t, srv, "/__api/projects/"+id+"/assets/upload", "Bearer "+sess.Result.JWT, up)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("upload: %d %s", resp.StatusCode, body)
		}
		var r struct{ Result api.UploadResult }
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		if r.Result.JWT != nil {
			jwt = *r.Result.JWT
		}
	}
	req := map[string]any{"completionJwt": jwt}
	for k, v := range extra {
		req[k] = v
	}
	return postJSON(t, srv, "/__api/projects/"+id+"/deploy", auth, req)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestJSSeedExamples deploys the two JavaScript server-code examples of the
// system cfhost reimplements, as its README describes them, through the
// real deploy API, and requests them over HTTP from the real cfhost.
func TestJSSeedExamples(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", "--log-level", "warn", "--access-log=false")
	c := srv.client(t, client.Options{})
	get := func(t *testing.T, id, path string) (int, http.Header, string) {
		t.Helper()
		resp, body, err := fetch(t.Context(), plainHTTP(), srv.projectURL(id, path), nil)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, string(body)
	}

	t.Run("full-stack app: env variables and run_worker_first", func(t *testing.T) {
		id := createProject(t, c, "seed-fullstack")
		env := map[string]string{
			"API_KEY": "secret-key", "ENVIRONMENT": "production", "APP_NAME": "Seed App", "VERSION": "1.2.3",
			"FEATURE_FLAG": "true", "MAX_ITEMS": "25", "GREETING": "Hello",
		}
		worker := `export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/api/hello") {
      return new Response(JSON.stringify({
        message: env.GREETING + " from " + env.APP_NAME,
        environment: env.ENVIRONMENT,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
      }), { headers: { "Content-Type": "application/json" } });
    }
    if (url.pathname === "/api/config") {
      return Response.json({
        app: env.APP_NAME, version: env.VERSION, environment: env.ENVIRONMENT,
        featureFlag: env.FEATURE_FLAG === "true", maxItems: Number(env.MAX_ITEMS),
        hasApiKey: Boolean(env.API_KEY), host: url.host,
      });
    }
    return new Response("Not found", { status: 404 });
  },
};`
		resp, body := rawDeploy(t, srv, id, site{"/index.html": []byte("<h1>seed home</h1>"), "/about.html": []byte("<h1>about</h1>")}, map[string]any{
			"serverCode":       map[string]any{"entrypoint": "index.js", "modules": map[string]any{"index.js": b64(worker)}, "compatibilityDate": "2025-11-09"},
			"run_worker_first": []string{"/api/*"},
			"env":              env,
		})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("deploy: %d %s", resp.StatusCode, body)
		}
		status, hdr, got := get(t, id, "/api/hello?name=ada")
		var hello map[string]any
		if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || json.Unmarshal([]byte(got), &hello) != nil {
			t.Fatalf("/api/hello: %d %v %s", status, hdr, got)
		}
		if hello["message"] != "Hello from Seed App" || hello["environment"] != "production" || hello["path"] != "/api/hello" ||
			hello["query"].(map[string]any)["name"] != "ada" {
			t.Fatalf("/api/hello: %v", hello)
		}
		status, _, got = get(t, id, "/api/config")
		var cfg map[string]any
		if status != 200 || json.Unmarshal([]byte(got), &cfg) != nil {
			t.Fatalf("/api/config: %d %s", status, got)
		}
		if cfg["app"] != "Seed App" || cfg["version"] != "1.2.3" || cfg["featureFlag"] != true || cfg["maxItems"] != 25.0 ||
			cfg["hasApiKey"] != true || cfg["host"] != srv.addr {
			t.Fatalf("/api/config: %v", cfg)
		}
		if status, _, got := get(t, id, "/api/other"); status != 404 || got != "Not found" {
			t.Fatalf("/api/other: %d %s", status, got)
		}
		for path, want := range map[string]string{"/": "seed home", "/about": "about"} {
			if status, _, got := get(t, id, path); status != 200 || !strings.Contains(got, want) {
				t.Fatalf("%s: %d %s", path, status, got)
			}
		}
	})

	t.Run("module types and env.ASSETS fall-through", func(t *testing.T) {
		index := `import { greet } from "./helpers.js";
import config from "./config.json";
import template from "./template.txt";
import binaryData from "./data.bin";

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/api/test") {
      const bytes = new Uint8Array(binaryData);
      return Response.json({
        greeting: greet("World"),
        config,
        template: template.replace("{{name}}", "cfhost"),
        binaryLength: bytes.length,
        binaryFirst: Array.from(bytes.slice(0, 4)),
        isArrayBuffer: binaryData instanceof ArrayBuffer,
      });
    }
    return env.ASSETS.fetch(request);
  },
};`
		files := map[string]string{
			"index.js":      index,
			"helpers.js":    `export function greet(name) { return "Hello, " + name + "!"; }`,
			"config.json":   `{"name":"module-test","version":2,"features":["a","b"]}`,
			"template.txt":  "<p>Welcome to {{name}}</p>",
			"data.bin":      "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b",
			"unused.js":     `export const x = 1;`,
			"lib/extra.cjs": `module.exports = 1;`,
		}
		types := map[string]string{"index.js": "js", "helpers.js": "js", "config.json": "json", "template.txt": "text", "data.bin": "data", "unused.js": "js", "lib/extra.cjs": "cjs"}
		for _, form := range []string{"bare", "object"} {
			t.Run(form, func(t *testing.T) {
				id := createProject(t, c, "seed-modules-"+form)
				mods := map[string]any{}
				for name, src := range files {
					if form == "bare" {
						mods[name] = b64(src)
					} else {
						mods[name] = map[string]string{"content": b64(src), "type": types[name]}
					}
				}
				resp, body := rawDeploy(t, srv, id, site{"/index.html": []byte("<h1>modules home</h1>"), "/style.css": []byte("body{color:red}")},
					map[string]any{"serverCode": map[string]any{"entrypoint": "index.js", "modules": mods}, "run_worker_first": true})
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("deploy: %d %s", resp.StatusCode, body)
				}
				status, _, got := get(t, id, "/api/test")
				var res struct {
					Greeting      string         `json:"greeting"`
					Config        map[string]any `json:"config"`
					Template      string         `json:"template"`
					BinaryLength  int            `json:"binaryLength"`
					BinaryFirst   []int          `json:"binaryFirst"`
					IsArrayBuffer bool           `json:"isArrayBuffer"`
				}
				if status != 200 || json.Unmarshal([]byte(got), &res) != nil {
					t.Fatalf("/api/test: %d %s", status, got)
				}
				if res.Greeting != "Hello, World!" || res.Config["name"] != "module-test" || res.Template != "<p>Welcome to cfhost</p>" ||
					res.BinaryLength != 12 || len(res.BinaryFirst) != 4 || res.BinaryFirst[3] != 3 || !res.IsArrayBuffer {
					t.Fatalf("/api/test: %+v", res)
				}
				status, hdr, got := get(t, id, "/style.css")
				if status != 200 || got != "body{color:red}" || !strings.HasPrefix(hdr.Get("Content-Type"), "text/css") {
					t.Fatalf("/style.css through env.ASSETS: %d %v %s", status, hdr, got)
				}
				if status, _, got := get(t, id, "/"); status != 200 || !strings.Contains(got, "modules home") {
					t.Fatalf("/ through env.ASSETS: %d %s", status, got)
				}
				if status, _, _ := get(t, id, "/nope"); status != 404 {
					t.Fatalf("/nope through env.ASSETS: %d", status)
				}
			})
		}
	})

	t.Run("JS env rules", func(t *testing.T) {
		id := createProject(t, c, "seed-env")
		code := map[string]any{"entrypoint": "index.js", "modules": map[string]any{"index.js": b64(`export default { fetch(r, env) { return Response.json(env); } };`)}}
		many := map[string]string{}
		for i := range 65 {
			many[strings.Repeat("V", i+1)] = "x"
		}
		for name, env := range map[string]map[string]string{
			"65 variables":    many,
			"129-char name":   {strings.Repeat("n", 129): "x"},
			"5 KB + 1 value":  {"BIG": strings.Repeat("v", 5<<10+1)},
			"empty name":      {"": "x"},
			"ASSETS reserved": {"ASSETS": "x"},
		} {
			t.Run(name, func(t *testing.T) {
				resp, body := rawDeploy(t, srv, id, site{"/index.html": []byte("x")}, map[string]any{"serverCode": code, "env": env})
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "env") {
					t.Fatalf("got %d %s, want a 400 about env", resp.StatusCode, body)
				}
			})
		}
		// Names a CGI guest could not have are fine for JS.
		ok := map[string]string{"lower-case.name": "a", strings.Repeat("n", 128): "b", "BIG": strings.Repeat("v", 5<<10)}
		resp, body := rawDeploy(t, srv, id, site{"/index.html": []byte("x")}, map[string]any{"serverCode": code, "env": ok, "run_worker_first": true})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("deploy: %d %s", resp.StatusCode, body)
		}
		status, _, got := get(t, id, "/")
		var env map[string]any
		if status != 200 || json.Unmarshal([]byte(got), &env) != nil || env["lower-case.name"] != "a" || len(env["BIG"].(string)) != 5<<10 {
			t.Fatalf("env: %d %.200s", status, got)
		}
	})
}
