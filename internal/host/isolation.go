package host

import (
	"io"
	"net/http"
	"strings"

	"github.com/cfdeploy/cfdeploy/internal/host/assets"
	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// Browser isolation between projects.
//
// A browser keeps cookies, service workers and site data per origin (and,
// for cookies with a Domain attribute, per parent domain), so a response
// header a project controls — from _headers or from its server code — can
// reach the browser state of every project that shares that origin or
// domain:
//
//   - In path mode every /__project/<id>/ is the same origin. A
//     Service-Worker-Allowed header would let one project register a service
//     worker whose scope covers the others, Clear-Site-Data would wipe their
//     storage, and a cookie would be sent to all of them unless its Path
//     keeps it inside the project.
//     A Cross-Origin-Opener-Policy would let a project's page share a
//     browsing context group with a window it opens on the shared origin
//     (the dashboard sends same-origin, and a page with the same value and
//     origin could script the dashboard window it opened); without it, the
//     dashboard's COOP puts such a window in a group of its own.
//   - In subdomain mode a cookie with Domain=<base domain> (or a parent of
//     it) is sent to every <id>.<base domain>: one project can plant cookies
//     in another's requests ("cookie tossing"). Clear-Site-Data "cookies"
//     clears the cookies of every <id>.<base domain> alike.
//
// isolation.apply rewrites those headers just before a project's status
// line is written. What a project's own scripts do on a shared origin
// (document.cookie, storage) cannot be filtered by a server: that is why
// path mode can be turned off (--path-routing=false) and is never served on
// a name below a project's host (belowProjectHost).

// Header names isolate looks at, canonical.
const (
	hdrSetCookie            = "Set-Cookie"
	hdrServiceWorkerAllowed = "Service-Worker-Allowed"
	hdrClearSiteData        = "Clear-Site-Data"
	hdrOpenerPolicy         = "Cross-Origin-Opener-Policy"
)

// maxCookiePath is the longest Path attribute value Chromium honours
// (kMaxCookieAttributeValueSize); a longer one is ignored and the cookie
// gets the request's default path, which for /__project/<id> is
// /__project — every project. Scoped paths past it fall back to the prefix.
const maxCookiePath = 1024

// headersNeedIsolation reports whether a _headers file sets a header that
// isolation rewrites. Sites without one skip the response wrapper (and its
// allocation) on the asset fast path: nothing else in the asset pipeline
// sets these headers.
func headersNeedIsolation(hs *rules.Headers) bool {
	if hs == nil {
		return false
	}
	for _, r := range hs.Rules {
		for _, f := range r.Set {
			switch strings.ToLower(f.Name) {
			case "set-cookie", "service-worker-allowed", "clear-site-data", "cross-origin-opener-policy":
				return true
			}
		}
	}
	return false
}

// isolation says how a response's headers are scoped: prefix is
// "/__project/<id>" in path mode and "" otherwise; host is the request's
// Host; base is the host's base domain.
type isolation struct {
	prefix string
	host   string
	base   string
}

// apply rewrites h in place. It costs a few map lookups when h has none of
// the headers it cares about.
func (iso isolation) apply(h http.Header) {
	if iso.prefix != "" {
		delete(h, hdrServiceWorkerAllowed)
		delete(h, hdrClearSiteData)
		delete(h, hdrOpenerPolicy)
	} else if csd, ok := h[hdrClearSiteData]; ok {
		if kept := originOnlyClearSiteData(csd); kept != "" {
			h[hdrClearSiteData] = []string{kept}
		} else {
			delete(h, hdrClearSiteData)
		}
	}
	cookies, ok := h[hdrSetCookie]
	if !ok {
		return
	}
	out := make([]string, 0, len(cookies))
	for _, c := range cookies {
		if iso.prefix != "" {
			out = append(out, scopeCookieToPrefix(c, iso.prefix))
		} else {
			out = append(out, dropParentDomain(c, iso.host, iso.base))
		}
	}
	h[hdrSetCookie] = out
}

// originOnlyClearSiteData keeps the Clear-Site-Data types that act on the
// response's origin only. "cookies" clears the cookies of the whole
// registrable domain — every project, unless the base domain is on the
// Public Suffix List — so it is dropped, and "*" stands for the rest.
// The result is "" when nothing is left.
func originOnlyClearSiteData(values []string) string {
	var kept []string
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			switch t = strings.TrimSpace(t); {
			case t == "":
			case strings.EqualFold(t, `"cookies"`):
			case t == `"*"`:
				kept = append(kept, `"cache"`, `"storage"`, `"executionContexts"`)
			default:
				kept = append(kept, t)
			}
		}
	}
	return strings.Join(kept, ", ")
}

// cookieAttr is one "; name=value" attribute of a Set-Cookie value.
type cookieAttr struct{ name, value string }

// splitCookie splits a Set-Cookie value into its name=value pair and its
// attributes, as a browser reads it: attributes are separated by ";" and
// their names are case-insensitive.
func splitCookie(v string) (pair string, attrs []cookieAttr) {
	pair, rest, _ := strings.Cut(v, ";")
	for rest != "" {
		var a string
		a, rest, _ = strings.Cut(rest, ";")
		name, value, _ := strings.Cut(a, "=")
		if strings.TrimSpace(name) == "" {
			continue // "; ;" or "; =x": browsers ignore it too
		}
		attrs = append(attrs, cookieAttr{strings.TrimSpace(name), strings.TrimSpace(value)})
	}
	return pair, attrs
}

