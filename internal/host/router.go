package host

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host/accesslog"
	"github.com/cfdeploy/cfdeploy/internal/host/assets"
	"github.com/cfdeploy/cfdeploy/internal/host/coalesce"
	"github.com/cfdeploy/cfdeploy/pkg/alias"
)

// ServeHTTP routes a request
// (docs/asset-serving.md#routing-a-request-to-a-project): the management API
// on any host, then a project by subdomain, then a project by path prefix.
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer h.watchBody(w, r)()
	path := rawPath(r)
	start := time.Now()
	rec := recorders.Get().(*statusRecorder)
	*rec = statusRecorder{ResponseWriter: w, status: http.StatusOK, start: start}
	conn := coalesce.From(r.Context())
	if arrived := conn.Arrived(); !arrived.IsZero() {
		// net/http's reading and parsing of the request (linear in its
		// target, like the work after it) counts as the request's work;
		// beyond maxParseCharge it is waiting for the client, not work.
		rec.start = start.Add(-min(max(start.Sub(arrived), 0), maxParseCharge))
	}
	defer conn.Arrived()
	defer h.finish(rec, r, path, start)
	if path == "/__api" || strings.HasPrefix(path, "/__api/") {
		rec.class = classAPI
		h.serveAPI(rec, r, strings.TrimPrefix(path, "/__api"))
		return
	}
	if path == "/__metrics" {
		rec.class = classAPI
		h.serveMetrics(rec, r)
		return
	}
	w = rec
	// The dashboard comes before any project, so no project (the default
	// one included) can shadow it on the host's own names.
	if h.servesDashboard(r.Host, path) {
		rec.class = classAPI
		h.dashboard.ServeHTTP(rec, r)
		return
	}
	// Everything a project does per request (rules, path handling, the
	// not-found walk) is linear in the target at worst; this bounds it.
	if len(requestTarget(r)) > h.cfg.MaxRequestTarget {
		textError(w, http.StatusRequestURITooLong, fmt.Sprintf("The request target is longer than this host's limit of %d bytes.\n", h.cfg.MaxRequestTarget))
		return
	}
	// Project paths are normalised as a browser would (dot segments,
	// backslashes) before the /__project/ prefix is looked at, so the
	// prefix decision and the path the project sees always agree.
	pathname, search := assets.ParseTarget(requestTarget(r))
	if id, ok := h.projectFromHost(r.Host); ok {
		h.serveProject(w, r, id, "", pathname, search)
		return
	}
	// A custom domain is the project's own origin: every path on it,
	// /__project/ included, is the project's.
	if id, ok := h.projectFromDomain(r.Host); ok {
		if h.cfg.HTTPSPort != "" && h.scheme(r) != "https" {
			redirectHTTPS(w, r, h.cfg.HTTPSPort)
			return
		}
		h.serveProject(w, r, id, "", pathname, search)
		return
	}
	if rest, ok := strings.CutPrefix(pathname, "/__project/"); ok {
		if h.cfg.DisablePathRouting {
			textError(w, http.StatusNotFound, "This host does not serve projects under /__project/ (path routing is off). Address a project as http://<project-id>."+h.cfg.BaseDomain+"/.\n")
			return
		}
		if h.belowProjectHost(r.Host) {
			textError(w, http.StatusNotFound, "Projects are not served under /__project/ on a name below a project's host: a page there could set cookies for that project. Address a project as http://<project-id>."+h.cfg.BaseDomain+"/, or by path on another name or address of this host.\n")
			return
		}
		id, sub, slash := strings.Cut(rest, "/")
		if id != "" {
			if !slash {
				// The project's root is /__project/<id>/: served at the
				// bare form, its relative links would resolve against
				// /__project/ and leave the project.
				w.Header().Set("Location", "/__project/"+id+"/"+search)
				w.WriteHeader(http.StatusPermanentRedirect)
				return
			}
			if short, rest, ok := strings.Cut(sub, "/"); ok && strings.HasPrefix(short, "__deployment") {
				// /__project/<id>/__deployment/<short-id>/… serves one
				// deployment, as <short-id>--<id>.<base domain> does.
				if short == "__deployment" && rest != "" {
					sel, rest2, slash := strings.Cut(rest, "/")
					prefix := "/__project/" + id + "/__deployment/" + sel
					if !slash {
						w.Header().Set("Location", prefix+"/"+search)
						w.WriteHeader(http.StatusPermanentRedirect)
						return
					}
					h.serveProject(w, r, alias.Label(sel, id), prefix, "/"+rest2, search)
					return
				}
			}
			h.serveProject(w, r, id, "/__project/"+id, "/"+sub, search)
			return
		}
	}
	if id := *h.defaultProject.Load(); id != "" {
		h.serveProject(w, r, id, "", pathname, search)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	msg := "No project here. Address a project as http://<project-id>." + h.cfg.BaseDomain + "/ or under the path /__project/<project-id>/.\n"
	if h.cfg.DisablePathRouting {
		msg = "No project here. Address a project as http://<project-id>." + h.cfg.BaseDomain + "/.\n"
	}
	w.Write([]byte(msg))
}

