//go:build unix

package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// unknownKinds wraps a directory reader and hides every entry's type, as
// file systems without d_type do, so the walk must lstat to find out.
type unknownKinds struct{ dirHandle }

func (u unknownKinds) each(fn func(name []byte, kind entryKind) error) error {
	return u.dirHandle.each(func(name []byte, _ entryKind) error { return fn(name, kindUnknown) })
}

func openDirUnknownKinds(osPath string, noFollow bool, buf []byte) (dirHandle, error) {
	h, err := openDirFast(osPath, noFollow, buf)
	if err != nil {
		return nil, err
	}
	return unknownKinds{h}, nil
}

// TestWalkReaders holds the fast directory reader, the portable one and a
// reader that never knows entry types to the same tree: big flat
// directories (split into several stat batches), nesting, ignores,
// symlinks and a FIFO.
func TestWalkReaders(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		".assetsignore": "*.map\nskip/\n", "skip/x.html": "x", "a.map": "x",
		"nested/deeper/deepest/leaf.txt": "leaf", "nested/n.txt": "n", "a.b": "dot", "a/b": "slash",
		".git/HEAD": "x", "_headers": "x", "sub/_headers": "kept",
	}
	for i := range 3*statChunk + 7 {
		files[fmt.Sprintf("flat/f%04d.txt", i)] = strings.Repeat("x", i%17)
	}
	writeTree(t, root, files)
	if err := os.Symlink("nested/n.txt", filepath.Join(root, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "out.txt")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	ig, err := LoadIgnorer(root)
	if err != nil {
		t.Fatal(err)
	}
	want, err := walkWith(root, ig, openDirPortable)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(want.Files); n != 3*statChunk+7+6 {
		t.Fatalf("portable reader found %d files: %q", n, paths(want))
	}
	if !slices.IsSortedFunc(want.Files, byPath) {
		t.Errorf("files not in Path order: %q", paths(want))
	}
	for _, f := range want.Files {
		fi, err := os.Stat(f.OSPath)
		if err != nil {
			t.Fatal(err)
		}
		if f.Size != fi.Size() || !f.ModTime.Equal(fi.ModTime()) {
			t.Errorf("%s: size %d mtime %v, want %d %v", f.Path, f.Size, f.ModTime, fi.Size(), fi.ModTime())
		}
	}
	wantSkipped := []Skip{{"/out.txt", "symlink points outside the site directory"}, {"/pipe", "not a regular file"}}
	if !reflect.DeepEqual(want.Skipped, wantSkipped) {
		t.Errorf("skipped = %+v, want %+v", want.Skipped, wantSkipped)
	}
	for name, open := range map[string]openDirFunc{"fast": openDirFast, "unknown kinds": openDirUnknownKinds} {
		t.Run(name, func(t *testing.T) {
			got, err := walkWith(root, ig, open)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("tree differs from the portable reader's:\ngot  %q\nwant %q", paths(got), paths(want))
			}
		})
	}
}
