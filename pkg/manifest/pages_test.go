package manifest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestWalkLeavesOutPagesFiles: a Pages project's _worker.js (private server
// code, a file or a directory) and _routes.json at the site root are never
// published, whatever .assetsignore says; the same names deeper down are
// ordinary files. LeaveOut keeps a deploy's own inputs out too.
func TestWalkLeavesOutPagesFiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		want  []string
	}{
		{"worker file", []string{"index.html", "_worker.js", "_routes.json"}, []string{"/index.html"}},
		{"worker directory", []string{"index.html", "_worker.js/index.js", "_worker.js/lib/db.js"}, []string{"/index.html"}},
		{"deeper names are files", []string{"docs/_worker.js", "docs/_routes.json"}, []string{"/docs/_routes.json", "/docs/_worker.js"}},
		{"a re-include does not publish it", []string{"index.html", "_worker.js", ".assetsignore"}, []string{"/index.html"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.files {
				p := filepath.Join(dir, filepath.FromSlash(f))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				text := "x"
				if f == ".assetsignore" {
					text = "!_worker.js\n"
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ig, err := LoadIgnorer(dir)
			if err != nil {
				t.Fatal(err)
			}
			tree, err := Walk(dir, ig)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range tree.Files {
				got = append(got, f.Path)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("published %q, want %q", got, tc.want)
			}
			for _, s := range tree.Ignored {
				if s.Reason == "" {
					t.Errorf("%s left out without a reason", s.Path)
				}
			}
		})
	}
	dir := t.TempDir()
	for _, f := range []string{"index.html", "functions/api/x.ts"} {
		p := filepath.Join(dir, filepath.FromSlash(f))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("x"), 0o644)
	}
	ig := &Ignorer{}
	ig.LeaveOut("functions", "server code")
	tree, err := Walk(dir, ig)
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.Files) != 1 || tree.Files[0].Path != "/index.html" || len(tree.Ignored) != 1 || tree.Ignored[0].Reason != "server code" {
		t.Fatalf("files %v, ignored %v", tree.Files, tree.Ignored)
	}
}
