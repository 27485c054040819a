package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// File is one regular file of a site directory that would be deployed.
type File struct {
	// Path is the asset path: "/" plus the slash-separated path relative
	// to the site root, byte-exact.
	Path string
	// OSPath is the file to read. For a symlink it is the resolved target,
	// so the hash cache and the uploader see the real file.
	OSPath  string
	Size    int64
	ModTime time.Time
	// Hash is the SHA-256 of the contents in lowercase hex, filled by
	// HashFiles; empty after Walk.
	Hash string
}

// Skip records a directory entry that Walk left out for a reason the user
// may want to hear about (ignored files are not reported).
type Skip struct {
	Path   string // asset-style path of the entry
	Reason string
}

// Tree is the result of walking a site directory.
type Tree struct {
	Root    string // absolute path of the site directory
	Files   []File // sorted by Path
	Skipped []Skip // symlinks leaving the root, special files, …; sorted by Path
	// Ignored lists what the ignore rules left out, with the rule (a
	// pruned directory is one entry); sorted by Path. The configuration
	// files at the root are not in it: they are sent as configuration.
	Ignored []Skip
}

// Walk lists the regular files of dir that a deployment would hold, in Path
// order. It skips what Ignorer ignores, follows symlinks to files only when
// the target stays inside dir (so a deploy can never publish ~/.ssh by way of
// a stray link), does not follow symlinks to directories, and leaves out
// sockets, devices and pipes. Paths are not validated here; see Validate.
//
// Directories are read and their files stat'ed on all cores, each file
// relative to its open directory where the platform allows it: on a warm
// deploy, where the hash cache answers every file, this walk is most of the
// work left.
func Walk(dir string, ig *Ignorer) (*Tree, error) {
	return walkWith(dir, ig, openDirFast)
}

// walkWith is Walk with the directory reader as a parameter, so tests can
// hold the portable reader to the same results as the fast one.
func walkWith(dir string, ig *Ignorer, open openDirFunc) (*Tree, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", dir, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("open site directory: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("site directory %s is not a directory", dir)
	}
	realRoot, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", dir, err)
	}
	w := &walker{
		rootLen:  len(strings.TrimSuffix(abs, string(filepath.Separator))),
		realRoot: realRoot,
		ig:       ig,
		open:     open,
		queue:    []walkJob{{dir: abs, root: true}},
	}
	w.cond = sync.NewCond(&w.mu)
	return w.run(abs)
}

// HostDatabase is the file that marks a cfhost data directory (next to
// its api-token file).
const HostDatabase = "cfhost.db"

// HostDataFile returns the asset path of the first cfhost database among
// files, or "". A site directory that holds one is the wrong directory:
// cfhost's default data directory is created where it starts, which is
// easily inside a project.
func HostDataFile(files []File) string {
	for _, f := range files {
		base := f.Path[strings.LastIndexByte(f.Path, '/')+1:]
		if base == HostDatabase || base == HostDatabase+"-wal" {
			return f.Path
		}
	}
	return ""
}

// statChunk is how many files of one directory a worker stats before the
// rest of the directory is shared out, so that one huge flat directory
// still keeps every core busy.
const statChunk = 256

// walker is the state of one parallel Walk: a queue of directories to read
// and of file batches to stat, shared by the workers.
type walker struct {
	rootLen  int    // length of the root's OS path without a trailing separator
	realRoot string // the root with symlinks resolved, for followLink
	ig       *Ignorer
	open     openDirFunc

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []walkJob
	active int // workers holding a job
	err    error
}

// walkJob is a directory to read or a batch of its files to stat.
type walkJob struct {
	dir   string // OS path of a directory to read, when batch is nil
	root  bool   // dir is the site root: it may be reached through a symlink
	batch *statBatch
}

// statBatch is part of one directory's regular files, whose Size and
// ModTime are still to be filled in relative to the open directory d.
type statBatch struct {
	d     *openDir
	files []File
}

// openDir is a directory kept open while batches of its files are stat'ed;
// the last batch to finish closes it.
type openDir struct {
	h      dirHandle
	dirLen int // length of the directory's OS path, to cut names out of OSPath
	refs   atomic.Int32
}

func (d *openDir) release() {
	if d.refs.Add(-1) == 0 {
		d.h.close()
	}
}

