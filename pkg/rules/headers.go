package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// HeaderField is one header a _headers block sets. Name is lower-case.
type HeaderField struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// HeaderRule is one block of a _headers file: a path pattern, the headers
// it sets (in first-appearance order, repeated names already joined with
// ", ") and the header names it removes ("! Name" lines).
type HeaderRule struct {
	Path  string        `json:"path"`
	Set   []HeaderField `json:"set,omitempty"`
	Unset []string      `json:"unset,omitempty"`
	Line  int           `json:"line"`
}

// Headers is a parsed _headers file: its blocks in the order they apply.
type Headers struct {
	Rules []HeaderRule `json:"rules"`
}

// ParseHeaders parses the text of a _headers file the way Cloudflare does at
// deploy time (docs/asset-serving.md#_headers). Invalid lines are skipped
// with a warning; header lines under an invalid path are skipped silently, as
// upstream. A block whose path repeats an earlier one replaces it in the
// earlier position.
//
// Beyond upstream, a header name that is not an HTTP token, a value with a
// control character, and the framing headers Content-Length,
// Transfer-Encoding and Connection are skipped with a warning: upstream
// would fail every matching response at runtime instead.
//
// The error is non-nil, with code api.CodeInvalid, when the text is larger
// than MaxRulesFileBytes or has more blocks than upstream keeps; the
// returned rules are still what upstream would keep. A path over the limits
// of RuleCostProblem is an error too, naming its line; its block is left
// out.
func ParseHeaders(text string) (*Headers, []api.Warning, error) {
	var (
		rules    []HeaderRule
		pending  *HeaderRule
		skipping bool // header lines under an invalid path line
	)
	lines, total, warns, limitErr := ruleLines("_headers", text)
	warn := func(n int, format string, args ...any) {
		warns = append(warns, api.Warning{File: "_headers", Line: n, Message: fmt.Sprintf(format, args...)})
	}
	push := func() {
		if pending == nil {
			return
		}
		if len(pending.Set) > 0 || len(pending.Unset) > 0 {
			rules = append(rules, *pending)
		} else {
			warn(pending.Line, "no headers specified for %s", pending.Path)
		}
		pending = nil
	}
	for _, l := range lines {
		n, line := l.n, l.text
		if isPathLine(line) {
			// Upstream counts rules before pushing the pending block, so
			// one more block than the limit survives.
			if len(rules) >= MaxHeaderRules {
				warn(n, "more than %d rules; the remaining %d lines are skipped", MaxHeaderRules, total-n+1)
				limitErr = api.Errorf(api.CodeInvalid, "_headers has more than %d rules", MaxHeaderRules)
				break
			}
			push()
			path, msg := validateURL(line, false, true, false, false)
			if cost := RuleCostProblem(path); msg == "" && cost != "" {
				// As for _redirects: no limit upstream, a 400 here.
				msg = cost + "; rule ignored"
				limitErr = api.Errorf(api.CodeInvalid, "line %d: %s", n, cost)
			}
			if msg == "" {
				msg = headerPathProblem(path)
			}
			if msg != "" {
				warn(n, "%s", msg)
				skipping = true
				continue
			}
			skipping = false
			pending = &HeaderRule{Path: path, Line: n}
			continue
		}
		if skipping {
			continue
		}
		colon := strings.IndexByte(line, ':')
		if colon < 0 {
			switch {
			case pending == nil:
				warn(n, "expected a path beginning with a forward-slash")
			case strings.HasPrefix(line, "! "):
				name := strings.TrimSpace(line[2:])
				if !isToken(name) {
					warn(n, "%q is not a valid header name", name)
					continue
				}
				pending.Unset = append(pending.Unset, name)
			default:
				warn(n, "expected a colon-separated header pair (name: value)")
			}
			continue
		}
		name := strings.ToLower(jsTrim(line[:colon]))
		value := jsTrim(line[colon+1:])
		switch {
		case strings.Contains(name, " "):
			warn(n, "header name cannot include spaces")
		case name == "":
			warn(n, "no header name specified")
		case value == "":
			warn(n, "no header value specified")
		case pending == nil:
			warn(n, "path should come before header (%s: %s)", name, value)
		case !isToken(name):
			warn(n, "%q is not a valid header name", name)
		case strings.ContainsFunc(value, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }):
			warn(n, "the value of %s contains a control character", name)
		case name == "content-length" || name == "transfer-encoding" || name == "connection":
			warn(n, "%s is set by the server and cannot be changed", name)
		default:
			pending.add(name, value)
		}
	}
	push()
	return &Headers{Rules: dedupeHeaderRules(rules)}, inLineOrder(warns), limitErr
}

