package manifest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// Limits of _redirects and _headers texts (spec/asset-serving.md §7.1, §8.1,
// §10). Upstream skips what is over a limit with a warning; cfhost does the
// same and additionally reports it as an error so that the host can refuse
// the deployment with a 400 (CONTRACT.md).
const (
	MaxStaticRedirects  = 2000 // static _redirects rules
	MaxDynamicRedirects = 100  // dynamic _redirects rules; the 101st stops parsing
	MaxRuleLineLength   = 2000 // characters (UTF-16 code units, as upstream) per line
	MaxHeaderRules      = 100  // _headers blocks (upstream keeps 101, see ParseHeaders)
	MaxRulesFileBytes   = 4 << 20
)

// RedirectRule is one accepted line of a _redirects file, already normalised
// the way upstream stores it, so the host can keep it as JSON or simply
// re-parse the raw text when it activates a deployment.
type RedirectRule struct {
	// From is the normalised source path: no query, no fragment, dot segments
	// resolved, unsafe characters percent-encoded.
	From string `json:"from"`
	// To is the normalised target: a path with optional query and fragment,
	// or https://host/path….
	To     string `json:"to"`
	Status int    `json:"status"`
	Line   int    `json:"line"`
	// Static rules are matched by exact lookup before every dynamic rule. A
	// rule is static when From has no "*" or ":name" and no dynamic rule came
	// before it in the file.
	Static bool `json:"static,omitempty"`
}

// Redirects is a parsed _redirects file: the accepted rules in file order.
type Redirects struct {
	Rules []RedirectRule `json:"rules"`
}

var redirectStatuses = map[float64]int{200: 200, 301: 301, 302: 302, 303: 303, 307: 307, 308: 308}

// ParseRedirects parses the text of a _redirects file the way Cloudflare
// does at deploy time (spec §7.1). Invalid lines are skipped, each with a
// warning naming its line; the result holds what Cloudflare would keep.
// htmlHandling is the deployment's html_handling mode; it decides whether a
// "/ → /index" rule is a redirect loop.
//
// The error is non-nil, with code api.CodeInvalid, when the text is larger
// than MaxRulesFileBytes or holds more static or dynamic rules than the
// limits: Cloudflare silently drops the excess, cfhost refuses it with a 400
// so nobody loses rules unnoticed. The returned rules are still the
// Cloudflare-compatible result, should a caller prefer to accept it. A rule
// with more than MaxRulePlaceholders captures is an error too, naming its
// line (a limit of cfhost's own), and is left out of the result.
func ParseRedirects(text, htmlHandling string) (*Redirects, []api.Warning, error) {
	var (
		out       = &Redirects{}
		seen      = map[string]bool{}
		nStatic   int
		nDynamic  int
		canStatic = true
	)
	lines, total, warns, limitErr := ruleLines("_redirects", text)
	warn := func(n int, format string, args ...any) {
		warns = append(warns, api.Warning{File: "_redirects", Line: n, Message: fmt.Sprintf(format, args...)})
	}
	for _, l := range lines {
		n, line := l.n, l.text
		tokens := jsFields(cutInlineComment(line))
		if len(tokens) < 2 || len(tokens) > 3 {
			warn(n, "expected exactly 2 or 3 whitespace-separated tokens, got %d", len(tokens))
			continue
		}
		statusText := "302"
		if len(tokens) == 3 {
			statusText = tokens[2]
		}
		from, msg := validateURL(tokens[0], true, true, false, false)
		if msg != "" {
			warn(n, "%s", msg)
			continue
		}
		static := canStatic && !strings.Contains(from, "*") && !hasPlaceholder(from)
		if static {
			nStatic++
			if nStatic > MaxStaticRedirects {
				warn(n, "more than %d static rules; line skipped", MaxStaticRedirects)
				limitErr = api.Errorf(api.CodeInvalid, "_redirects has more than %d static rules", MaxStaticRedirects)
				continue
			}
		} else {
			nDynamic++
			canStatic = false
			if nDynamic > MaxDynamicRedirects {
				warn(n, "more than %d dynamic rules; the remaining %d lines are skipped", MaxDynamicRedirects, total-n+1)
				limitErr = api.Errorf(api.CodeInvalid, "_redirects has more than %d dynamic rules", MaxDynamicRedirects)
				break
			}
		}
		if c := CountPlaceholders(from); c > MaxRulePlaceholders {
			// Cloudflare sets no limit; each capture costs work on every
			// request, so cfhost refuses the deployment and says where.
			warn(n, "%s has %d placeholders, more than the limit of %d; rule ignored", from, c, MaxRulePlaceholders)
			limitErr = api.Errorf(api.CodeInvalid, "line %d: %.60s has %d placeholders, more than the limit of %d", n, from, c, MaxRulePlaceholders)
			continue
		}
		to, msg := validateURL(tokens[1], false, false, true, true)
		if msg != "" {
			warn(n, "%s", msg)
			continue
		}
		num, ok := jsNumber(statusText)
		status, permitted := redirectStatuses[num]
		if !ok || !permitted {
			warn(n, "valid status codes are 200, 301, 302 (default), 303, 307 and 308, got %s", statusText)
			continue
		}
		relative := !urlHasHost(to)
		toIndex := endsWithIndex(to)
		if relative && (strings.HasSuffix(from, "/*") && toIndex ||
			strings.HasSuffix(from, "/") && toIndex && htmlHandling != HTMLHandlingNone) {
			warn(n, "infinite loop: html handling would strip /index or .html from %s and trigger this rule again; rule ignored", to)
			continue
		}
		if seen[from] {
			warn(n, "duplicate rule for path %s ignored", from)
			continue
		}
		seen[from] = true
		if status == 200 && !relative {
			warn(n, "rewrites (200) can only point to relative paths, got %s", to)
			continue
		}
		if !static {
			if _, err := CompilePattern(from); err != nil {
				// Upstream keeps the rule but its regular expression fails to
				// compile at runtime, so it never matches. Say so.
				warn(n, "rule for %s can never match: %v", from, err)
			}
		}
		out.Rules = append(out.Rules, RedirectRule{From: from, To: to, Status: status, Line: n, Static: static})
	}
	return out, inLineOrder(warns), limitErr
}

