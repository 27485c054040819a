package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// AssetsIgnoreFile is the name of the gitignore-style file at the root of a
// site directory that lists files not to upload.
const AssetsIgnoreFile = ".assetsignore"

// ConfigFiles are read from the root of a site directory as configuration and
// are never uploaded as assets.
var ConfigFiles = []string{"_redirects", "_headers", AssetsIgnoreFile}

// ProjectFile is cfdeploy's project file. It is left out at any depth by
// default: its [env] table is where people put secrets.
const ProjectFile = "cfdeploy.toml"

// WellKnownDir is the one dot-directory published by default: at the site
// root it holds RFC 8615 files (security.txt, ACME challenges, app links)
// that are public by design.
const WellKnownDir = ".well-known"

// Reasons Walk gives for what it left out (Tree.Ignored).
const (
	ReasonAlways      = "never uploaded"
	ReasonDotfile     = "dotfiles stay private unless a \"!\" line in " + AssetsIgnoreFile + " names them"
	ReasonProjectFile = "cfdeploy's project file stays private unless a \"!\" line in " + AssetsIgnoreFile + " names it"
)

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
//
// Patterns follow gitignore(5) as git itself applies them (checked against
// git check-ignore): the last matching pattern wins, "!" re-includes, a
// trailing "/" matches directories only, a pattern with a "/" anywhere but
// at its end is anchored to the site root while one without matches a name
// at any depth, "**" spans directories, and nothing below an excluded
// directory can be re-included. Two quirks of git's code that its
// documentation does not describe are not copied: there "a**/b" also
// matches "a/x/b", and "**\/b" needs at least one directory before b.
//
// Letters match in either case, as wrangler's matcher (the npm package
// ignore) does by default: "*.psd" leaves out "Mockup.PSD" there, and a
// file a user meant to keep private must not be uploaded here instead.
type Ignorer struct {
	rules []ignoreRule
	// caseSensitive matches letters exactly, as git does on Linux; tests
	// set it to compare with git check-ignore.
	caseSensitive bool
	// gitOnly applies the patterns alone, without the private-by-default
	// names (dotfiles, cfdeploy.toml); tests set it to compare with git.
	gitOnly bool
	// Skipped lists .assetsignore lines that could not be compiled (an
	// unbalanced "[" for example). git never matches such a line, so
	// leaving it out changes nothing; it is kept to tell the user.
	Skipped []string
	// leaveOut are paths (relative, slash-separated) left out whatever the
	// patterns say, with the reason; see LeaveOut.
	leaveOut map[string]string
}

// PagesFiles are a Cloudflare Pages project's server code and routing at
// the root of its output directory: never served, whether or not the
// deploy uses them (a _worker.js, file or directory, is private code).
var PagesFiles = map[string]string{
	"_worker.js":   "Pages server code: compiled into the deployment's server code, never served",
	"_routes.json": "Pages routing: read as configuration, never served",
}

// LeaveOut leaves the file or directory rel (relative to the site root,
// slash-separated) out of the deployment whatever .assetsignore says, with
// reason shown by a dry run: a deploy uses it to keep its own inputs (a
// functions/ directory inside the site) private.
func (ig *Ignorer) LeaveOut(rel, reason string) {
	if ig.leaveOut == nil {
		ig.leaveOut = map[string]string{}
	}
	ig.leaveOut[rel] = reason
}

// ignoreRule is one compiled .assetsignore line.
type ignoreRule struct {
	// segs are the pattern's "/"-separated parts, each a glob for one path
	// segment; "**" stands for any number of segments. A rule without a
	// "/" has one part and is matched against the last segment only.
	segs     []string
	anywhere bool // no "/" in the pattern: match the base name at any depth
	dirOnly  bool // the pattern ended in "/"
	negate   bool // the pattern began with "!"
	line     int  // 1-based line number in .assetsignore, for reasons
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
	text := strings.TrimPrefix(string(b), "\uFEFF") // git skips a byte order mark
	return NewIgnorer(strings.Split(text, "\n")), nil
}