// add sets name in the block, joining a repeated name into one value.
func (r *HeaderRule) add(name, value string) {
	for k := range r.Set {
		if r.Set[k].Name == name {
			r.Set[k].Value += ", " + value
			return
		}
	}
	r.Set = append(r.Set, HeaderField{Name: name, Value: value})
}

// dedupeHeaderRules keeps one block per path: the last one written, at the
// position of the first, like assigning keys of a JavaScript object.
func dedupeHeaderRules(rules []HeaderRule) []HeaderRule {
	at := make(map[string]int, len(rules))
	out := rules[:0:0]
	for _, r := range rules {
		if k, ok := at[r.Path]; ok {
			out[k] = r
			continue
		}
		at[r.Path] = len(out)
		out = append(out, r)
	}
	return out
}

// isPathLine mirrors upstream's /^([^\s]+:\/\/|^\/)/. A header written
// without a space after its colon whose value holds "://" is read as a path
// line, as upstream does.
func isPathLine(line string) bool {
	if line[0] == '/' {
		return true
	}
	i := strings.Index(line, "://")
	return i > 0 && !strings.ContainsFunc(line[:i], jsIsSpace)
}

// headerPathProblem rejects what upstream's header rules cannot compile:
// more than one "*", "*" together with ":splat", a placeholder used twice.
func headerPathProblem(path string) string {
	if _, err := CompilePattern(path); err != nil {
		return err.Error()
	}
	return ""
}

// isToken reports whether s is an HTTP field name (RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isWordByte(c) || strings.IndexByte("!#$%&'*+-.^`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// ruleLine is one meaningful line of a _redirects or _headers text: not
// blank, not a comment, not over the length limit.
type ruleLine struct {
	n    int    // 1-based line number, for warnings
	text string // trimmed as upstream trims
}

// ruleLines splits a _redirects or _headers text (file names it) the way
// both upstream parsers do: it checks the size limit, trims each line,
// skips blanks and comments, and warns about over-long lines. total is the
// number of lines in the text, for "the remaining N lines" warnings.
func ruleLines(file, text string) (lines []ruleLine, total int, warns []api.Warning, limitErr error) {
	if len(text) > MaxRulesFileBytes {
		limitErr = api.Errorf(api.CodeInvalid, "%s is %d bytes, more than the limit of %d", file, len(text), MaxRulesFileBytes)
	}
	raw := strings.Split(text, "\n")
	for i, r := range raw {
		line := jsTrim(r)
		if line == "" || line[0] == '#' {
			continue
		}
		if utf16Len(line) > MaxRuleLineLength {
			warns = append(warns, api.Warning{File: file, Line: i + 1, Message: fmt.Sprintf("line is longer than %d characters; ignored", MaxRuleLineLength)})
			continue
		}
		lines = append(lines, ruleLine{n: i + 1, text: line})
	}
	return lines, len(raw), warns, limitErr
}

// inLineOrder orders warnings by line, as a reader of the file expects;
// ruleLines reports its over-long lines before the parser's own warnings.
func inLineOrder(warns []api.Warning) []api.Warning {
	slices.SortStableFunc(warns, func(a, b api.Warning) int { return a.Line - b.Line })
	return warns
}
