package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	gitignore "github.com/sabhiram/go-gitignore"
)

// AssetsIgnoreFile is the name of the gitignore-style file at the root of a
// site directory that lists files not to upload.
const AssetsIgnoreFile = ".assetsignore"

// ConfigFiles are read from the root of a site directory as configuration and
// are never uploaded as assets (spec/asset-serving.md §1).
var ConfigFiles = []string{"_redirects", "_headers", AssetsIgnoreFile}

// alwaysIgnored names are skipped at any depth: version-control metadata,
// dependency trees, Finder litter, and our own hash cache. Uploading them is
// never what a user wants and can leak secrets.
var alwaysIgnored = map[string]bool{
	".git":         true,
	"node_modules": true,
	".DS_Store":    true,
	CacheDirName:   true,
}

// Ignorer decides which files of a site directory are left out of a
// deployment. The zero value ignores only the built-in names.
type Ignorer struct {
	patterns *gitignore.GitIgnore
	// Skipped lists .assetsignore lines that could not be compiled; they
	// are left out rather than failing the deploy, like git does.
	Skipped []string
}

// LoadIgnorer reads DIR/.assetsignore if it exists. A missing file is not an
// error: the result then ignores only the built-in names.
func LoadIgnorer(dir string) (*Ignorer, error) {
	b, err := os.ReadFile(filepath.Join(dir, AssetsIgnoreFile))
	if errors.Is(err, fs.ErrNotExist) {
		return &Ignorer{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", AssetsIgnoreFile, err)
	}
	return NewIgnorer(strings.Split(string(b), "\n")), nil
}

// NewIgnorer compiles gitignore-syntax lines. Lines the matcher cannot
// compile (an unbalanced "[" for example) are dropped and recorded in
// Skipped instead of causing a panic later.
func NewIgnorer(lines []string) *Ignorer {
	ig := &Ignorer{}
	var good []string
	for _, line := range lines {
		if lineCompiles(line) {
			good = append(good, line)
		} else {
			ig.Skipped = append(ig.Skipped, strings.TrimRight(line, "\r"))
		}
	}
	if len(good) > 0 {
		ig.patterns = gitignore.CompileIgnoreLines(good...)
	}
	return ig
}

// lineCompiles reports whether the gitignore library turns line into a
// usable pattern. The library silently keeps a nil regexp for a line it
// cannot compile and then dereferences it on the first match, so each line is
// tried on its own first.
func lineCompiles(line string) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	gitignore.CompileIgnoreLines(line).MatchesPath("probe")
	return true
}

// Ignored reports whether the slash-separated path rel (relative to the site
// root, no leading slash) is left out. isDir marks directories, which
// gitignore patterns ending in "/" match.
func (ig *Ignorer) Ignored(rel string, isDir bool) bool {
	base := rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		base = rel[i+1:]
	}
	if alwaysIgnored[base] {
		return true
	}
	if !isDir && !strings.Contains(rel, "/") {
		for _, name := range ConfigFiles {
			if rel == name {
				return true
			}
		}
	}
	if ig == nil || ig.patterns == nil {
		return false
	}
	if isDir {
		return ig.patterns.MatchesPath(rel + "/")
	}
	return ig.patterns.MatchesPath(rel)
}