// NewIgnorer compiles gitignore-syntax lines, in order. Lines that are not
// valid patterns are dropped and recorded in Skipped.
func NewIgnorer(lines []string) *Ignorer {
	ig := &Ignorer{}
	for i, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		r, ok := compileIgnoreRule(line)
		if !ok {
			ig.Skipped = append(ig.Skipped, line)
			continue
		}
		r.line = i + 1
		if r.segs != nil {
			ig.rules = append(ig.rules, r)
		}
	}
	return ig
}

// compileIgnoreRule parses one line the way git does. Blank lines,
// comments and patterns that can match nothing give a rule without segs;
// ok is false for a malformed glob.
func compileIgnoreRule(line string) (r ignoreRule, ok bool) {
	if line == "" || line[0] == '#' {
		return r, true
	}
	p := trimTrailingSpaces(line)
	if strings.HasPrefix(p, "!") {
		r.negate = true
		p = p[1:]
	}
	if strings.HasSuffix(p, "/") {
		r.dirOnly = true
		p = p[:len(p)-1]
	}
	if !strings.Contains(p, "/") {
		r.anywhere = true
		if p == "" {
			return r, true
		}
		if !validGlob(p) {
			return r, false
		}
		r.segs = []string{p}
		return r, true
	}
	p = strings.TrimPrefix(p, "/")
	segs, ok := splitPattern(p)
	if !ok {
		return r, false
	}
	for i, s := range segs {
		if strings.Trim(s, "*") == "" && len(s) >= 2 {
			segs[i] = "**" // "***" is "**" too
		} else if !validGlob(s) {
			return r, false
		}
	}
	if p != "" {
		r.segs = segs
	}
	return r, true
}

// trimTrailingSpaces drops unescaped trailing spaces ("a\ " keeps one),
// like git's trim_trailing_spaces.
func trimTrailingSpaces(s string) string {
	end := len(s)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ':
			if end == len(s) {
				end = i
			}
			continue
		case '\\':
			i++
		}
		end = len(s)
	}
	return s[:end]
}

// splitPattern splits p at every "/" outside a bracket expression,
// including an escaped one ("\/"), which wildmatch takes as a literal slash
// all the same. ok is false for a malformed bracket expression.
func splitPattern(p string) (segs []string, ok bool) {
	start := 0
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '/':
			segs = append(segs, p[start:i])
			start = i + 1
		case p[i] == '\\' && i+1 < len(p) && p[i+1] == '/':
			segs = append(segs, p[start:i])
			start = i + 2
			i++
		case p[i] == '\\':
			i++
		case p[i] == '[':
			end, _ := matchClass(p, i, 0, false)
			if end < 0 {
				return nil, false
			}
			i = end - 1
		}
	}
	return append(segs, p[start:]), true
}

// Ignored reports whether the slash-separated path rel (relative to the site
// root, no leading slash) is left out: rel itself or a directory above it is
// excluded. isDir marks directories, which patterns ending in "/" match.
func (ig *Ignorer) Ignored(rel string, isDir bool) bool {
	for i := 0; i < len(rel); i++ {
		if rel[i] == '/' && ig.excluded(rel[:i], true) {
			return true
		}
	}
	return ig.excluded(rel, isDir)
}

// excluded is Ignored for a path whose parent directories are known not to
// be excluded, as in a walk that does not descend into excluded ones.
func (ig *Ignorer) excluded(rel string, isDir bool) bool {
	out, _ := ig.exclusion(rel, isDir)
	return out
}

