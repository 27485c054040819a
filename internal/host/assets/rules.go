package assets

import (
	"net/http"
	"strings"

	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// redirectRule is a compiled _redirects rule.
type redirectRule struct {
	line    int // in _redirects, for warnings
	status  int
	to      string         // the target template
	pattern *rules.Pattern // nil for a static rule
	subst   bool           // to has placeholders this pattern captures
	target  target         // the parsed target, when !subst
}

// target is a redirect target resolved against the request URL's syntax:
// an origin of its own (abs) or the request's, and a normalised path.
type target struct {
	abs      bool
	scheme   string // "" for a scheme-relative target: the request's scheme
	host     string // lower-case, default port dropped
	path     string
	query    string // without "?"
	fragment string // without "#"
}

func compileRedirect(r rules.RedirectRule) (*redirectRule, error) {
	rr := &redirectRule{line: r.Line, status: r.Status, to: r.To}
	if !r.Static {
		p, err := rules.CompilePattern(r.From)
		if err != nil {
			return nil, err
		}
		rr.pattern = p
		rr.subst = rules.HasSubstitution(r.To, p.Names())
		if !rr.subst {
			rr.to = dynamicTarget(r.To)
		}
	}
	if !rr.subst {
		rr.target = resolveTarget(rr.to)
	}
	return rr, nil
}

// dynamicTarget finishes a substituted dynamic-rule target as upstream
// does: trimmed, and with runs of "/" collapsed unless it is absolute, so
// "/files/* /:splat" cannot be turned into "//evil.example".
func dynamicTarget(to string) string {
	to = strings.TrimSpace(to)
	if hasProto(to) || !strings.Contains(to, "//") {
		return to
	}
	b := make([]byte, 0, len(to))
	for i := 0; i < len(to); i++ {
		if to[i] == '/' && len(b) > 0 && b[len(b)-1] == '/' {
			continue
		}
		b = append(b, to[i])
	}
	return string(b)
}

// hasProto mirrors upstream's /^(\w+:\/\/)/.
func hasProto(s string) bool {
	i := 0
	for i < len(s) && (s[i] == '_' || 'a' <= s[i] && s[i] <= 'z' || 'A' <= s[i] && s[i] <= 'Z' || '0' <= s[i] && s[i] <= '9') {
		i++
	}
	return i > 0 && strings.HasPrefix(s[i:], "://")
}

// resolveTarget resolves a rule target the way new URL(to, requestURL) does
// for the shapes a target can have: https://host/…, a scheme-relative
// //host/… (or with backslashes), or a path.
func resolveTarget(to string) target {
	var t target
	rest := to
	isSlash := func(c byte) bool { return c == '/' || c == '\\' }
	switch {
	case len(to) >= 6 && strings.EqualFold(to[:6], "https:"):
		t.abs, t.scheme, rest = true, "https", to[6:]
	case len(to) >= 5 && strings.EqualFold(to[:5], "http:"):
		t.abs, t.scheme, rest = true, "http", to[5:]
	case len(to) >= 2 && isSlash(to[0]) && isSlash(to[1]):
		t.abs = true
	}
	if t.abs {
		for rest != "" && isSlash(rest[0]) {
			rest = rest[1:]
		}
		end := strings.IndexAny(rest, `/\?#`)
		if end < 0 {
			end = len(rest)
		}
		t.host, rest = rest[:end], rest[end:]
		if at := strings.LastIndexByte(t.host, '@'); at >= 0 {
			t.host = t.host[at+1:]
		}
		t.host = strings.ToLower(t.host)
	}
	path := rest
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		path = rest[:i]
		if rest[i] == '?' {
			t.query = rest[i+1:]
			if j := strings.IndexByte(t.query, '#'); j >= 0 {
				t.fragment = t.query[j+1:]
				t.query = t.query[:j]
			}
		} else {
			t.fragment = rest[i+1:]
		}
	}
	t.path = rules.NormalizePathname(path)
	return t
}

// sameOrigin reports whether t points at the request's own origin.
func (t *target) sameOrigin(req *Request) bool {
	if !t.abs {
		return true
	}
	scheme := req.scheme()
	if t.scheme != "" && t.scheme != scheme {
		return false
	}
	return withoutDefaultPort(t.host, scheme) == withoutDefaultPort(strings.ToLower(req.Host), scheme)
}

func withoutDefaultPort(host, scheme string) string {
	switch {
	case strings.HasSuffix(host, ":"):
		return host[:len(host)-1]
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		return host[:len(host)-4]
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		return host[:len(host)-3]
	}
	return host
}

// PrefixLocation gives a Location that is a path the path-mode prefix, so
// that a project's redirects stay inside it; absolute and scheme-relative
// (//host) Locations are returned as they are.
func PrefixLocation(prefix, loc string) string {
	if prefix == "" || loc == "" || loc[0] != '/' || len(loc) > 1 && loc[1] == '/' {
		return loc
	}
	return prefix + loc
}

// location builds the Location of a _redirects 3xx
// (docs/asset-serving.md#_redirects): relative for the request's own origin
// (with the path-mode prefix), absolute for another; the target's query, or
// else the request's, then its fragment.
func (t *target) location(req *Request) string {
	var b strings.Builder
	if t.sameOrigin(req) {
		b.WriteString(req.Prefix)
	} else {
		scheme := t.scheme
		if scheme == "" {
			scheme = req.scheme()
		}
		b.WriteString(scheme)
		b.WriteString("://")
		b.WriteString(withoutDefaultPort(t.host, scheme))
	}
	b.WriteString(t.path)
	if t.query != "" {
		b.WriteByte('?')
		b.WriteString(t.query)
	} else {
		b.WriteString(req.Search)
	}
	if t.fragment != "" {
		b.WriteByte('#')
		b.WriteString(t.fragment)
	}
	return b.String()
}

