package jsbundle

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles lays out name → content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLoad: what a bundle and a plain load send, and the errors a user
// gets, each naming the file.
func TestLoad(t *testing.T) {
	for _, tt := range []struct {
		name     string
		files    map[string]string
		opts     Options
		modules  []string // names, entrypoint first
		contains string   // in the entrypoint module
		err      string
	}{
		{
			name:     "bundle keeps text and data modules beside it",
			files:    map[string]string{"src/index.ts": `import t from "./a/b.txt"; import d from "./d.bin"; import j from "./j.json"; export default { fetch() { return new Response(t + d.byteLength + j.x) } }`, "src/a/b.txt": "text", "src/d.bin": "12", "src/j.json": `{"x": 1}`},
			opts:     Options{Entrypoint: "src/index.ts"},
			modules:  []string{"index.js", "a/b.txt", "d.bin"},
			contains: `from "./a/b.txt"`,
		},
		{
			name:  "an import outside the entrypoint's directory",
			files: map[string]string{"src/index.js": `import t from "../outside.txt"; export default { fetch() { return new Response(t) } }`, "outside.txt": "x"},
			opts:  Options{Entrypoint: "src/index.js"},
			err:   "is outside",
		},
		{
			name:  "a syntax error names file, line and column",
			files: map[string]string{"src/index.js": "export default {\n  fetch() { return new Response( }\n}\n"},
			opts:  Options{Entrypoint: "src/index.js"},
			err:   "index.js:2:",
		},
		{
			name:  "a Node built-in cannot be resolved",
			files: map[string]string{"src/index.js": `import fs from "node:fs"; export default { fetch() { return new Response(String(fs)) } }`},
			opts:  Options{Entrypoint: "src/index.js"},
			err:   `Could not resolve "node:fs"`,
		},
		{
			name:     "no bundle sends the files as they are",
			files:    map[string]string{"src/index.js": `import { x } from "./lib/x.js"; export default { fetch() { return new Response(x) } }`, "src/lib/x.js": `export const x = "x";`},
			opts:     Options{Entrypoint: "src/index.js", Modules: []string{"src/lib/x.js"}, NoBundle: true},
			modules:  []string{"index.js", "lib/x.js"},
			contains: `from "./lib/x.js"`,
		},
		{
			name:  "no bundle refuses TypeScript",
			files: map[string]string{"src/index.ts": `export default {}`},
			opts:  Options{Entrypoint: "src/index.ts", NoBundle: true},
			err:   "needs bundling",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			o := tt.opts
			o.Entrypoint = filepath.Join(dir, o.Entrypoint)
			for i, m := range o.Modules {
				o.Modules[i] = filepath.Join(dir, m)
			}
			res, err := Load(o)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				var be *BuildError
				if strings.Contains(tt.err, ":") && !errors.As(err, &be) {
					t.Errorf("err %T is not a *BuildError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, m := range res.Modules {
				names = append(names, m.Name)
			}
			if strings.Join(names, " ") != strings.Join(tt.modules, " ") || res.Entrypoint != tt.modules[0] {
				t.Fatalf("modules %v entrypoint %q, want %v", names, res.Entrypoint, tt.modules)
			}
			if !strings.Contains(string(res.Modules[0].Content), tt.contains) {
				t.Errorf("entrypoint lacks %q:\n%s", tt.contains, res.Modules[0].Content)
			}
		})
	}
}