// exclusion is excluded with the reason, empty for the configuration files
// at the root (they are sent, as configuration, not left out). The
// .assetsignore patterns come first, so a "!" line can publish a dotfile;
// the private-by-default names apply only when no pattern matches.
func (ig *Ignorer) exclusion(rel string, isDir bool) (bool, string) {
	base := rel[strings.LastIndexByte(rel, '/')+1:]
	if alwaysIgnored[base] {
		return true, ReasonAlways
	}
	if !isDir && base == rel && slices.Contains(ConfigFiles, rel) {
		return true, ""
	}
	if reason, ok := PagesFiles[rel]; ok && (!isDir || rel == "_worker.js") {
		return true, reason
	}
	if ig == nil {
		ig = &Ignorer{}
	}
	if reason, ok := ig.leaveOut[rel]; ok {
		return true, reason
	}
	for i := len(ig.rules) - 1; i >= 0; i-- {
		r := &ig.rules[i]
		if r.dirOnly && !isDir {
			continue
		}
		fold := !ig.caseSensitive
		if r.anywhere && matchGlob(r.segs[0], base, fold) || !r.anywhere && matchSegments(r.segs, rel, fold) {
			if r.negate {
				return false, ""
			}
			return true, fmt.Sprintf("%s line %d", AssetsIgnoreFile, r.line)
		}
	}
	if ig.gitOnly {
		return false, ""
	}
	switch {
	case base == ProjectFile && !isDir:
		return true, ReasonProjectFile
	case base[0] == '.' && !(isDir && rel == WellKnownDir):
		return true, ReasonDotfile
	}
	return false, ""
}

// matchSegments reports whether the pattern parts segs match the whole of
// the non-empty slash-separated path name.
func matchSegments(segs []string, name string, fold bool) bool {
	for i, s := range segs {
		if s == "**" {
			rest := segs[i+1:]
			if len(rest) == 0 {
				return true // "dir/**": anything below, and name is not empty
			}
			for { // "**/" takes zero or more whole segments
				if matchSegments(rest, name, fold) {
					return true
				}
				j := strings.IndexByte(name, '/')
				if j < 0 {
					return false
				}
				name = name[j+1:]
			}
		}
		seg, tail, more := strings.Cut(name, "/")
		if !matchGlob(s, seg, fold) {
			return false
		}
		if !more {
			return i == len(segs)-1
		}
		name = tail
	}
	return false // the path goes on past the pattern
}

// matchGlob matches one path segment against a glob, byte by byte as git's
// wildmatch does: "*" is any run of bytes, "?" one byte, "[...]" a class,
// and "\" quotes the next byte. With fold, ASCII letters match in either
// case. The glob must have passed validGlob.
func matchGlob(glob, name string, fold bool) bool {
	gi, ni := 0, 0
	star, starNi := -1, 0 // the last "*" seen and where its match ends
	for gi < len(glob) || ni < len(name) {
		if gi < len(glob) && ni < len(name) {
			switch c := glob[gi]; c {
			case '*':
				star, starNi = gi, ni
				gi++
				continue
			case '?':
				gi++
				ni++
				continue
			case '[':
				if end, ok := matchClass(glob, gi, name[ni], fold); ok {
					gi = end
					ni++
					continue
				}
			case '\\':
				if sameByte(glob[gi+1], name[ni], fold) {
					gi += 2
					ni++
					continue
				}
			default:
				if sameByte(c, name[ni], fold) {
					gi++
					ni++
					continue
				}
			}
		} else if gi < len(glob) && glob[gi] == '*' {
			gi++
			continue
		}
		if star < 0 || starNi == len(name) {
			return false
		}
		starNi++ // let the last "*" take one more byte
		gi, ni = star+1, starNi
	}
	return true
}

// validGlob reports whether glob is well formed: every "[" closed, every
// "[:class:]" known, no "\" at the end. git never matches any other glob.
func validGlob(glob string) bool {
	for i := 0; i < len(glob); i++ {
		switch glob[i] {
		case '\\':
			if i++; i == len(glob) {
				return false
			}
		case '[':
			end, _ := matchClass(glob, i, 0, false)
			if end < 0 {
				return false
			}
			i = end - 1
		}
	}
	return true
}

