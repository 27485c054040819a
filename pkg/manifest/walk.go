package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
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
	Skipped []Skip // symlinks leaving the root, special files, …
}

// Walk lists the regular files of dir that a deployment would hold, in Path
// order. It skips what Ignorer ignores, follows symlinks to files only when
// the target stays inside dir (so a deploy can never publish ~/.ssh by way of
// a stray link), does not follow symlinks to directories, and leaves out
// sockets, devices and pipes. Paths are not validated here; see Validate.
func Walk(dir string, ig *Ignorer) (*Tree, error) {
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
	t := &Tree{Root: abs}
	var pending []int // indexes of t.Files still to stat
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		if p == abs {
			return nil
		}
		rel, err := filepath.Rel(abs, p)
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		rel = filepath.ToSlash(rel)
		assetPath := "/" + rel
		if ig.Ignored(rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch mode := d.Type(); {
		case mode.IsDir():
			return nil
		case mode.IsRegular():
			// Size and mtime come later, from statFiles, in parallel.
			t.Files = append(t.Files, File{Path: assetPath, OSPath: p})
			pending = append(pending, len(t.Files)-1)
		case mode&fs.ModeSymlink != 0:
			f, reason, err := followLink(realRoot, p)
			if err != nil {
				return err
			}
			if reason != "" {
				t.Skipped = append(t.Skipped, Skip{Path: assetPath, Reason: reason})
				return nil
			}
			f.Path = assetPath
			t.Files = append(t.Files, f)
		default:
			t.Skipped = append(t.Skipped, Skip{Path: assetPath, Reason: "not a regular file"})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := statFiles(t.Files, pending); err != nil {
		return nil, err
	}
	sort.Slice(t.Files, func(i, j int) bool { return t.Files[i].Path < t.Files[j].Path })
	return t, nil
}

// statFiles fills Size and ModTime of files[i] for every i in idx, on all
// cores: on a warm deploy, where the hash cache answers everything, one
// lstat per file is most of the work left.
func statFiles(files []File, idx []int) error {
	workers := min(runtime.GOMAXPROCS(0)*2, max(len(idx)/256, 1))
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= len(idx) {
					return
				}
				f := &files[idx[k]]
				fi, err := os.Lstat(f.OSPath)
				if err != nil {
					errs[w] = fmt.Errorf("stat %s: %w", f.Path, err)
					return
				}
				f.Size, f.ModTime = fi.Size(), fi.ModTime()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

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