// joinCookie is the inverse of splitCookie, keeping only attrs.
func joinCookie(pair string, attrs []cookieAttr) string {
	var b strings.Builder
	b.WriteString(pair)
	for _, a := range attrs {
		b.WriteString("; ")
		b.WriteString(a.name)
		if a.value != "" {
			b.WriteByte('=')
			b.WriteString(a.value)
		}
	}
	return b.String()
}

// scopeCookieToPrefix rewrites a path-mode cookie so the browser sends it
// only under the project's prefix: every Domain attribute is dropped (the
// cookie is host-only), and the Path — the last one, as browsers take —
// is moved under the prefix. No Path, or one a browser would ignore (not
// starting with "/"), becomes the prefix itself: the browser's default
// path for a request to /__project/<id> would be /__project, which covers
// every project. A __Host- cookie, which must have Path=/, is therefore
// refused by the browser in path mode rather than shared.
func scopeCookieToPrefix(v, prefix string) string {
	pair, attrs := splitCookie(v)
	path := ""
	kept := attrs[:0]
	for _, a := range attrs {
		switch {
		case strings.EqualFold(a.name, "Domain"):
		case strings.EqualFold(a.name, "Path"):
			path = a.value
		default:
			kept = append(kept, a)
		}
	}
	scoped := prefix
	if strings.HasPrefix(path, "/") && path != "/" {
		scoped = prefix + path
	}
	if len(scoped) > maxCookiePath {
		scoped = prefix
	}
	return joinCookie(pair, append(kept, cookieAttr{"Path", scoped}))
}

// dropParentDomain removes, in subdomain mode, every Domain attribute that
// is not the request's own host name. That drops the base domain and its
// parents, which would send the cookie to every project, as well as
// anything a browser would canonicalise into them (percent escapes,
// a trailing dot) or refuse anyway (another project's host, an unrelated
// domain). A Domain equal to the project's own host is kept: it only adds
// the host's own subdomains, which no project is served at (a project is
// exactly one label below the base domain). The default project, served on
// the base domain itself, keeps no Domain at all.
func dropParentDomain(v, host, base string) string {
	if !containsFold(v, "domain") {
		return v
	}
	own := hostname(host)
	pair, attrs := splitCookie(v)
	kept := attrs[:0]
	changed := false
	for _, a := range attrs {
		if strings.EqualFold(a.name, "Domain") {
			d := strings.ToLower(strings.TrimPrefix(a.value, "."))
			if d != own || own == base || strings.HasSuffix(base, "."+own) {
				changed = true
				continue
			}
		}
		kept = append(kept, a)
	}
	if !changed {
		return v
	}
	return joinCookie(pair, kept)
}

// belowProjectHost reports whether host is two or more labels below the
// base domain, i.e. below some project's host (a.<id>.<base domain>).
// Path mode is not served there: a page on that origin could set, from its
// own script, a cookie with Domain=<id>.<base domain>, which no response
// filter sees and project <id> would then receive — even with the base
// domain on the Public Suffix List, which stops Domain=<base domain>.
// (Without the list, any project's own page can set Domain=<base domain>
// from its script; only the list closes that.)
func (h *Host) belowProjectHost(host string) bool {
	label, ok := strings.CutSuffix(hostname(host), h.dotBase)
	return ok && strings.Contains(label, ".")
}

// hostname is host without its port, lower-cased, without a trailing dot.
func hostname(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// containsFold reports whether s contains the lower-case ASCII word sub in
// any letter case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// isolatingWriter applies an isolation to a response's headers when its
// status is written. With prefixLocation (server code in path mode) it also
// gives Location its /__project/<id> prefix back, so redirects stay in the
// project; the asset pipeline adds that prefix itself.
type isolatingWriter struct {
	http.ResponseWriter
	iso            isolation
	prefixLocation bool
	done           bool
}

// isolating wraps w for a response of the project at prefix ("" by
// subdomain) to request r.
func (h *Host) isolating(w http.ResponseWriter, r *http.Request, prefix string, prefixLocation bool) *isolatingWriter {
	return &isolatingWriter{ResponseWriter: w, iso: isolation{prefix: prefix, host: r.Host, base: h.cfg.BaseDomain}, prefixLocation: prefixLocation}
}

func (w *isolatingWriter) WriteHeader(code int) {
	if !w.done {
		w.done = true
		h := w.Header()
		if w.prefixLocation {
			if loc := h.Get("Location"); loc != "" {
				h.Set("Location", assets.PrefixLocation(w.iso.prefix, loc))
			}
		}
		w.iso.apply(h)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *isolatingWriter) Write(b []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps the connection's sendfile path for bodies copied from
// files.
func (w *isolatingWriter) ReadFrom(src io.Reader) (int64, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(struct{ io.Writer }{w.ResponseWriter}, src)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *isolatingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