// matchClass reads the bracket expression starting at glob[i] == '[' and
// reports whether it matches c, and where it ends (-1 when malformed). It
// follows wildmatch: "!" or "^" negates, a leading "]" is literal, "a-z" is
// a range unless "-" is first or last, "\" quotes, and "[:alpha:]" and the
// other POSIX classes are known. With fold, c is in the set when either of
// its cases is, before any negation ("[!a]" matches neither a nor A).
func matchClass(glob string, i int, c byte, fold bool) (end int, matched bool) {
	alt := c
	if fold {
		alt = otherCase(c)
	}
	i++
	negated := false
	if i < len(glob) && (glob[i] == '!' || glob[i] == '^') {
		negated = true
		i++
	}
	var prev byte // the last literal, for a range; 0 after a range or class
	for first := true; first || i < len(glob) && glob[i] != ']'; first = false {
		if i >= len(glob) {
			return -1, false
		}
		ch := glob[i]
		switch {
		case ch == '\\':
			if i++; i == len(glob) {
				return -1, false
			}
			ch = glob[i]
			matched = matched || c == ch || alt == ch
		case ch == '-' && prev != 0 && i+1 < len(glob) && glob[i+1] != ']':
			i++
			hi := glob[i]
			if hi == '\\' {
				if i++; i == len(glob) {
					return -1, false
				}
				hi = glob[i]
			}
			matched = matched || prev <= c && c <= hi || prev <= alt && alt <= hi
			ch = 0
		case ch == '[' && i+1 < len(glob) && glob[i+1] == ':':
			name, _, found := strings.Cut(glob[i+2:], "]")
			if !found {
				return -1, false
			}
			if !strings.HasSuffix(name, ":") {
				// No ":]": an ordinary "[" in the set.
				matched = matched || c == '['
				break
			}
			in, known := inPOSIXClass(name[:len(name)-1], c)
			if !known {
				return -1, false
			}
			inAlt, _ := inPOSIXClass(name[:len(name)-1], alt)
			matched = matched || in || inAlt
			i += 2 + len(name)
			ch = 0
		default:
			matched = matched || c == ch || alt == ch
		}
		prev = ch
		i++
	}
	if i >= len(glob) {
		return -1, false
	}
	return i + 1, matched != negated
}

// inPOSIXClass reports whether c is in the named "[:class:]" (ASCII only,
// as in git), and whether the name is one git knows.
func inPOSIXClass(name string, c byte) (in, known bool) {
	lower := 'a' <= c && c <= 'z'
	upper := 'A' <= c && c <= 'Z'
	digit := '0' <= c && c <= '9'
	graph := '!' <= c && c <= '~'
	switch name {
	case "alnum":
		return lower || upper || digit, true
	case "alpha":
		return lower || upper, true
	case "blank":
		return c == ' ' || c == '\t', true
	case "cntrl":
		return c < ' ' || c == 0x7f, true
	case "digit":
		return digit, true
	case "graph":
		return graph, true
	case "lower":
		return lower, true
	case "print":
		return graph || c == ' ', true
	case "punct":
		return graph && !lower && !upper && !digit, true
	case "space":
		return c == ' ' || c == '\t' || c == '\n' || c == '\r', true
	case "upper":
		return upper, true
	case "xdigit":
		return digit || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F', true
	}
	return false, false
}

// sameByte compares a glob byte with a path byte, ASCII letters in either
// case with fold.
func sameByte(g, c byte, fold bool) bool {
	return g == c || fold && otherCase(g) == c
}

// otherCase is c in the other case for an ASCII letter, else c.
func otherCase(c byte) byte {
	switch {
	case 'a' <= c && c <= 'z':
		return c - 'a' + 'A'
	case 'A' <= c && c <= 'Z':
		return c - 'A' + 'a'
	}
	return c
}
