package wasmcache

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// name is a directory wazero keeps its files in.
const name = "wazero-dev-amd64-linux"

func TestKeepThenSeed(t *testing.T) {
	t.Setenv("CFDEPLOY_TEST_WASM_CACHE", t.TempDir())
	if wazeroVersion() == "" {
		t.Fatal("no wazero version in go.mod")
	}
	first := t.TempDir()
	write(t, filepath.Join(first, name, "compiled"), "machine code")
	write(t, filepath.Join(first, name, "half.123.tmp"), "being written")
	write(t, filepath.Join(first, "index", "abc"), "not wazero's")
	Keep(first)

	second := filepath.Join(t.TempDir(), "wasm-cache")
	Seed(second)
	if b, err := os.ReadFile(filepath.Join(second, name, "compiled")); err != nil || string(b) != "machine code" {
		t.Fatalf("seeded entry: %q, %v", b, err)
	}
	for _, p := range []string{filepath.Join(name, "half.123.tmp"), "index"} {
		if _, err := os.Stat(filepath.Join(second, p)); !os.IsNotExist(err) {
			t.Fatalf("%s was kept: %v", p, err)
		}
	}
	// Seeding again, or keeping what was seeded, changes nothing.
	Seed(second)
	Keep(second)
	if des, _ := os.ReadDir(filepath.Join(second, name)); len(des) != 1 {
		t.Fatalf("%d entries after a second seed, want 1", len(des))
	}
}

func TestOff(t *testing.T) {
	t.Setenv("CFDEPLOY_TEST_WASM_CACHE", "off")
	dir := t.TempDir()
	write(t, filepath.Join(dir, name, "compiled"), "x")
	Keep(dir)
	other := t.TempDir()
	Seed(other)
	if des, _ := os.ReadDir(other); len(des) != 0 {
		t.Fatalf("seeded with the store off: %v", des)
	}
}

func TestRequiredVersion(t *testing.T) {
	const mod = "github.com/tetratelabs/wazero"
	for _, tc := range []struct{ name, gomod, want string }{
		{"block", "module x\n\nrequire (\n\tgithub.com/tetratelabs/wazero v1.12.0\n)\n", "v1.12.0"},
		{"line", "module x\nrequire github.com/tetratelabs/wazero v1.9.0 // indirect\n", "v1.9.0"},
		{"missing", "module x\nrequire example.com/y v1.0.0\n", ""},
		{"replaced", "module x\nrequire github.com/tetratelabs/wazero v1.12.0\nreplace github.com/tetratelabs/wazero => ../wazero\n", ""},
		{"replaced in a block", "module x\nrequire github.com/tetratelabs/wazero v1.12.0\nreplace (\n\tgithub.com/tetratelabs/wazero v1.12.0 => ../wazero\n)\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := requiredVersion(tc.gomod, mod); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTrimRemovesLeastRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, name, "old"), "0123456789")
	write(t, filepath.Join(dir, name, "new"), "0123456789")
	old := mustStat(t, filepath.Join(dir, name, "new")).ModTime().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, name, "old"), old, old); err != nil {
		t.Fatal(err)
	}
	trim(dir, 15)
	if _, err := os.Stat(filepath.Join(dir, name, "old")); !os.IsNotExist(err) {
		t.Fatalf("the older file survived: %v", err)
	}
	mustStat(t, filepath.Join(dir, name, "new"))
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustStat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info
}
