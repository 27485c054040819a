package assets

import (
	"strings"
	"unicode/utf8"

	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// ParseTarget splits a raw HTTP request target (r.RequestURI) into the
// pathname and search a WHATWG URL parser (workerd, browsers) would report
// for it (docs/asset-serving.md#request-paths): dot segments, also
// percent-encoded ones, are resolved; "\" counts as "/"; unsafe bytes are
// percent-encoded; existing escapes and repeated slashes are kept. search is
// "?query", or "" when the query is absent or empty. An absolute-form target
// ("http://host/p") keeps only its path and query.
//
// Use it instead of r.URL.Path (already decoded) or r.URL.EscapedPath() (re-
// encoded): the pipeline's redirects and rules match the raw pathname. It
// does not allocate when the target is already normal.
func ParseTarget(requestURI string) (pathname, search string) {
	t := requestURI
	if !strings.HasPrefix(t, "/") && !strings.HasPrefix(t, `\`) {
		if i := strings.Index(t, "://"); i >= 0 {
			rest := t[i+3:]
			end := strings.IndexAny(rest, `/\?#`)
			if end < 0 {
				end = len(rest)
			}
			t = rest[end:]
		}
	}
	if needsCleaning(t) {
		t = cleanTarget(t)
	}
	path, query, hasQuery := t, "", false
	if i := indexQueryOrFragment(t); i >= 0 {
		path = t[:i]
		if t[i] == '?' {
			query, hasQuery = t[i+1:], true
			if j := strings.IndexByte(query, '#'); j >= 0 {
				query = query[:j]
			}
		}
	}
	pathname = rules.NormalizePathname(path)
	if hasQuery && query != "" {
		if queryIsNormal(query) {
			// t[i] is the "?", so this slice is "?"+query without a copy.
			start := len(path)
			search = t[start : start+1+len(query)]
		} else {
			search = rules.NormalizeSearch(query)
		}
	}
	return pathname, search
}

// indexQueryOrFragment is the index of the first '?' or '#' in t, or -1.
// Two IndexByte scans (vectorised) cost a fraction of one IndexAny over a
// long path.
func indexQueryOrFragment(t string) int {
	i := strings.IndexByte(t, '?')
	end := len(t)
	if i >= 0 {
		end = i
	}
	if j := strings.IndexByte(t[:end], '#'); j >= 0 {
		return j
	}
	return i
}

// needsCleaning reports whether t has bytes the URL parser strips (C0
// controls and spaces at the ends, tabs and newlines anywhere).
func needsCleaning(t string) bool {
	// Three vectorised scans beat one loop over a long path's bytes.
	if strings.IndexByte(t, '\t') >= 0 || strings.IndexByte(t, '\n') >= 0 || strings.IndexByte(t, '\r') >= 0 {
		return true
	}
	return t != "" && (t[0] <= ' ' || t[len(t)-1] <= ' ')
}

func cleanTarget(t string) string {
	t = strings.TrimFunc(t, func(r rune) bool { return r <= ' ' })
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, t)
}

// queryIsNormal reports whether the https query percent-encode set leaves q
// unchanged.
func queryIsNormal(q string) bool {
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '#' || c == '<' || c == '>' || c == '\'' {
			return false
		}
	}
	return true
}

// decodePath turns a raw pathname into the lookup key D
// (docs/asset-serving.md#request-paths): every segment is percent-decoded as
// a whole (%2F and %25 included) unless an escape is malformed or the bytes
// are not strict UTF-8, in which case that segment stays as it was; then runs
// of "/" collapse into one. It does not allocate when there is nothing to
// decode or collapse.
func decodePath(p string) string {
	if strings.IndexByte(p, '%') < 0 && !strings.Contains(p, "//") {
		return p
	}
	b := make([]byte, 0, len(p))
	for i := 0; i <= len(p); {
		j := strings.IndexByte(p[i:], '/')
		if j < 0 {
			j = len(p)
		} else {
			j += i
		}
		seg := p[i:j]
		if d, ok := decodeSegment(seg); ok {
			b = append(b, d...)
		} else {
			b = append(b, seg...)
		}
		if j < len(p) {
			b = append(b, '/')
		}
		i = j + 1
	}
	// Collapse runs of "/" in place.
	out := b[:0]
	for i := 0; i < len(b); i++ {
		if b[i] == '/' && len(out) > 0 && out[len(out)-1] == '/' {
			continue
		}
		out = append(out, b[i])
	}
	return string(out)
}

// decodeSegment is JavaScript's decodeURIComponent on one segment: ok is
// false where it would throw.
func decodeSegment(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", false
		}
		b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
		i += 2
	}
	if !utf8.Valid(b) {
		return "", false
	}
	return string(b), true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// keepsRaw reports whether encodeURIComponent leaves byte c as it is.
func keepsRaw(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("-_.!~*'()", c) >= 0
}

const upperHex = "0123456789ABCDEF"

// appendCanonical appends the canonical form of d
// (docs/asset-serving.md#request-paths): each segment encoded like
// encodeURIComponent, segments joined with "/".
func appendCanonical(dst []byte, d string) []byte {
	for i := 0; i < len(d); i++ {
		c := d[i]
		if c == '/' || keepsRaw(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return dst
}

// isCanonical reports whether encode(d) == p without building encode(d).
func isCanonical(d, p string) bool {
	j := 0
	for i := 0; i < len(d); i++ {
		c := d[i]
		if c == '/' || keepsRaw(c) {
			if j >= len(p) || p[j] != c {
				return false
			}
			j++
			continue
		}
		if j+3 > len(p) || p[j] != '%' || p[j+1] != upperHex[c>>4] || p[j+2] != upperHex[c&15] {
			return false
		}
		j += 3
	}
	return j == len(p)
}

// isSafeKey reports whether d can name an asset at all: it starts with "/"
// and has no "." or ".." segment. Asset paths are validated the same way at
// deploy time, so a key failing this is never looked up; that keeps every
// lookup inside the deployment whatever a request decodes to.
func isSafeKey[T string | []byte](d T) bool {
	if len(d) == 0 || d[0] != '/' {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] != '.' || d[i-1] != '/' {
			continue
		}
		rest := d[i+1:]
		if len(rest) == 0 || rest[0] == '/' || rest[0] == '.' && (len(rest) == 1 || rest[1] == '/') {
			return false
		}
	}
	return true
}
