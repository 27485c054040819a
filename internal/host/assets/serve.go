package assets

import (
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/cfdeploy/cfdeploy/internal/host/coalesce"
	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// Request is what the pipeline needs to know about a request besides the
// *http.Request itself (whose method and headers it reads).
type Request struct {
	// Pathname and Search come from ParseTarget(r.RequestURI), with the
	// path-mode prefix already removed from Pathname.
	Pathname string
	Search   string
	// Host is the client's Host header; _redirects and _headers rules
	// with a host compare against it.
	Host string
	// Prefix is "/__project/<id>" in path mode, "" otherwise. Every
	// Location that is a path gets it back.
	Prefix string
	// Scheme is "http" or "https" ("" means "http").
	Scheme string
}

func (req *Request) scheme() string {
	if req.Scheme == "" {
		return "http"
	}
	return req.Scheme
}

// NewRequest describes r served at the root of its host: no path-mode
// prefix, scheme from the connection. The host builds Request itself when
// it strips a prefix or trusts a proxy's X-Forwarded-Proto.
func NewRequest(r *http.Request) Request {
	target := r.RequestURI
	if target == "" {
		target = r.URL.RequestURI()
	}
	pathname, search := ParseTarget(target)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return Request{Pathname: pathname, Search: search, Host: r.Host, Scheme: scheme}
}

// ServeHTTP serves r at the root of its host; see NewRequest and Serve.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.Serve(w, r, NewRequest(r))
}

// Header values shared by every response. Capacity 1, see asset.
var (
	cacheControlValue = one("public, max-age=0, must-revalidate")
	varyValue         = one("Accept-Encoding")
	encodingValues    = [numEncodings][]string{nil, one("gzip"), one("br")}
)

// Serve answers r from the site, following the whole pipeline
// (docs/asset-serving.md#the-pipeline): _redirects, decoding, html_handling,
// not_found_handling, the 405 rule, canonical 307s, the asset with ETag/304,
// then _headers on whatever came out. Beyond Cloudflare it answers a single
// byte range with 206 (416 when unsatisfiable) and serves a gzip or br
// variant when the client accepts it.
func (s *Site) Serve(w http.ResponseWriter, r *http.Request, req Request) {
	method := r.Method
	h := w.Header()
	pathname := req.Pathname

	if rr, t, ok := s.matchRedirect(pathname); ok {
		if rr.status != http.StatusOK {
			h["Location"] = one(t.location(&req))
			s.finish(w, h, &req, rr.status, 0)
			return
		}
		pathname = t.path
	}

	d := decodePath(pathname)
	in := s.resolve(d, true, s.notFound)
	switch {
	case in.kind == intentNone:
		s.finish(w, h, &req, http.StatusNotFound, 0)
		return
	case !isGetOrHead(method):
		s.finish(w, h, &req, http.StatusMethodNotAllowed, 0)
		return
	case in.kind == intentRedirect:
		s.redirect307(w, h, &req, in.to)
		return
	case !isCanonical(d, pathname):
		s.redirect307(w, h, &req, d)
		return
	}
	s.serveAsset(w, h, r, &req, method, in)
}

// CanServe is the router's dry run (docs/asset-serving.md#run-worker-first):
// whether the pipeline would produce anything but the "no intent" 404 for
// req. A _redirects match, a 200 rewrite (even to nothing), an html_handling
// redirect and an asset that would answer 405 all count. keepNotFound runs
// the site's real not_found_handling; without it SPA and 404-page fallbacks
// do not count.
func (s *Site) CanServe(req Request, keepNotFound bool) bool {
	if _, _, ok := s.matchRedirect(req.Pathname); ok {
		return true
	}
	nf := rules.NotFoundNone
	if keepNotFound {
		nf = s.notFound
	}
	return s.resolve(decodePath(req.Pathname), true, nf).kind != intentNone
}

// RouteOptions describe the deployment around the assets for Route.
type RouteOptions struct {
	// HasWorker is true when the deployment has server code.
	HasWorker bool
	// RunWorkerFirst is the deployment's run_worker_first setting.
	RunWorkerFirst rules.RunWorkerFirst
	// NavigationPrefersAssets is the assets_navigation_prefers_asset_serving
	// flag; see rules.NavigationPrefersAssets.
	NavigationPrefersAssets bool
}

