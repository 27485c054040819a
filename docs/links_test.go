package docs

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// root is the repository root, seen from this package's directory.
const root = ".."

// trackedFiles lists the files git tracks, relative to root.
func trackedFiles(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	var files []string
	for f := range strings.SplitSeq(strings.TrimRight(string(out), "\x00"), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	return files
}

// slug is the anchor GitHub gives a Markdown heading: lower case, without
// punctuation other than "-" and "_", spaces as "-".
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

var headingRE = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)

// anchors returns the heading anchors of a Markdown file, code blocks left
// out; repeated headings get -1, -2 … as on GitHub.
func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, h := range headingRE.FindAllStringSubmatch(withoutCodeBlocks(string(b)), -1) {
		s := slug(h[1])
		a := s
		for n := 1; out[a]; n++ {
			a = s + "-" + string(rune('0'+n))
		}
		out[a] = true
	}
	return out
}

// withoutCodeBlocks blanks fenced code blocks, whose "#" lines are not
// headings.
func withoutCodeBlocks(s string) string {
	var b strings.Builder
	in := false
	for line := range strings.SplitSeq(s, "\n") {
		if strings.HasPrefix(line, "```") {
			in = !in
			b.WriteString("\n")
			continue
		}
		if !in {
			b.WriteString(line)
		}
		b.WriteString("\n")
	}
	return b.String()
}

var (
	// mdLinkRE finds the targets of Markdown links.
	mdLinkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// docRefRE finds citations of a page of docs/ in any text, e.g. a Go
	// comment "see docs/asset-serving.md#html-handling".
	docRefRE = regexp.MustCompile(`docs/([a-z0-9-]+\.md)(#[A-Za-z0-9_-]+)?`)
)

// TestLinks checks that every relative link of the Markdown files leads to
// a file that exists, and to a heading of it when it names one; and that
// every citation of a docs/ page anywhere in the repository does too, so
// comments can point at "docs/asset-serving.md#html-handling" and know the
// section is still there.
func TestLinks(t *testing.T) {
	cache := map[string]map[string]bool{}
	check := func(from, target string) {
		t.Helper()
		file, frag, _ := strings.Cut(target, "#")
		path := filepath.Join(root, filepath.Dir(from), file)
		if file == "" {
			path = filepath.Join(root, from)
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: link to %s: no such file", from, target)
			return
		}
		if frag == "" || !strings.HasSuffix(path, ".md") {
			return
		}
		if cache[path] == nil {
			cache[path] = anchors(t, path)
		}
		if !cache[path][frag] {
			t.Errorf("%s: link to %s: %s has no heading with that anchor", from, target, path)
		}
	}
	for _, f := range trackedFiles(t) {
		if strings.HasPrefix(f, ".ci/") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue // deleted in the work tree
		}
		text := string(b)
		if strings.HasSuffix(f, ".md") {
			for _, m := range mdLinkRE.FindAllStringSubmatch(withoutCodeBlocks(text), -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				check(f, target)
			}
		}
		for _, m := range docRefRE.FindAllStringSubmatch(text, -1) {
			check(".", "docs/"+m[1]+m[2])
		}
	}
}