// requestTarget is the request's path and query as sent, before any
// decoding.
func requestTarget(r *http.Request) string {
	t := r.RequestURI
	if t == "" || !strings.HasPrefix(t, "/") {
		// Absolute-form targets ("http://host/x") carry the path in the
		// parsed URL.
		t = r.URL.RequestURI()
	}
	return t
}

// rawPath is the request's path as sent, before any decoding.
func rawPath(r *http.Request) string {
	p, _, _ := strings.Cut(requestTarget(r), "?")
	return p
}

// clientAddr is the client's "ip:port"; behind a trusted proxy, the address
// the proxy reports in X-Forwarded-For.
func (h *Host) clientAddr(r *http.Request) string {
	if len(h.cfg.TrustProxy) == 0 || !h.fromTrustedProxy(r) {
		return r.RemoteAddr
	}
	xff := r.Header.Values("X-Forwarded-For")
	if len(xff) == 0 {
		return r.RemoteAddr
	}
	parts := strings.Split(xff[len(xff)-1], ",")
	ip, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1]))
	if err != nil {
		return r.RemoteAddr
	}
	return netip.AddrPortFrom(ip, 0).String()
}

func (h *Host) fromTrustedProxy(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	for _, p := range h.cfg.TrustProxy {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// projectFromHost returns the project id when host is exactly one label
// below the base domain. IP addresses and the bare base domain never name a
// project. It runs on every request, so it parses by hand rather than with
// net.SplitHostPort and netip.ParseAddr, which allocate an error for the
// common inputs (no port; not an IP).
func (h *Host) projectFromHost(host string) (string, bool) {
	if strings.HasPrefix(host, "[") {
		return "", false // an IPv6 literal
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	label, ok := strings.CutSuffix(host, h.dotBase)
	if !ok || label == "" || strings.Contains(label, ".") || isIPv4ish(host) {
		return "", false
	}
	return label, true
}

// isIPv4ish reports whether host has only digits and dots, as every IPv4
// literal does and no DNS name under a real base domain can.
func isIPv4ish(host string) bool {
	for i := 0; i < len(host); i++ {
		if c := host[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// scheme reports https for TLS connections and for trusted proxies that
// say so.
func (h *Host) scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") && h.fromTrustedProxy(r) {
		return "https"
	}
	return "http"
}

// statusRecorder notes what a response was, for the access log and the
// metrics: its status, body bytes and what answered it.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	class  requestClass
	// start is when the request's work began (its reading by net/http,
	// when known), so that the pacer can charge a long request the work
	// done before its turn.
	start time.Time
}

// recorders reuses statusRecorders: one is needed for every request.
var recorders = sync.Pool{New: func() any { return new(statusRecorder) }}

// finish logs and counts a served request.
func (h *Host) finish(rec *statusRecorder, r *http.Request, path string, start time.Time) {
	d := time.Since(start)
	h.metrics.observe(rec.class, rec.status, rec.bytes, d)
	switch {
	case rec.class == classAPI:
		h.metrics.observeAPI(r, path, rec.status, d)
		h.log.Info("api", "method", r.Method, "path", path, "status", rec.status, "duration", d, "remote", r.RemoteAddr)
	case h.access != nil:
		h.access.Log(accesslog.Entry{Time: start, Method: r.Method, Host: r.Host, Path: path, Status: rec.status,
			Bytes: rec.bytes, Duration: d, Remote: r.RemoteAddr, By: classNames[rec.class]})
	}
	*rec = statusRecorder{}
	recorders.Put(rec)
}

// setClass records what answers a request, when w is the router's recorder.
// maxParseCharge bounds the time before the handler that is charged to a
// request: net/http reads and parses the longest target we accept in far
// less, so more is a slow client, which must not cost its project pacing.
const maxParseCharge = time.Millisecond

// handlerSince is how long ago the request w records began to be read and
// served, or 0 when w is not a statusRecorder.
func handlerSince(w http.ResponseWriter) time.Duration {
	if rec, ok := w.(*statusRecorder); ok && !rec.start.IsZero() {
		return time.Since(rec.start)
	}
	return 0
}

func setClass(w http.ResponseWriter, c requestClass) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.class = c
	}
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// ReadFrom passes src down to the writer below, so that an asset body kept
// in a file reaches the connection's sendfile instead of being copied
// through Write.
func (s *statusRecorder) ReadFrom(src io.Reader) (int64, error) {
	var n int64
	var err error
	if rf, ok := s.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(struct{ io.Writer }{s.ResponseWriter}, src)
	}
	s.bytes += n
	return n, err
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// redirectHTTPS sends a plain-HTTP request to the same target over HTTPS
// on port.
func redirectHTTPS(w http.ResponseWriter, r *http.Request, port string) {
	host := r.Host
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	if port != "443" {
		host += ":" + port
	}
	w.Header().Set("Location", "https://"+host+requestTarget(r))
	w.WriteHeader(http.StatusPermanentRedirect)
}