// Route decides whether server code or the asset pipeline answers r
// (docs/asset-serving.md#run-worker-first): run_worker_first negative rules,
// positive rules and true first; then, with server code present, the dry run
// of CanServe, which keeps the not_found fallbacks only with static routing
// or for a navigation request under the navigation flag. It returns
// rules.RouteWorker or rules.RouteAssets.
func (s *Site) Route(r *http.Request, req Request, o RouteOptions) rules.Route {
	switch o.RunWorkerFirst.Match(req.Pathname) {
	case rules.RouteAssets:
		return rules.RouteAssets
	case rules.RouteWorker:
		if o.HasWorker {
			return rules.RouteWorker
		}
	}
	if !o.HasWorker {
		return rules.RouteAssets
	}
	keep := o.RunWorkerFirst.StaticRouting() ||
		o.NavigationPrefersAssets && len(r.Header["Sec-Fetch-Mode"]) == 1 && r.Header["Sec-Fetch-Mode"][0] == "navigate"
	if s.CanServe(req, keep) {
		return rules.RouteAssets
	}
	return rules.RouteWorker
}

func isGetOrHead(m string) bool {
	return m == http.MethodGet || m == http.MethodHead ||
		strings.EqualFold(m, http.MethodGet) || strings.EqualFold(m, http.MethodHead)
}

func isHead(m string) bool { return m == http.MethodHead || strings.EqualFold(m, http.MethodHead) }

// redirect307 answers with a redirect to the canonical encoding of the
// decoded path d, keeping the query (docs/asset-serving.md#request-paths).
func (s *Site) redirect307(w http.ResponseWriter, h http.Header, req *Request, d string) {
	b := make([]byte, 0, len(req.Prefix)+len(d)+len(req.Search)+16)
	b = append(b, req.Prefix...)
	b = appendCanonical(b, d)
	b = append(b, req.Search...)
	h["Location"] = one(string(b))
	s.finish(w, h, req, http.StatusTemporaryRedirect, 0)
}

// finishing says what finish must keep true of a response, whatever
// _headers does to it.
type finishing uint8

const (
	// withBody: a body follows, and an unknown type must not be sniffed.
	withBody finishing = 1 << iota
	// variesByEncoding: the asset has stored variants, so Vary must name
	// Accept-Encoding or a shared cache could hand br bytes to a client
	// that never accepted them.
	variesByEncoding
)

// finish applies _headers (matched on the original pathname), then writes
// the status.
func (s *Site) finish(w http.ResponseWriter, h http.Header, req *Request, status int, f finishing) {
	s.applyHeaders(h, req.Pathname, req)
	if f&variesByEncoding != 0 {
		keepVaryAcceptEncoding(h)
	}
	if f&withBody != 0 {
		if _, ok := h["Content-Type"]; !ok {
			h["Content-Type"] = nil // no sniffing: an unknown type stays unknown
		}
	}
	w.WriteHeader(status)
}