// walkResult is what one worker found.
type walkResult struct {
	files   [][]File // per directory; filled in place by whoever stats them
	skipped []Skip
	ignored []Skip
}

func (w *walker) run(abs string) (*Tree, error) {
	workers := max(runtime.GOMAXPROCS(0)*2, 2)
	results := make([]walkResult, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.work(&results[i])
		}()
	}
	wg.Wait()
	if w.err != nil {
		for _, j := range w.queue { // batches never taken after the failure
			if j.batch != nil {
				j.batch.d.release()
			}
		}
		return nil, w.err
	}
	// Each directory's files are already sorted (by the worker that read
	// it); laid end to end in the order of their first paths they are
	// usually sorted as a whole, which the final sort checks in linear
	// time. Only names with bytes below '/' ("a.b" next to "a/") interleave
	// directories and leave it real work.
	var runs [][]File
	t := &Tree{Root: abs}
	for _, r := range results {
		runs = append(runs, r.files...)
		t.Skipped = append(t.Skipped, r.skipped...)
		t.Ignored = append(t.Ignored, r.ignored...)
	}
	slices.SortFunc(runs, func(a, b []File) int { return strings.Compare(a[0].Path, b[0].Path) })
	n := 0
	for _, r := range runs {
		n += len(r)
	}
	t.Files = make([]File, 0, n)
	for _, r := range runs {
		t.Files = append(t.Files, r...)
	}
	slices.SortFunc(t.Files, byPath)
	slices.SortFunc(t.Skipped, func(a, b Skip) int { return strings.Compare(a.Path, b.Path) })
	slices.SortFunc(t.Ignored, func(a, b Skip) int { return strings.Compare(a.Path, b.Path) })
	return t, nil
}

// walkWorker is one worker's state; its buffers are reused from one
// directory to the next.
type walkWorker struct {
	*walker
	res   *walkResult
	buf   []byte    // directory entries as read
	path  []byte    // the OS path being built
	files []File    // the current directory's regular files
	found []walkJob // jobs the current one produced
}

// work takes jobs until the queue is empty and no other worker can add to
// it, or until a job fails.
func (w *walker) work(res *walkResult) {
	ww := &walkWorker{walker: w, res: res, buf: make([]byte, 32<<10)}
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && w.active > 0 && w.err == nil {
			w.cond.Wait()
		}
		if len(w.queue) == 0 || w.err != nil {
			w.mu.Unlock()
			w.cond.Broadcast()
			return
		}
		j := w.queue[len(w.queue)-1]
		w.queue = w.queue[:len(w.queue)-1]
		w.active++
		w.mu.Unlock()

		var err error
		ww.found = ww.found[:0]
		if j.batch != nil {
			err = w.stat(j.batch)
		} else {
			err = ww.readDir(j)
		}

		w.mu.Lock()
		w.active--
		if err != nil && w.err == nil {
			w.err = err
		}
		w.queue = append(w.queue, ww.found...)
		w.mu.Unlock()
		w.cond.Broadcast()
	}
}

