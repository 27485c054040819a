package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// gitIgnoreCases hold .assetsignore patterns and, for paths under them,
// whether git ignores each one. The expectations are git's own: the
// patterns were written to the .gitignore of a scratch repository, the
// paths created as files (the parents of a path as directories), and each
// path asked with `git check-ignore --no-index` (git 2.39.5), the files
// also cross-checked with `git add -A --dry-run`.
var gitIgnoreCases = []struct {
	name     string
	patterns []string
	files    map[string]bool // file path → ignored
	dirs     map[string]bool // directory path → ignored
}{
	{
		name:     "dir/* does not match dir itself, so a negation re-includes",
		patterns: []string{"d/*", "!d/keep"},
		files:    map[string]bool{"d/keep": false, "d/other": true, "d/sub/x": true},
		dirs:     map[string]bool{"d": false, "d/sub": true},
	},
	{
		name:     "a slash in the middle anchors to the root",
		patterns: []string{"x/y"},
		files:    map[string]bool{"x/y": true, "a/x/y": false, "b/x/y/z": false},
	},
	{
		name:     "an anchored pattern matches a directory too",
		patterns: []string{"x/y"},
		files:    map[string]bool{"x/k": false, "x/y/z": true, "q/x/y/z": false},
		dirs:     map[string]bool{"x": false, "x/y": true, "q/x/y": false},
	},
	{
		name:     "leading **/ matches at any depth",
		patterns: []string{"**/foo"},
		files:    map[string]bool{"foo": true, "a/foo": true, "b/c/foo/x": true, "a/foobar": false, "afoo": false},
		dirs:     map[string]bool{"b/c/foo": true},
	},
	{
		name:     "leading **/ before a path",
		patterns: []string{"**/foo/bar"},
		files:    map[string]bool{"foo/bar": true, "a/b/foo/bar": true, "foo/x/bar": false, "bar": false, "x/bar": false},
	},
	{
		name:     "/**/ matches zero or more directories",
		patterns: []string{"a/**/b"},
		files:    map[string]bool{"a/b": true, "a/x/b": true, "a/x/y/b": true, "c/a/b": false, "a/bb": false, "a/y/b/c": true},
		dirs:     map[string]bool{"a": false, "a/y/b": true},
	},
	{
		name:     "trailing /** matches everything inside, not the directory",
		patterns: []string{"abc/**"},
		files:    map[string]bool{"abc/x": true, "abc/d/y": true, "abcd/x": false, "z/abc/x": false},
		dirs:     map[string]bool{"abc": false, "abc/d": true},
	},
	{
		name:     "** alone matches everything",
		patterns: []string{"**"},
		files:    map[string]bool{"a": true, "d/e/f": true},
	},
	{
		name:     "**/ matches every directory",
		patterns: []string{"**/"},
		files:    map[string]bool{"a": false, "d/e/f": true},
		dirs:     map[string]bool{"d": true},
	},
	{
		name:     "*** is ** too",
		patterns: []string{"***/deep"},
		files:    map[string]bool{"deep": true, "q/deep": true},
	},
	{
		name:     "** inside a segment is a plain *",
		patterns: []string{"a**b"},
		files:    map[string]bool{"axb": true, "ab": true, "d/axyb": true, "a/b": false},
	},
	{
		name:     "trailing slash matches directories only, at any depth",
		patterns: []string{"build/"},
		files:    map[string]bool{"build/x": true, "sub/build/y": true, "other/build": false, "buildx": false},
		dirs:     map[string]bool{"build": true, "other": false},
	},
	{
		name:     "trailing slash does not unanchor",
		patterns: []string{"a/b/"},
		files:    map[string]bool{"a/b/x": true, "c/a/b/x": false, "d/a/b": false},
	},
	{
		name:     "/**/ directories only",
		patterns: []string{"foo/**/"},
		files:    map[string]bool{"foo/a/x": true, "foo/b": false, "foo/c/d/e": true},
		dirs:     map[string]bool{"foo": false, "foo/a": true},
	},
	{
		name:     "**/name/ directories only",
		patterns: []string{"**/cache/"},
		files:    map[string]bool{"cache/x": true, "a/cache/x": true, "b/cache": false},
	},
	{
		name:     "no slash matches files and directories at any depth",
		patterns: []string{"sub"},
		files:    map[string]bool{"sub/x": true, "a/sub": true, "a/subway": false},
	},
	{
		name:     "nothing is re-included below an excluded directory",
		patterns: []string{"logs/", "!logs/keep.log"},
		files:    map[string]bool{"logs/keep.log": true, "logs/a.log": true},
		dirs:     map[string]bool{"logs": true},
	},
	{
		name:     "nothing is re-included below an excluded directory, by a glob either",
		patterns: []string{"logs", "!logs/*"},
		files:    map[string]bool{"logs/keep.log": true},
	},
	{
		name:     "negation at any depth",
		patterns: []string{"*.log", "!important.log"},
		files:    map[string]bool{"a.log": true, "important.log": false, "d/important.log": false, "d/e.log": true},
	},
	{
		name:     "the last matching pattern wins",
		patterns: []string{"!a.txt", "a.txt", "b.txt", "!b.txt"},
		files:    map[string]bool{"a.txt": true, "b.txt": false},
	},
	{
		name:     "re-include a directory",
		patterns: []string{"/*", "!/public/"},
		files:    map[string]bool{"public/x": false, "public/sub/y": false, "y": true, "z/w": true},
		dirs:     map[string]bool{"public": false, "z": true},
	},
	{
		name:     "re-include a subdirectory",
		patterns: []string{"d/*", "!d/sub/"},
		files:    map[string]bool{"d/sub/x": false, "d/other": true},
	},
	{
		name:     "ignore all but html",
		patterns: []string{"*", "!*/", "!*.html"},
		files:    map[string]bool{"index.html": false, "a.css": true, "d/b.html": false, "d/c.js": true},
	},
	{
		name:     "escapes",
		patterns: []string{`\#file`, `\!bang`, "#comment", `\*.txt`},
		files:    map[string]bool{"#file": true, "!bang": true, "#comment": false, "file": false, "bang": false, "*.txt": true, "a.txt": false},
	},
	{
		name:     "trailing spaces are dropped unless escaped",
		patterns: []string{"a.txt   ", `b.txt\ `, `c.txt\  `},
		files:    map[string]bool{"a.txt": true, "b.txt ": true, "b.txt": false, "c.txt ": true, "c.txt": false},
	},
	{
		name:     "a trailing backslash matches nothing",
		patterns: []string{`x\`, `y\  `},
		files:    map[string]bool{"x": false, `x\`: false, "y": false, `y\`: false, "y  ": false},
	},
	{
		name:     "*.ext at any depth",
		patterns: []string{"*.txt"},
		files:    map[string]bool{"a.txt": true, "d/e/f.txt": true, "a.txt.bak": false, "txt": false},
	},
	{
		name:     "leading slash anchors",
		patterns: []string{"/root-only"},
		files:    map[string]bool{"root-only": true, "sub/root-only": false},
	},
	{
		name:     "* does not cross a slash",
		patterns: []string{"/a/*.js"},
		files:    map[string]bool{"a/b.js": true, "a/b/c.js": false, "x/a/b.js": false},
	},
	{
		name:     "? is one byte",
		patterns: []string{"?.js"},
		files:    map[string]bool{"a.js": true, "ab.js": false, "d/a.js": true, "é.js": false},
	},
	{
		name:     "character classes",
		patterns: []string{"file[0-9].md", "[!a]x", "[^b]y", "[[:upper:]]z", "[]]w", "[a-]v", `[\]]u`},
		files: map[string]bool{
			"file1.md": true, "filea.md": false, "bx": true, "ax": false, "ay": true, "by": false,
			"Az": true, "az": false, "]w": true, "-v": true, "av": true, "bv": false, "]u": true, "u": false,
		},
	},
	{
		name:     "character class corners",
		patterns: []string{"[a-c-e]1", "[[:foo:]]2", "[[:alpha:]-]3", "x[!]]4"},
		files: map[string]bool{
			"b1": true, "-1": true, "e1": true, "d1": false, "f2": false, "[2": false,
			"z3": true, "-3": true, "x]4": false, "xa4": true,
		},
	},
	{
		name:     "escaped slash",
		patterns: []string{`a\/b`},
		files:    map[string]bool{"a/b": true},
	},
	{
		name:     "a slash inside brackets anchors but matches no slash",
		patterns: []string{"a[/b]c", "[!a][/b[a-b]"},
		files:    map[string]bool{"abc": true, "d/abc": false, "a/c": false, "ba": true, "d/ba": false, "aa": false},
	},
	{
		name:     "CRLF line ends",
		patterns: []string{"a.txt\r"},
		files:    map[string]bool{"a.txt": true, "b.txt": false},
	},
	{
		name:     "byte order mark",
		patterns: []string{"\uFEFFa.txt", "b.txt"},
		files:    map[string]bool{"a.txt": true, "b.txt": true},
	},
	{
		name:     "unbalanced bracket matches nothing",
		patterns: []string{"a[", "b.txt"},
		files:    map[string]bool{"a[": false, "a[.txt": false, "b.txt": true},
	},
}

// TestIgnoredMatchesGit holds Ignored, and Walk with its pruning, to git's
// answers for the same patterns.
func TestIgnoredMatchesGit(t *testing.T) {
	for _, tc := range gitIgnoreCases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, map[string]string{AssetsIgnoreFile: strings.Join(tc.patterns, "\n") + "\n"})
			ig, err := LoadIgnorer(root)
			if err != nil {
				t.Fatal(err)
			}
			ig.caseSensitive = true // as git on Linux; the default folds case
			ig.gitOnly = true       // git knows no private-by-default names
			for p, want := range tc.files {
				if got := ig.Ignored(p, false); got != want {
					t.Errorf("Ignored(%q, file) = %v, git says %v", p, got, want)
				}
			}
			for p, want := range tc.dirs {
				if got := ig.Ignored(p, true); got != want {
					t.Errorf("Ignored(%q, dir) = %v, git says %v", p, got, want)
				}
			}

			var want []string
			for p, ignored := range tc.files {
				full := filepath.Join(root, filepath.FromSlash(p))
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte(p), 0o644); err != nil {
					t.Skipf("this file system cannot hold %q: %v", p, err)
				}
				if !ignored {
					want = append(want, "/"+p)
				}
			}
			tr, err := Walk(root, ig)
			if err != nil {
				t.Fatal(err)
			}
			got := paths(tr)
			slices.Sort(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Walk found %q, git keeps %q", got, want)
			}
		})
	}
}

// TestIgnoredFoldsCase: letters match in either case, as in wrangler,
// whose matcher is the npm package ignore. Every expectation was printed by
// ignore@7.0.16's ignores() for the same patterns and path.
func TestIgnoredFoldsCase(t *testing.T) {
	tests := []struct {
		patterns []string
		ignored  map[string]bool
	}{
		{[]string{"*.psd"}, map[string]bool{"Mockup.PSD": true, "a/b.Psd": true, "x.psd": true, "x.psdx": false}},
		{[]string{"/Drafts/"}, map[string]bool{"drafts/a.html": true, "DRAFTS/b": true, "x/drafts/c": false}},
		{[]string{"[A-C]*.txt"}, map[string]bool{"b.txt": true, "B.txt": true, "d.txt": false}},
		{[]string{"[!a]x"}, map[string]bool{"Ax": false, "ax": false, "bx": true, "Bx": true}},
		{[]string{"*.log", "!Keep.log"}, map[string]bool{"keep.LOG": false, "other.Log": true}},
		{[]string{"secret/**"}, map[string]bool{"Secret/key.pem": true, "SECRET/a/b": true}},
	}
	for _, tt := range tests {
		ig := NewIgnorer(tt.patterns)
		for p, want := range tt.ignored {
			if got := ig.Ignored(p, false); got != want {
				t.Errorf("%q: Ignored(%q) = %v, want %v", tt.patterns, p, got, want)
			}
		}
	}
}

// TestNewIgnorerSkipped checks that only malformed lines are reported:
// blank lines, comments and patterns that are merely empty are not.
func TestNewIgnorerSkipped(t *testing.T) {
	ig := NewIgnorer([]string{"a[", "ok", "[[:foo:]]", `x\`, "# comment", "", "   ", "!", "/", "b[\r", "[a]"})
	want := []string{"a[", "[[:foo:]]", `x\`, "b["}
	if !reflect.DeepEqual(ig.Skipped, want) {
		t.Errorf("Skipped = %q, want %q", ig.Skipped, want)
	}
	if !ig.Ignored("ok", false) || !ig.Ignored("a", false) {
		t.Errorf("the valid lines around the skipped ones do not apply")
	}
}

// BenchmarkIgnored runs a typical .assetsignore over the 10,000 paths of a
// built site, as the walk of a deploy does.
func BenchmarkIgnored(b *testing.B) {
	ig := NewIgnorer([]string{"*.map", "/drafts/", "**/tmp/**", "!keep.map", "src/*.ts", "*.[Bb][Aa][Kk]", "# notes"})
	paths := make([]string, 10000)
	for i := range paths {
		paths[i] = fmt.Sprintf("assets/d%02d/chunk-%05d.js", i%100, i)
	}
	for b.Loop() {
		for _, p := range paths {
			if ig.Ignored(p, false) {
				b.Fatal(p)
			}
		}
	}
}
