package rules

import (
	"fmt"
	"strings"
)

// The URL handling of _redirects: which targets a rule may have, and the
// WHATWG URL standard's path normalisation (dot segments, percent-encoding
// sets) that Cloudflare applies to both rules and request paths.

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
			if !pathStops[c] {
				continue
			}
			if c != '/' {
				if c == '\\' && !special {
					continue
				}
				return false
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

// pathStops marks the bytes pathIsNormal must look at: those the path
// percent-encode set encodes, '/' and '\\'. One table load per byte keeps
// the scan of a long request path (up to --max-request-target, and done
// for every request before any pacing) a small part of its cost.
var pathStops = func() (t [256]bool) {
	for c := range 256 {
		b := byte(c)
		t[c] = inPathSet(b) || b == '/' || b == '\\'
	}
	return t
}()

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
