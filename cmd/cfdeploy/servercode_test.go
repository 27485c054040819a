package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestExpandModuleGlobs: ** spans directories, node_modules and dot
// directories are searched only when named, plain paths pass through, and a
// pattern that matches nothing is an error.
func TestExpandModuleGlobs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, f := range []string{"src/a.txt", "src/lib/b.txt", "src/lib/deep/c.txt", "src/lib/d.js", "src/node_modules/x/e.txt", "src/.hidden/f.txt"} {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		pattern string
		want    []string
		err     string
	}{
		{"src/**/*.txt", []string{"src/a.txt", "src/lib/b.txt", "src/lib/deep/c.txt"}, ""},
		{"src/*.txt", []string{"src/a.txt"}, ""},
		{"src/lib/*", []string{"src/lib/d.js", "src/lib/b.txt"}, ""},
		{"src/node_modules/**/*.txt", []string{"src/node_modules/x/e.txt"}, ""},
		{"src/plain.txt", []string{"src/plain.txt"}, ""},
		{"src/**/*.md", nil, "matches no file"},
		{"src/[.txt", nil, "syntax error"},
	} {
		t.Run(tt.pattern, func(t *testing.T) {
			got, err := expandModuleGlobs([]string{filepath.Join(dir, filepath.FromSlash(tt.pattern))})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var rel []string
			for _, p := range got {
				r, _ := filepath.Rel(dir, p)
				rel = append(rel, filepath.ToSlash(r))
			}
			slices.Sort(rel)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(rel, want) {
				t.Errorf("got %v, want %v", rel, want)
			}
		})
	}
}
