//go:build unix

package pgtest

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCopyTreeKeepsPermissions: a data directory copied from the template
// has the modes PostgreSQL checks (0700 on the directory) and the bytes.
func TestCopyTreeKeepsPermissions(t *testing.T) {
	src := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(src, "base", "1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "base", "1", "112"), []byte("page"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "PG_VERSION"), []byte("15\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copy")
	if err := copyTree(src, dst, nil); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		"":           0o700 | os.ModeDir,
		"base/1":     0o700 | os.ModeDir,
		"base/1/112": 0o600,
		"PG_VERSION": 0o640,
	} {
		info, err := os.Stat(filepath.Join(dst, path))
		if err != nil || info.Mode() != want {
			t.Errorf("%q: %v, %v; want %v", path, info.Mode(), err, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dst, "base", "1", "112")); err != nil || string(b) != "page" {
		t.Errorf("copied file: %q, %v", b, err)
	}
	if err := copyTree(src, dst, nil); err == nil {
		t.Error("copied over an existing directory")
	}
}