// serveAsset answers with the asset of in: headers, 304, range, body.
func (s *Site) serveAsset(w http.ResponseWriter, h http.Header, r *http.Request, req *Request, method string, in intent) {
	a := in.asset
	reps, err := s.cache.reps(r.Context(), a.hash)
	if err != nil {
		s.logger.Error("serve asset", "deployment", s.id, "path", a.path, "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	rh := r.Header
	rangeHeader := rh["Range"]
	_, hasAuth := rh["Authorization"]
	varied := !reps[encGzip].missing || !reps[encBr].missing
	ranged := in.status == http.StatusOK && len(rangeHeader) > 0

	enc := encIdentity
	if varied && !ranged {
		enc = negotiate(rh["Accept-Encoding"], &reps)
	}
	rp := reps[enc]

	h["Etag"] = a.etag[enc]
	h["Content-Type"] = a.contentType
	if !hasAuth && len(rangeHeader) == 0 {
		h["Cache-Control"] = cacheControlValue
	}
	if varied {
		h["Vary"] = varyValue
	}

	var f finishing
	if varied {
		f = variesByEncoding
	}
	if inm := rh["If-None-Match"]; len(inm) == 1 {
		// A variant's ETag counts only for a variant this asset has: the
		// host never sent one for a variant it does not store.
		if e, ok := matchETag(inm[0], a.hash[:32]); ok && !reps[e].missing {
			h["Etag"] = a.etag[e]
			s.finish(w, h, req, http.StatusNotModified, f)
			return
		}
	}

	status, off, n := in.status, int64(0), rp.size
	if ranged && rangeApplies(rh["If-Range"], a.etag[encIdentity][0]) {
		switch start, length, res := parseRange(rangeHeader, rp.size); res {
		case rangeUnsatisfiable:
			h["Content-Range"] = one("bytes */" + formatLength(rp.size))
			delete(h, "Content-Type")
			s.finish(w, h, req, http.StatusRequestedRangeNotSatisfiable, f)
			return
		case rangeSatisfiable:
			status, off, n = http.StatusPartialContent, start, length
			h["Content-Range"] = one("bytes " + formatLength(start) + "-" + formatLength(start+length-1) + "/" + formatLength(rp.size))
		}
	}
	if enc != encIdentity {
		h["Content-Encoding"] = encodingValues[enc]
	}
	if n == rp.size {
		h["Content-Length"] = rp.length
	} else {
		h["Content-Length"] = one(formatLength(n))
	}

	var ra io.ReaderAt
	if !isHead(method) && n > 0 {
		switch {
		case rp.streamed:
			ra, err = s.cache.open(r.Context(), a.hash, enc)
		case rp.file != nil:
			if rp, err = s.cache.hold(r.Context(), a.hash, enc, rp); err == nil && rp.file != nil {
				defer rp.file.release()
			}
		}
		if err != nil {
			for k := range h {
				delete(h, k)
			}
			s.logger.Error("serve asset", "deployment", s.id, "path", a.path, "err", err)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
	}
	s.finish(w, h, req, status, f|withBody)
	if isHead(method) || n == 0 {
		return
	}
	// A write error means the client went away; there is nobody to tell.
	switch {
	case rp.file != nil:
		sendFile(w, r, coalesce.NewSection(rp.file.f, off, n))
	case !rp.streamed:
		w.Write(rp.data[off : off+n])
	default:
		bufp := copyBuffers.Get().(*[]byte)
		defer copyBuffers.Put(bufp)
		io.CopyBuffer(writerOnly{w}, io.NewSectionReader(ra, off, n), *bufp)
	}
}

// sendFile sends a body held in an in-memory file. On a plain TCP
// connection (a coalesce.Conn) every writer on the way (the router's
// recorder, the isolation and preview wrappers, net/http's own) passes the
// Section down through ReadFrom to the connection, which sends it with
// sendfile; the header is flushed into the connection's hold first, or
// net/http would read the body's first 512 bytes through the process to
// sniff a type that is already set. Elsewhere (TLS, HTTP/2, recorders) the
// body is copied through a pooled buffer: a writer's own ReadFrom might
// allocate one per response.
func sendFile(w http.ResponseWriter, r *http.Request, body *coalesce.Section) {
	bufp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bufp)
	if coalesce.From(r.Context()) == nil {
		io.CopyBuffer(writerOnly{w}, body, *bufp)
		return
	}
	http.NewResponseController(w).Flush()
	io.CopyBuffer(w, body, *bufp)
}

// copyBuffers hold the buffers large blobs are streamed through.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// writerOnly hides the ResponseWriter's ReadFrom, which would allocate a
// buffer per request for a reader that is not a file.
type writerOnly struct{ io.Writer }

// negotiate picks the representation to send for the Accept-Encoding
// values: br or gzip when the client accepts it with q > 0 and the variant
// exists, the higher q first, br on a tie; identity otherwise.
func negotiate(values []string, reps *[numEncodings]*rep) encoding {
	var q [numEncodings]int // -1: not mentioned
	q[encGzip], q[encBr] = -1, -1
	star := -1
	for _, v := range values {
		for v != "" {
			var item string
			if i := strings.IndexByte(v, ','); i >= 0 {
				item, v = v[:i], v[i+1:]
			} else {
				item, v = v, ""
			}
			name, params, _ := strings.Cut(item, ";")
			name = strings.TrimSpace(name)
			qv := parseQ(params)
			switch {
			case strings.EqualFold(name, "br"):
				q[encBr] = qv
			case strings.EqualFold(name, "gzip"), strings.EqualFold(name, "x-gzip"):
				q[encGzip] = qv
			case name == "*":
				star = qv
			}
		}
	}
	best, bestQ := encIdentity, 0
	for _, e := range [...]encoding{encBr, encGzip} {
		qe := q[e]
		if qe < 0 {
			qe = max(star, 0)
		}
		if qe > bestQ && !reps[e].missing {
			best, bestQ = e, qe
		}
	}
	return best
}

// parseQ reads the q parameter of an Accept-Encoding item in thousandths;
// a missing or unreadable q counts as 1.
func parseQ(params string) int {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" || v[0] != '0' && v[0] != '1' {
			return 1000
		}
		n := int(v[0]-'0') * 1000
		if len(v) > 1 && v[1] == '.' {
			scale := 100
			for i := 2; i < len(v) && i < 5 && '0' <= v[i] && v[i] <= '9'; i++ {
				n += int(v[i]-'0') * scale
				scale /= 10
			}
		}
		return min(n, 1000)
	}
	return 1000
}

