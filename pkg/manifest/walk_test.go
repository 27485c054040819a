package manifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeTree creates files (slash paths relative to root) with the given
// contents.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func paths(tr *Tree) []string {
	var out []string
	for _, f := range tr.Files {
		out = append(out, f.Path)
	}
	return out
}

func TestWalkIgnores(t *testing.T) {
	tests := []struct {
		name         string
		files        map[string]string
		assetsignore string
		want         []string
	}{
		{
			name: "built-in names",
			files: map[string]string{
				"index.html": "x", ".git/HEAD": "x", "node_modules/a/b.js": "x",
				"sub/.DS_Store": "x", ".DS_Store": "x", "_redirects": "x", "_headers": "x",
				".cfdeploy/cache": "x", ".well-known/security.txt": "x",
			},
			want: []string{"/.well-known/security.txt", "/index.html"},
		},
		{
			name:  "config names only at the root",
			files: map[string]string{"docs/_redirects": "x", "docs/_headers": "x", "docs/.assetsignore": "x"},
			want:  []string{"/docs/_headers", "/docs/_redirects"},
		},
		{
			name: "private by default",
			files: map[string]string{
				"index.html": "x", ".env": "x", ".env.local": "x", ".npmrc": "x", ".htpasswd": "x",
				".ssh/id_rsa": "x", "sub/.dev.vars": "x", "cfdeploy.toml": "x", "sub/cfdeploy.toml": "x",
				".well-known/security.txt": "x", ".well-known/.hidden": "x", "sub/.well-known/x": "x",
			},
			want: []string{"/.well-known/security.txt", "/index.html"},
		},
		{
			name:         "a ! line publishes a dotfile",
			files:        map[string]string{"index.html": "x", ".htaccess": "x", ".env": "x", ".config/a.json": "x", "cfdeploy.toml": "x"},
			assetsignore: "!.htaccess\n!.config/\n!cfdeploy.toml\n",
			want:         []string{"/.config/a.json", "/.htaccess", "/cfdeploy.toml", "/index.html"},
		},
		{
			name:         "assetsignore patterns",
			files:        map[string]string{"a.map": "x", "js/b.js": "x", "js/b.js.map": "x", "drafts/x.html": "x", "keep.html": "x", "secret.env": "x"},
			assetsignore: "*.map\n# comment\ndrafts/\nsecret.env\n",
			want:         []string{"/js/b.js", "/keep.html"},
		},
		{
			name:         "negation re-includes",
			files:        map[string]string{"logs/a.log": "x", "logs/important.log": "x"},
			assetsignore: "*.log\n!important.log\n",
			want:         []string{"/logs/important.log"},
		},
		{
			name:         "anchored pattern",
			files:        map[string]string{"build.txt": "x", "sub/build.txt": "x"},
			assetsignore: "/build.txt\n",
			want:         []string{"/sub/build.txt"},
		},
		{
			name:         "uncompilable line is dropped, not fatal",
			files:        map[string]string{"a[.txt": "x", "b.txt": "x"},
			assetsignore: "a[\nb.txt\n",
			want:         []string{"/a[.txt"},
		},
		{
			name:  "byte-exact names",
			files: map[string]string{"a%20b.html": "x", "dir with space/é.txt": "x"},
			want:  []string{"/a%20b.html", "/dir with space/é.txt"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tc.files)
			if tc.assetsignore != "" {
				writeTree(t, root, map[string]string{".assetsignore": tc.assetsignore})
			}
			ig, err := LoadIgnorer(root)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := Walk(root, ig)
			if err != nil {
				t.Fatal(err)
			}
			if got := paths(tr); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("paths = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestWalkReportsIgnored checks that what the rules leave out is listed
// with the rule, a pruned directory once, and the root's configuration
// files not at all.
func TestWalkReportsIgnored(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"index.html": "x", ".env": "x", ".ssh/id_rsa": "x", ".ssh/id_rsa.pub": "x", "cfdeploy.toml": "x",
		"a.map": "x", ".git/HEAD": "x", "_redirects": "x", ".assetsignore": "# maps\n*.map\n",
	})
	ig, err := LoadIgnorer(root)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Walk(root, ig)
	if err != nil {
		t.Fatal(err)
	}
	want := []Skip{
		{"/.env", ReasonDotfile},
		{"/.git/", ReasonAlways},
		{"/.ssh/", ReasonDotfile},
		{"/a.map", ".assetsignore line 2"},
		{"/cfdeploy.toml", ReasonProjectFile},
	}
	if !reflect.DeepEqual(tr.Ignored, want) {
		t.Errorf("ignored = %+v, want %+v", tr.Ignored, want)
	}
}

func TestHostDataFile(t *testing.T) {
	tests := []struct {
		paths []string
		want  string
	}{
		{[]string{"/index.html"}, ""},
		{[]string{"/a.html", "/cfhost-data/api-token", "/cfhost-data/cfhost.db"}, "/cfhost-data/cfhost.db"},
		{[]string{"/cfhost.db-wal"}, "/cfhost.db-wal"},
		{[]string{"/notcfhost.db"}, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.paths, ","), func(t *testing.T) {
			var files []File
			for _, p := range tt.paths {
				files = append(files, File{Path: p})
			}
			if got := HostDataFile(files); got != tt.want {
				t.Errorf("HostDataFile = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWalkSymlinks(t *testing.T) {
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"secret": "top secret"})
	root := t.TempDir()
	writeTree(t, root, map[string]string{"real/page.html": "hello", "real/sub/x.txt": "x"})
	links := map[string]string{
		"alias.html":  "real/page.html",                      // inside: followed
		"abs.html":    filepath.Join(root, "real/page.html"), // absolute but inside
		"leak":        filepath.Join(outside, "secret"),      // outside: skipped
		"up":          "../" + filepath.Base(outside),        // dir outside
		"dirlink":     "real/sub",                            // dir inside: not followed
		"broken.html": "nope.html",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Skipf("symlinks unsupported: %v", err)
		}
	}
	tr, err := Walk(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/abs.html", "/alias.html", "/real/page.html", "/real/sub/x.txt"}
	if got := paths(tr); !reflect.DeepEqual(got, want) {
		t.Fatalf("paths = %q, want %q", got, want)
	}
	for _, f := range tr.Files {
		if f.Path == "/alias.html" {
			if f.Size != 5 || !strings.HasSuffix(f.OSPath, filepath.Join("real", "page.html")) {
				t.Errorf("alias resolved to %+v", f)
			}
		}
	}
	skipped := map[string]bool{}
	for _, s := range tr.Skipped {
		skipped[s.Path] = true
	}
	for _, p := range []string{"/leak", "/up", "/dirlink", "/broken.html"} {
		if !skipped[p] {
			t.Errorf("%s not reported as skipped: %+v", p, tr.Skipped)
		}
	}
}

func TestWalkErrors(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"file": "x"})
	for _, dir := range []string{filepath.Join(root, "missing"), filepath.Join(root, "file")} {
		if _, err := Walk(dir, nil); err == nil {
			t.Errorf("Walk(%s) succeeded", dir)
		}
	}
}

func TestValidate(t *testing.T) {
	lim := Limits{MaxFileSize: 25 << 20, MaxFiles: 3}
	tests := []struct {
		name      string
		files     []File
		wantPaths []string // paths named by the problems; "" for a whole-site problem
	}{
		{"ok", []File{{Path: "/a", Size: 1}, {Path: "/b", Size: 25 << 20}}, nil},
		{"too big", []File{{Path: "/ok", Size: 1}, {Path: "/video.mp4", Size: 30 << 20}}, []string{"/video.mp4"}},
		{"bad path", []File{{Path: "/a\x01b"}}, []string{"/a\x01b"}},
		{"too many", []File{{Path: "/a"}, {Path: "/b"}, {Path: "/c"}, {Path: "/d"}}, []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.files, lim)
			if tc.wantPaths == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want *ValidationError", err)
			}
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.Path)
			}
			if !reflect.DeepEqual(got, tc.wantPaths) {
				t.Errorf("problem paths = %q, want %q", got, tc.wantPaths)
			}
		})
	}
}