// readDir lists one directory: subdirectories and batches of files to stat
// become jobs in ww.found, symlinks and special files are settled at once.
// The directory's first batch is stat'ed here, without a round trip through
// the queue.
func (ww *walkWorker) readDir(j walkJob) error {
	h, err := ww.open(j.dir, !j.root, ww.buf)
	if err != nil {
		return fmt.Errorf("walk %s: %w", j.dir, err)
	}
	dirLen := len(j.dir)
	if j.root {
		dirLen = ww.rootLen
	}
	ww.files = ww.files[:0]
	err = h.each(func(name []byte, kind entryKind) error {
		ww.path = append(ww.path[:0], j.dir[:dirLen]...)
		ww.path = append(ww.path, filepath.Separator)
		ww.path = append(ww.path, name...)
		osPath := string(ww.path)
		assetPath := osPath[ww.rootLen:]
		if filepath.Separator != '/' {
			assetPath = filepath.ToSlash(assetPath)
		}
		rel := assetPath[1:]
		if kind == kindUnknown {
			fi, err := h.lstat(osPath[dirLen+1:], osPath)
			if err != nil {
				return fmt.Errorf("stat %s: %w", assetPath, err)
			}
			kind = fi.kind
		}
		// An excluded directory is pruned whole: git never re-includes
		// anything below one, so its parents need no checking here.
		// A directory is excluded only by patterns that match it, not
		// by ones that match its contents ("d/*" leaves d to walk).
		if out, reason := ww.ig.exclusion(rel, kind == kindDir); out {
			if reason != "" {
				if kind == kindDir {
					assetPath += "/"
				}
				ww.res.ignored = append(ww.res.ignored, Skip{Path: assetPath, Reason: reason})
			}
			return nil
		}
		switch kind {
		case kindDir:
			ww.found = append(ww.found, walkJob{dir: osPath})
		case kindFile:
			// Size and mtime come in batches, below.
			ww.files = append(ww.files, File{Path: assetPath, OSPath: osPath})
		case kindSymlink:
			f, reason, err := followLink(ww.realRoot, osPath)
			if err != nil {
				return err
			}
			if reason != "" {
				ww.res.skipped = append(ww.res.skipped, Skip{Path: assetPath, Reason: reason})
				return nil
			}
			f.Path = assetPath
			ww.res.files = append(ww.res.files, []File{f})
		default:
			ww.res.skipped = append(ww.res.skipped, Skip{Path: assetPath, Reason: "not a regular file"})
		}
		return nil
	})
	if err != nil || len(ww.files) == 0 {
		h.close()
		if err != nil {
			return fmt.Errorf("walk %s: %w", j.dir, err)
		}
		return nil
	}
	// One allocation of the exact size per directory, rather than the
	// doublings of append: the heap of a 10,000-file walk is mostly these.
	files := slices.Clone(ww.files)
	slices.SortFunc(files, byPath)
	ww.res.files = append(ww.res.files, files)
	d := &openDir{h: h, dirLen: dirLen}
	d.refs.Store(int32((len(files) + statChunk - 1) / statChunk))
	for lo := statChunk; lo < len(files); lo += statChunk {
		ww.found = append(ww.found, walkJob{batch: &statBatch{d: d, files: files[lo:min(lo+statChunk, len(files))]}})
	}
	return ww.stat(&statBatch{d: d, files: files[:min(statChunk, len(files))]})
}

// stat fills Size and ModTime of a batch of regular files. A file that is
// no longer a regular file was swapped while we walked; deploying it could
// follow a new symlink out of the site, so that is an error.
func (w *walker) stat(b *statBatch) error {
	defer b.d.release()
	for i := range b.files {
		f := &b.files[i]
		fi, err := b.d.h.lstat(f.OSPath[b.d.dirLen+1:], f.OSPath)
		if err != nil {
			return fmt.Errorf("stat %s: %w", f.Path, err)
		}
		if fi.kind != kindFile {
			return fmt.Errorf("%s changed while the site was being read; run the deploy again", f.Path)
		}
		f.Size, f.ModTime = fi.size, fi.mtime
	}
	return nil
}

// byPath orders files by Path, the order of Tree.Files.
func byPath(a, b File) int { return strings.Compare(a.Path, b.Path) }

// entryKind is the type of a directory entry, as far as the walk cares.
type entryKind uint8

const (
	kindUnknown entryKind = iota // the directory listing does not say; lstat
	kindFile
	kindDir
	kindSymlink
	kindOther // sockets, devices, pipes
)

// kindOf maps a file mode to an entryKind.
func kindOf(m fs.FileMode) entryKind {
	switch {
	case m.IsRegular():
		return kindFile
	case m.IsDir():
		return kindDir
	case m&fs.ModeSymlink != 0:
		return kindSymlink
	}
	return kindOther
}

// entryInfo is what the walk needs from an lstat.
type entryInfo struct {
	kind  entryKind
	size  int64
	mtime time.Time
}

// dirHandle is an open directory being walked.
type dirHandle interface {
	// each calls fn with the name and kind of every entry but "." and
	// "..", in no particular order; name is only valid during the call.
	each(fn func(name []byte, kind entryKind) error) error
	// lstat describes the entry name of this directory, whose full OS
	// path is osPath, without following a symlink.
	lstat(name, osPath string) (entryInfo, error)
	close()
}

