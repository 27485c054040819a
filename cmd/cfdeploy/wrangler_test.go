package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestWranglerFixture reads the Workers fixture, with and without its
// staging environment.
func TestWranglerFixture(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "testdata", "wrangler-workers", "wrangler.jsonc")
	tests := []struct {
		env, name, notFound, greeting string
		vars                          int
		unsupported                   []string
	}{
		{"", "acme-shop", "404-page", "hello", 3, []string{"kv_namespaces", "observability"}},
		{"staging", "acme-shop-staging", "single-page-application", "hello from staging", 1, []string{"kv_namespaces", "observability", "env.staging.kv_namespaces"}},
	}
	for _, tt := range tests {
		t.Run("env="+tt.env, func(t *testing.T) {
			w, err := readWranglerFile(path, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			f := w.File
			if f.Name != tt.name || f.Dir != "./public" || f.Assets.NotFoundHandling != tt.notFound {
				t.Errorf("name %q dir %q not_found %q", f.Name, f.Dir, f.Assets.NotFoundHandling)
			}
			if f.Env["GREETING"] != tt.greeting || len(f.Env) != tt.vars {
				t.Errorf("vars %v", f.Env)
			}
			if f.Server.CompatibilityDate != "2025-03-10" || !reflect.DeepEqual(f.Server.CompatibilityFlags, []string{"nodejs_compat"}) {
				t.Errorf("compatibility %q %v", f.Server.CompatibilityDate, f.Server.CompatibilityFlags)
			}
			if f.Server.Entrypoint != "src/index.js" {
				t.Errorf("main: entrypoint %q", f.Server.Entrypoint)
			}
			var got []string
			for _, u := range w.Unsupported {
				k, _, _ := strings.Cut(u, " ")
				got = append(got, k)
			}
			if !reflect.DeepEqual(got, tt.unsupported) {
				t.Errorf("unsupported %v, want %v", got, tt.unsupported)
			}
		})
	}
	if _, err := readWranglerFile(path, "prod"); err == nil || !strings.Contains(err.Error(), "it has: staging") {
		t.Errorf("unknown env: %v", err)
	}
}

// TestWranglerTOML reads wrangler.toml, whose dates may be bare TOML dates,
// and writes it back as cfdeploy.toml that decodes to the same settings.
func TestWranglerTOML(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := `name = "blog"
main = "build/server.wasm"
compatibility_date = 2025-05-01
pages_build_output_dir = "dist"
routes = [{ pattern = "blog.example.com", custom_domain = true }]

[vars]
TITLE = "My \"blog\""
POSTS = 12

[assets]
html_handling = "none"
run_worker_first = true

[[d1_databases]]
binding = "DB"

[triggers]
crons = ["0 * * * *"]
`
	path := filepath.Join(dir, "wrangler.toml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := readWranglerFile(path, "")
	if err != nil {
		t.Fatal(err)
	}
	f := w.File
	if f.Server.Entrypoint != "build/server.wasm" || f.Server.CompatibilityDate != "2025-05-01" || f.Dir != "dist" {
		t.Errorf("got %+v", f)
	}
	if f.Env["TITLE"] != `My "blog"` || f.Env["POSTS"] != "12" {
		t.Errorf("vars %v", f.Env)
	}
	if want := []string{"d1_databases", "routes", "triggers"}; !reflect.DeepEqual(w.Unsupported, want) {
		t.Errorf("unsupported %v, want %v", w.Unsupported, want)
	}
	text := projectFileText(f, []string{"note"})
	back, err := decodeFileConfig("cfdeploy.toml", []byte(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if !reflect.DeepEqual(back, f) {
		t.Errorf("round trip:\n%+v\nwant\n%+v\n%s", back, f, text)
	}
}

func TestWranglerBadValues(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, body, want string }{
		{"name", `{"name": 3}`, "name must be a string"},
		{"date", `{"compatibility_date": "soon"}`, "compatibility_date must be a YYYY-MM-DD date"},
		{"run_worker_first", `{"assets": {"run_worker_first": "yes"}}`, "assets.run_worker_first must be"},
		{"syntax", "{\n\"name\": \"a\"\n\"main\": 1}", "line 3"},
		{"no env", `{"name": "a"}`, "has no environments"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "wrangler.jsonc")
			if err := os.WriteFile(path, []byte(tt.body), 0o644); err != nil {
				t.Fatal(err)
			}
			env := ""
			if tt.name == "no env" {
				env = "staging"
			}
			_, err := readWranglerFile(path, env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseDotenv(t *testing.T) {
	t.Parallel()
	got, err := parseDotenv([]byte("# c\nA=1\nexport B = \"x\\ny\" \nC='$raw # kept'\nD=plain # note\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []dotenvEntry{{"A", "1"}, {"B", "x\ny"}, {"C", "$raw # kept"}, {"D", "plain"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
	for _, bad := range []string{"NOEQUALS\n", "A=\"open\n", "=v\n"} {
		if _, err := parseDotenv([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestServerCodeCompatibility: the compatibility settings travel in the
// deploy's serverCode, where the host reads them.
func TestServerCodeCompatibility(t *testing.T) {
	t.Parallel()
	entry := filepath.Join(t.TempDir(), "app.wasm")
	if err := os.WriteFile(entry, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := deployOptions{Server: entry, CompatibilityDate: "2025-04-01", CompatibilityFlags: []string{"assets_navigation_has_no_effect"}}
	loaded, err := o.serverCode()
	if err != nil {
		t.Fatal(err)
	}
	sc := loaded.code()
	if sc.CompatibilityDate != o.CompatibilityDate || !reflect.DeepEqual(sc.CompatibilityFlags, o.CompatibilityFlags) {
		t.Errorf("serverCode carries %q %v", sc.CompatibilityDate, sc.CompatibilityFlags)
	}
	if sc, err := (deployOptions{CompatibilityDate: "2025-04-01"}).serverCode(); sc != nil || err != nil {
		t.Errorf("no server code: got %v, %v", sc, err)
	}
}
