package clidoc

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSplice(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
		err             bool
	}{
		{"replaces", "a\n" + Begin("x") + "old\n" + End("x") + "b\n", "a\n" + Begin("x") + "new\n" + End("x") + "b\n", false},
		{"empty region", Begin("x") + End("x"), Begin("x") + "new\n" + End("x"), false},
		{"other name untouched", Begin("y") + "old\n" + End("y"), "", true},
		{"end before begin", End("x") + Begin("x"), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Splice([]byte(tc.doc), "x", "new\n")
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if !tc.err && string(got) != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSyncStale checks that a stale file is reported, left alone without
// write, and fixed with it.
func TestSyncStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doc.md")
	if err := os.WriteFile(path, []byte("# t\n"+Begin("x")+"old\n"+End("x")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Sync(path, "x", "new\n", "go generate", false); !errors.Is(err, ErrStale) {
		t.Fatalf("stale file: err = %v, want ErrStale", err)
	}
	if err := Sync(path, "x", "new\n", "go generate", true); err != nil {
		t.Fatal(err)
	}
	if err := Sync(path, "x", "new\n", "go generate", false); err != nil {
		t.Fatalf("after writing: %v", err)
	}
}