// openDirFunc opens the directory osPath for the walk; noFollow refuses a
// symlink in its place (only the site root may be reached through one).
// buf is the caller's scratch space for reading entries.
type openDirFunc func(osPath string, noFollow bool, buf []byte) (dirHandle, error)

// portableDir reads a directory with package os alone: the reader on
// platforms without a faster one, and the reference it is tested against.
type portableDir struct{ f *os.File }

func openDirPortable(osPath string, noFollow bool, _ []byte) (dirHandle, error) {
	if noFollow {
		fi, err := os.Lstat(osPath)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s is no longer a directory", osPath)
		}
	}
	f, err := os.Open(osPath)
	if err != nil {
		return nil, err
	}
	return portableDir{f}, nil
}

func (d portableDir) each(fn func(name []byte, kind entryKind) error) error {
	for {
		ents, err := d.f.ReadDir(1024)
		for _, e := range ents {
			if err := fn([]byte(e.Name()), kindOf(e.Type())); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (d portableDir) lstat(_, osPath string) (entryInfo, error) {
	fi, err := os.Lstat(osPath)
	if err != nil {
		return entryInfo{}, err
	}
	return entryInfo{kind: kindOf(fi.Mode()), size: fi.Size(), mtime: fi.ModTime()}, nil
}

func (d portableDir) close() { d.f.Close() }

// followLink resolves the symlink p. It returns the target as a File, or a
// reason to skip it; err is kept for failures that should stop the walk.
func followLink(realRoot, p string) (File, string, error) {
	target, err := filepath.EvalSymlinks(p)
	if errors.Is(err, fs.ErrNotExist) {
		return File{}, "broken symlink", nil
	}
	if err != nil {
		return File{}, "", fmt.Errorf("resolve symlink %s: %w", p, err)
	}
	if !within(realRoot, target) {
		return File{}, "symlink points outside the site directory", nil
	}
	fi, err := os.Stat(target)
	if err != nil {
		return File{}, "", fmt.Errorf("stat %s: %w", target, err)
	}
	if fi.IsDir() {
		return File{}, "symlink to a directory is not followed", nil
	}
	if !fi.Mode().IsRegular() {
		return File{}, "symlink to a special file", nil
	}
	return File{OSPath: target, Size: fi.Size(), ModTime: fi.ModTime()}, "", nil
}

// within reports whether p lies strictly inside root; both must be clean
// absolute paths.
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return false
	}
	return rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// Problem is one reason a file cannot be deployed.
type Problem struct {
	Path    string
	Message string
}

// ValidationError lists every file that breaks the limits or path rules, so
// the user can fix them all at once before anything is sent.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	const show = 10
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("1 file cannot be deployed: ")
	} else {
		fmt.Fprintf(&b, "%d files cannot be deployed: ", len(e.Problems))
	}
	for i, p := range e.Problems {
		if i == show {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-show)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		if p.Path != "" {
			b.WriteString(p.Path + ": ")
		}
		b.WriteString(p.Message)
	}
	return b.String()
}

// Validate checks files against the path rules and lim before any request is
// sent, and returns a *ValidationError naming every offending file. Checking
// on the client too means a 30 MiB file is reported by name at once, not as a
// 413 after minutes of uploading.
func Validate(files []File, lim Limits) error {
	var probs []Problem
	if lim.MaxFiles > 0 && len(files) > lim.MaxFiles {
		probs = append(probs, Problem{Message: fmt.Sprintf("the site has %d files; the limit is %d per deployment (list extra files in %s)", len(files), lim.MaxFiles, AssetsIgnoreFile)})
	}
	for _, f := range files {
		if err := ValidatePath(f.Path); err != nil {
			probs = append(probs, Problem{Path: f.Path, Message: err.Error()})
			continue
		}
		if lim.MaxFileSize > 0 && f.Size > lim.MaxFileSize {
			probs = append(probs, Problem{Path: f.Path, Message: fmt.Sprintf("%s is larger than the %s limit per file (list it in %s to skip it)", FormatBytes(f.Size), FormatBytes(lim.MaxFileSize), AssetsIgnoreFile)})
		}
	}
	if len(probs) > 0 {
		return &ValidationError{Problems: probs}
	}
	return nil
}

// FormatBytes renders n in binary units ("30.0 MiB") for messages.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