// cutInlineComment drops an inline comment, which starts at the first white
// space followed by "#" (spec §7.1): a "#" inside a token, as in
// "/a /b#frag", is a fragment. Cutting before splitting into tokens matters
// for "/x/* #note", which must be one token, an invalid line, and not a rule
// whose target is "#note".
func cutInlineComment(line string) string {
	for i := 1; i < len(line); i++ {
		if line[i] != '#' {
			continue
		}
		if r, _ := utf8.DecodeLastRuneInString(line[:i]); jsIsSpace(r) {
			return line[:i]
		}
	}
	return line
}

// endsWithIndex mirrors upstream's /\/index(.html)?$/ test, whose "." is an
// unescaped regular-expression dot.
func endsWithIndex(s string) bool {
	if strings.HasSuffix(s, "/index") {
		return true
	}
	n := len(s)
	return n >= 11 && s[n-11:n-5] == "/index" && s[n-4:] == "html" &&
		s[n-5] != '\n' && s[n-5] != '\r'
}

// hasPlaceholder reports whether s contains ":name" with a letter after the
// colon, which makes a rule dynamic.
func hasPlaceholder(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == ':' && isASCIILetter(s[i+1]) {
			return true
		}
	}
	return false
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isWordByte(c byte) bool {
	return isASCIILetter(c) || '0' <= c && c <= '9' || c == '_'
}

// validateURL mirrors upstream validateUrl: it accepts a relative path or an
// https URL and returns it normalised, or an explanation of why not.
// onlyRelative rejects https URLs and prepends "/" to a bare token;
// disallowPorts rejects https URLs with a port; includeSearch and
// includeHash keep the query and fragment.
func validateURL(token string, onlyRelative, disallowPorts, includeSearch, includeHash bool) (string, string) {
	if host, path, ok := splitHTTPS(token); ok {
		if onlyRelative {
			return "", fmt.Sprintf("only relative URLs are allowed; skipping absolute URL %s", token)
		}
		if disallowPorts && hostHasPort(host) {
			return "", fmt.Sprintf("specifying ports is not supported; skipping absolute URL %s", token)
		}
		return "https://" + host + extractPathname(path, includeSearch, includeHash), ""
	}
	if onlyRelative && !strings.HasPrefix(token, "/") {
		token = "/" + token
	}
	if strings.HasPrefix(token, "/") {
		return extractPathname(token, includeSearch, includeHash), ""
	}
	if onlyRelative {
		return "", "URLs should begin with a forward-slash"
	}
	return "", `URLs should either be relative (begin with a forward-slash) or use HTTPS (begin with "https://")`
}