// matchRedirect finds the rule for a raw pathname
// (docs/asset-serving.md#_redirects): the static rule of that exact path,
// else the first dynamic rule that matches. It returns the rule and the
// target resolved for this request. A dynamic rule whose substituted target
// would be longer than MaxSubstitution is skipped, with a warning.
func (s *Site) matchRedirect(pathname string) (*redirectRule, target, bool) {
	if rr := s.static[pathname]; rr != nil {
		return rr, rr.target, true
	}
	if len(s.dynamic) == 0 {
		return nil, target{}, false
	}
	sub := rules.NewSubject(pathname)
	defer sub.Release()
	var buf [rules.MaxRulePlaceholders]string
	for i, rr := range s.dynamic {
		caps, ok := s.dynamicSet.MatchSubject(i, &sub, buf[:0])
		if !ok {
			continue
		}
		if !rr.subst {
			return rr, rr.target, true
		}
		to, ok := rules.SubstituteMax(rr.to, rr.pattern.Names(), caps, s.limits.MaxSubstitution)
		if !ok {
			s.warnRule("_redirects", rr.line, "the target would be longer than "+formatLength(int64(s.limits.MaxSubstitution))+" bytes; rule skipped")
			continue
		}
		return rr, resolveTarget(dynamicTarget(to)), true
	}
	return nil, target{}, false
}

// headerRule is a compiled _headers block.
type headerRule struct {
	line    int // in _headers, for warnings
	pattern *rules.Pattern
	abs     bool     // matched against https://<hostname><pathname>
	unset   []string // canonical names
	set     []headerSet
}

type headerSet struct {
	key      string   // canonical name
	value    []string // the value, when it has no placeholders
	template string
}

func compileHeaderRule(r rules.HeaderRule) (*headerRule, error) {
	p, err := rules.CompilePattern(r.Path)
	if err != nil {
		return nil, err
	}
	hr := &headerRule{line: r.Line, pattern: p, abs: strings.HasPrefix(r.Path, "https://")}
	for _, name := range r.Unset {
		hr.unset = append(hr.unset, canonicalKey(name))
	}
	for _, f := range r.Set {
		hs := headerSet{key: canonicalKey(f.Name)}
		if rules.HasSubstitution(f.Value, p.Names()) {
			hs.template = f.Value
		} else {
			hs.value = one(f.Value)
		}
		hr.set = append(hr.set, hs)
	}
	return hr, nil
}

// applyHeaders applies every matching _headers block to h, in file order
// (docs/asset-serving.md#_headers): unset names first, then each set name
// replaces what the response had, unless an earlier block set it, in which
// case it appends (Set-Cookie as another field, anything else comma-joined
// into one). pathname is the original request pathname, never a rewrite
// target.
//
// Within Limits: a value whose substitution would be longer than
// MaxSubstitution, or that would take the bytes set past MaxHeaderBytes, is
// skipped, with a warning.
func (s *Site) applyHeaders(h http.Header, pathname string, req *Request) {
	if len(s.headers) == 0 {
		return
	}
	sub := rules.NewSubject(pathname)
	defer sub.Release()
	var abs rules.Subject
	if s.absHeaders {
		abs = rules.NewSubject("https://" + hostname(req.Host) + pathname)
		defer abs.Release()
	}
	var setBuf [16]string
	set := setBuf[:0]
	var capBuf [rules.MaxRulePlaceholders]string
	budget := s.limits.MaxHeaderBytes
	for i, hr := range s.headers {
		subject := &sub
		if hr.abs {
			subject = &abs
		}
		caps, ok := s.headerSet.MatchSubject(i, subject, capBuf[:0])
		if !ok {
			continue
		}
		for _, k := range hr.unset {
			delete(h, k)
		}
		for _, hs := range hr.set {
			value := hs.value
			if value == nil {
				v, ok := rules.SubstituteMax(hs.template, hr.pattern.Names(), caps, s.limits.MaxSubstitution)
				if !ok {
					s.warnRule("_headers", hr.line, hs.key+" would be longer than "+formatLength(int64(s.limits.MaxSubstitution))+" bytes; header skipped")
					continue
				}
				value = one(v)
			}
			if hs.key == "Location" && req.Prefix != "" {
				value = one(PrefixLocation(req.Prefix, value[0]))
			}
			if n := len(hs.key) + len(value[0]); n <= budget {
				budget -= n
			} else {
				s.warnRule("_headers", hr.line, hs.key+" would take the headers set by rules past "+formatLength(int64(s.limits.MaxHeaderBytes))+" bytes; header skipped")
				continue
			}
			if !contains(set, hs.key) {
				h[hs.key] = value
				set = append(set, hs.key)
				continue
			}
			old := h[hs.key]
			switch {
			case len(old) == 0:
				h[hs.key] = value
			case hs.key == "Set-Cookie":
				h[hs.key] = append(old[:len(old):len(old)], value[0])
			default:
				h[hs.key] = one(strings.Join(old, ", ") + ", " + value[0])
			}
		}
	}
}

// patterns returns the pattern of each rule, in order.
func patterns[R any](rs []R, pattern func(R) *rules.Pattern) []*rules.Pattern {
	ps := make([]*rules.Pattern, len(rs))
	for i, r := range rs {
		ps[i] = pattern(r)
	}
	return ps
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
