package host

import (
	"context"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
)

// blobFS is a read-only fs.FS over a deployment's files, whose bytes live in
// the store. Server code sees it at /assets and /modules.
type blobFS struct {
	ctx     context.Context
	store   store.Store
	modTime time.Time
	files   map[string]blobFile      // "a/b.txt" → file
	dirs    map[string][]fs.DirEntry // "a" → entries, "." for the root
}

type blobFile struct {
	name string
	hash string
	size int64
}

// newBlobFS builds the tree of files (path → hash, size). Paths are asset
// paths ("/a/b.txt") or module names ("data.json").
func newBlobFS(st store.Store, modTime time.Time, files map[string]blobFile) *blobFS {
	b := &blobFS{ctx: context.Background(), store: st, modTime: modTime, files: make(map[string]blobFile, len(files)), dirs: map[string][]fs.DirEntry{".": nil}}
	for p, f := range files {
		name := strings.TrimPrefix(p, "/")
		if !fs.ValidPath(name) || name == "." {
			continue // unreachable paths (e.g. with "\") stay out of the tree
		}
		f.name = path.Base(name)
		b.files[name] = f
		b.addEntry(path.Dir(name), fileEntry{f: f, modTime: modTime})
	}
	for _, ents := range b.dirs {
		slices.SortFunc(ents, func(x, y fs.DirEntry) int { return strings.Compare(x.Name(), y.Name()) })
	}
	return b
}

// WithContext returns the same tree whose reads run on ctx: the worker
// mounts it so for each request.
func (b *blobFS) WithContext(ctx context.Context) fs.FS {
	c := *b
	c.ctx = ctx
	return &c
}

// addEntry records e in dir, creating the parent directories on the way.
func (b *blobFS) addEntry(dir string, e fs.DirEntry) {
	_, known := b.dirs[dir]
	b.dirs[dir] = append(b.dirs[dir], e)
	if !known && dir != "." {
		b.addEntry(path.Dir(dir), dirEntry{name: path.Base(dir), modTime: b.modTime})
	}
}

func (b *blobFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if f, ok := b.files[name]; ok {
		ra, size, err := b.store.OpenBlob(b.ctx, f.hash, "")
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &openFile{SectionReader: io.NewSectionReader(ra, 0, size), info: fileEntry{f: f, modTime: b.modTime}}, nil
	}
	if ents, ok := b.dirs[name]; ok {
		return &openDir{info: dirEntry{name: path.Base(name), modTime: b.modTime}, ents: ents}, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

type fileEntry struct {
	f       blobFile
	modTime time.Time
}

func (e fileEntry) Name() string               { return e.f.name }
func (e fileEntry) IsDir() bool                { return false }
func (e fileEntry) Type() fs.FileMode          { return 0 }
func (e fileEntry) Info() (fs.FileInfo, error) { return e, nil }
func (e fileEntry) Size() int64                { return e.f.size }
func (e fileEntry) Mode() fs.FileMode          { return 0o444 }
func (e fileEntry) ModTime() time.Time         { return e.modTime }
func (e fileEntry) Sys() any                   { return nil }

type dirEntry struct {
	name    string
	modTime time.Time
}

func (e dirEntry) Name() string               { return e.name }
func (e dirEntry) IsDir() bool                { return true }
func (e dirEntry) Type() fs.FileMode          { return fs.ModeDir }
func (e dirEntry) Info() (fs.FileInfo, error) { return e, nil }
func (e dirEntry) Size() int64                { return 0 }
func (e dirEntry) Mode() fs.FileMode          { return fs.ModeDir | 0o555 }
func (e dirEntry) ModTime() time.Time         { return e.modTime }
func (e dirEntry) Sys() any                   { return nil }

type openFile struct {
	*io.SectionReader
	info fileEntry
}

func (f *openFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *openFile) Close() error               { return nil }

type openDir struct {
	info dirEntry
	ents []fs.DirEntry
	pos  int
}

func (d *openDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *openDir) Close() error               { return nil }
func (d *openDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: fs.ErrInvalid}
}

func (d *openDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.ents[d.pos:]
	if n <= 0 {
		d.pos = len(d.ents)
		return slices.Clone(rest), nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	k := min(n, len(rest))
	d.pos += k
	return slices.Clone(rest[:k]), nil
}