// splitHTTPS mirrors upstream's /^https:\/\/+(?<host>[^/]+)\/?(?<path>.*)/:
// any number of slashes after "https:", a non-empty host up to the next
// "/", and the rest (up to a line terminator, which "." does not match).
func splitHTTPS(token string) (host, path string, ok bool) {
	rest, found := strings.CutPrefix(token, "https://")
	if !found {
		return "", "", false
	}
	rest = strings.TrimLeft(rest, "/")
	end := strings.IndexByte(rest, '/')
	if end < 0 {
		end = len(rest)
	}
	if end == 0 {
		return "", "", false
	}
	host, path = rest[:end], rest[end:]
	path = strings.TrimPrefix(path, "/")
	if k := strings.IndexAny(path, "\r\n\u2028\u2029"); k >= 0 {
		path = path[:k]
	}
	return host, path, true
}

// urlHasHost reports whether a normalised rule URL is absolute.
func urlHasHost(s string) bool {
	_, _, ok := splitHTTPS(s)
	return ok
}

// hostHasPort mirrors upstream's /.*:\d+$/.
func hostHasPort(host string) bool {
	i := len(host)
	for i > 0 && '0' <= host[i-1] && host[i-1] <= '9' {
		i--
	}
	return i < len(host) && i > 0 && host[i-1] == ':'
}

// extractPathname mirrors upstream's extractPathname: it parses "//"+path
// against the non-special base "relative://" with a WHATWG URL parser and
// keeps the path, optionally with "?query" and "#fragment".
func extractPathname(path string, includeSearch, includeHash bool) string {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	path = cleanURLInput(path)
	p, query, fragment, hasQuery, hasFragment := splitURL(path)
	var b strings.Builder
	b.WriteString(normalizePath(p, false))
	if includeSearch && hasQuery && query != "" {
		b.WriteByte('?')
		b.WriteString(percentEncode(query, inQuerySet))
	}
	if includeHash && hasFragment && fragment != "" {
		b.WriteByte('#')
		b.WriteString(percentEncode(fragment, inFragmentSet))
	}
	return b.String()
}

// cleanURLInput does the WHATWG URL parser's first two steps: strip leading
// and trailing C0 controls and spaces, then remove every tab and newline.
func cleanURLInput(s string) string {
	s = strings.TrimFunc(s, func(r rune) bool { return r <= 0x20 })
	if strings.ContainsAny(s, "\t\n\r") {
		s = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, s)
	}
	return s
}

// splitURL cuts a path-first URL string into path, query and fragment.
func splitURL(s string) (path, query, fragment string, hasQuery, hasFragment bool) {
	path = s
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		path = s[:i]
		rest := s[i:]
		if rest[0] == '?' {
			hasQuery = true
			query = rest[1:]
			if j := strings.IndexByte(query, '#'); j >= 0 {
				fragment, hasFragment = query[j+1:], true
				query = query[:j]
			}
		} else {
			fragment, hasFragment = rest[1:], true
		}
	}
	return
}

// NormalizePathname applies the WHATWG URL parser's path state for an https
// URL to p, the path part of a URL (before any "?" or "#"): "\" separates
// segments like "/", "." and ".." segments (also as %2e) are resolved, and
// C0 controls, space, ", <, >, `, {, } and non-ASCII bytes are
// percent-encoded. Existing escapes, their case and repeated slashes are
// kept. The result is what a browser or workerd reports as url.pathname, so
// rules and requests compare byte for byte. It returns p itself, without
// allocating, when p is already normal.
func NormalizePathname(p string) string { return normalizePath(p, true) }

// NormalizeSearch percent-encodes a raw query (without "?") with the https
// query percent-encode set and returns "?"+query, or "" for an empty query,
// as url.search does.
func NormalizeSearch(query string) string {
	if query == "" {
		return ""
	}
	return "?" + percentEncode(query, inSpecialQuerySet)
}

func normalizePath(p string, special bool) string {
	if pathIsNormal(p, special) {
		return p
	}
	isSlash := func(c byte) bool { return c == '/' || special && c == '\\' }
	out := make([]byte, 0, len(p)+16)
	i := 0
	if len(p) > 0 && isSlash(p[0]) {
		i = 1
	}
	start := i
	for {
		if i < len(p) && !isSlash(p[i]) {
			i++
			continue
		}
		seg := p[start:i]
		atEnd := i >= len(p)
		switch {
		case isDoubleDot(seg):
			if k := lastSlash(out); k >= 0 {
				out = out[:k]
			}
			if atEnd {
				out = append(out, '/')
			}
		case isSingleDot(seg):
			if atEnd {
				out = append(out, '/')
			}
		default:
			out = append(out, '/')
			out = appendEncoded(out, seg, inPathSet)
		}
		if atEnd {
			break
		}
		i++
		start = i
	}
	return string(out)
}