// keepVaryAcceptEncoding puts Accept-Encoding back into Vary when _headers
// replaced or removed it.
func keepVaryAcceptEncoding(h http.Header) {
	v := h["Vary"]
	if len(v) == 1 && v[0] == "Accept-Encoding" {
		return // untouched by _headers, the usual case
	}
	for _, line := range v {
		for tok := range strings.SplitSeq(line, ",") {
			if tok = strings.TrimSpace(tok); tok == "*" || strings.EqualFold(tok, "Accept-Encoding") {
				return
			}
		}
	}
	if len(v) == 0 {
		h["Vary"] = varyValue
		return
	}
	h["Vary"] = one(strings.Join(v, ", ") + ", Accept-Encoding")
}

// matchETag reports whether an If-None-Match value is exactly one of the
// asset's ETags, strong or weak (no list parsing, "*" is not special:
// docs/asset-serving.md#responses-etag-and-304), and which representation it
// names.
func matchETag(v, hash32 string) (encoding, bool) {
	v = strings.TrimPrefix(v, "W/")
	if len(v) < 34 || v[0] != '"' || v[len(v)-1] != '"' || v[1:33] != hash32 {
		return 0, false
	}
	switch v[33 : len(v)-1] {
	case "":
		return encIdentity, true
	case "-gzip":
		return encGzip, true
	case "-br":
		return encBr, true
	}
	return 0, false
}

// rangeApplies evaluates If-Range: without it the Range applies; with it,
// only when it is exactly the identity ETag (there is no Last-Modified to
// compare a date with).
func rangeApplies(ifRange []string, etag string) bool {
	return len(ifRange) == 0 || len(ifRange) == 1 && ifRange[0] == etag
}

type rangeResult uint8

const (
	rangeIgnored       rangeResult = iota // serve the whole body with 200
	rangeSatisfiable                      // 206
	rangeUnsatisfiable                    // 416
)

// parseRange reads a Range header for a body of size bytes. One
// "bytes=first-last", "bytes=first-" or "bytes=-suffix" is served; a list
// of ranges, another unit or a malformed value is ignored (a full 200, as
// RFC 9110 allows).
func parseRange(values []string, size int64) (start, length int64, res rangeResult) {
	if len(values) != 1 {
		return 0, 0, rangeIgnored
	}
	v := strings.TrimSpace(values[0])
	if len(v) < 6 || !strings.EqualFold(v[:6], "bytes=") || strings.IndexByte(v, ',') >= 0 {
		return 0, 0, rangeIgnored
	}
	first, last, ok := strings.Cut(strings.TrimSpace(v[6:]), "-")
	if !ok {
		return 0, 0, rangeIgnored
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" {
		n, ok := parseDigits(last)
		if !ok {
			return 0, 0, rangeIgnored
		}
		if n == 0 || size == 0 {
			return 0, 0, rangeUnsatisfiable
		}
		n = min(n, size)
		return size - n, n, rangeSatisfiable
	}
	a, ok := parseDigits(first)
	if !ok {
		return 0, 0, rangeIgnored
	}
	b := size - 1
	if last != "" {
		if b, ok = parseDigits(last); !ok || b < a {
			return 0, 0, rangeIgnored
		}
	}
	if a >= size {
		return 0, 0, rangeUnsatisfiable
	}
	b = min(b, size-1)
	return a, b - a + 1, rangeSatisfiable
}

func parseDigits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}