func TestValidateNamesLargeFile(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"index.html": "hi"})
	big, err := os.Create(filepath.Join(root, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Truncate(30 << 20); err != nil { // sparse: no 30 MiB written
		t.Fatal(err)
	}
	big.Close()
	tr, err := Walk(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = Validate(tr.Files, DefaultLimits)
	if err == nil || !strings.Contains(err.Error(), "/big.bin") || !strings.Contains(err.Error(), "30.0 MiB") {
		t.Fatalf("Validate = %v, want it to name /big.bin and its size", err)
	}
}

func TestFormatBytes(t *testing.T) {
	for in, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 30 << 20: "30.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := FormatBytes(in); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", in, got, want)
		}
	}
}

// TestWalkRootThroughSymlink deploys a site directory that is itself a
// symlink (public -> build): its files are listed under the link's path.
func TestWalkRootThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"build/index.html": "hi", "build/css/a.css": "a"})
	link := filepath.Join(dir, "public")
	if err := os.Symlink("build", link); err != nil {
		t.Fatal(err)
	}
	tr, err := Walk(link, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/css/a.css", "/index.html"}; !reflect.DeepEqual(paths(tr), want) {
		t.Fatalf("paths = %q, want %q", paths(tr), want)
	}
	if tr.Files[1].OSPath != filepath.Join(link, "index.html") {
		t.Errorf("OSPath = %s", tr.Files[1].OSPath)
	}
}

// TestWalkJoinsPaths: a trailing separator on the site directory does not
// leak into paths.
func TestWalkJoinsPaths(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"x/y.txt": "y"})
	tr, err := Walk(root+string(filepath.Separator), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Files) != 1 || tr.Files[0].Path != "/x/y.txt" || tr.Files[0].OSPath != filepath.Join(root, "x", "y.txt") {
		t.Fatalf("files = %+v", tr.Files)
	}
}

// BenchmarkWalk lists a tree of the shape of bench/deploy.sh's (10,000
// files in 100 directories), and one flat directory of 10,000 files, which
// the walk must split across cores by stat batches. On a warm deploy this
// is most of the work left once the hash cache answers every file.
func BenchmarkWalk(b *testing.B) {
	for _, shape := range []struct {
		name string
		dirs int
	}{{"100-dirs", 100}, {"flat", 1}} {
		b.Run(shape.name, func(b *testing.B) {
			root := b.TempDir()
			for i := range shape.dirs {
				if err := os.Mkdir(filepath.Join(root, fmt.Sprintf("d%02d", i)), 0o755); err != nil {
					b.Fatal(err)
				}
			}
			for i := range 10000 {
				p := filepath.Join(root, fmt.Sprintf("d%02d", i%shape.dirs), fmt.Sprintf("f%05d.bin", i))
				if err := os.WriteFile(p, []byte{byte(i)}, 0o644); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				tr, err := Walk(root, nil)
				if err != nil {
					b.Fatal(err)
				}
				if len(tr.Files) != 10000 {
					b.Fatalf("walked %d files", len(tr.Files))
				}
			}
		})
	}
}