func lastSlash(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '/' {
			return i
		}
	}
	return -1
}

// pathIsNormal reports whether normalizePath would return p unchanged.
func pathIsNormal(p string, special bool) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	start := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) {
			c := p[i]
			if inPathSet(c) || special && c == '\\' {
				return false
			}
			if c != '/' {
				continue
			}
		}
		seg := p[start:i]
		if len(seg) > 0 && len(seg) <= 6 && (isSingleDot(seg) || isDoubleDot(seg)) {
			return false
		}
		start = i + 1
	}
	return true
}

func isSingleDot(s string) bool {
	return s == "." || len(s) == 3 && strings.EqualFold(s, "%2e")
}

func isDoubleDot(s string) bool {
	switch len(s) {
	case 2:
		return s == ".."
	case 4:
		return s[0] == '.' && strings.EqualFold(s[1:], "%2e") || s[3] == '.' && strings.EqualFold(s[:3], "%2e")
	case 6:
		return strings.EqualFold(s, "%2e%2e")
	}
	return false
}

// The WHATWG percent-encode sets, as byte predicates. Bytes from 0x80 up
// are UTF-8 bytes of non-ASCII code points (or invalid bytes), which every
// set encodes byte by byte.
func inC0Set(c byte) bool { return c < 0x20 || c >= 0x7f }

func inFragmentSet(c byte) bool {
	return inC0Set(c) || c == ' ' || c == '"' || c == '<' || c == '>' || c == '`'
}

func inQuerySet(c byte) bool {
	return inC0Set(c) || c == ' ' || c == '"' || c == '#' || c == '<' || c == '>'
}

func inSpecialQuerySet(c byte) bool { return inQuerySet(c) || c == '\'' }

func inPathSet(c byte) bool {
	return inQuerySet(c) || c == '?' || c == '`' || c == '{' || c == '}'
}

const upperHex = "0123456789ABCDEF"

func appendEncoded(dst []byte, s string, set func(byte) bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if set(c) {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		} else {
			dst = append(dst, c)
		}
	}
	return dst
}

func percentEncode(s string, set func(byte) bool) string {
	for i := 0; i < len(s); i++ {
		if set(s[i]) {
			return string(appendEncoded(make([]byte, 0, len(s)+8), s, set))
		}
	}
	return s
}

// jsIsSpace reports whether r is white space or a line terminator for
// JavaScript's \s and String.prototype.trim.
func jsIsSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return 0x2000 <= r && r <= 0x200a
}

func jsTrim(s string) string { return strings.TrimFunc(s, jsIsSpace) }

func jsFields(s string) []string { return strings.FieldsFunc(s, jsIsSpace) }

// utf16Len is JavaScript's String.prototype.length of s.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xffff {
			n++
		}
	}
	return n
}

// jsNumber converts s the way JavaScript's Number(s) does, for the status
// token of a redirect rule: "301", "301.0", "3.01e2" and "0x12D" all give
// 301. ok is false where Number gives NaN.
func jsNumber(s string) (float64, bool) {
	s = jsTrim(s)
	if s == "" {
		return 0, true
	}
	if len(s) > 2 && s[0] == '0' {
		base := 0
		switch s[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 0 {
			var v float64
			for i := 2; i < len(s); i++ {
				d, ok := digitValue(s[i])
				if !ok || d >= base {
					return 0, false
				}
				v = v*float64(base) + float64(d)
			}
			return v, true
		}
	}
	body := strings.TrimLeft(s, "+-")
	if len(s)-len(body) > 1 {
		return 0, false
	}
	if body == "Infinity" {
		if s[0] == '-' {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	}
	if !isDecimalLiteral(body) {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRangeError(err) {
		return 0, false
	}
	return v, true
}

func isRangeError(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func digitValue(c byte) (int, bool) {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0'), true
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10, true
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}

// isDecimalLiteral matches JavaScript's unsigned StrDecimalLiteral without
// Infinity: digits, an optional fraction, an optional exponent, with at
// least one digit in the mantissa.
func isDecimalLiteral(s string) bool {
	i, digits := 0, 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}
