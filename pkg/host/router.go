package host

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// ServeHTTP routes a request per CONTRACT.md "Routing of a request": the
// management API on any host, then a project by subdomain, then a project
// by path prefix.
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := rawPath(r)
	if path == "/__api" || strings.HasPrefix(path, "/__api/") {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.serveAPI(rec, r, strings.TrimPrefix(path, "/__api"))
		h.log.Info("api", "method", r.Method, "path", path, "status", rec.status, "duration", time.Since(start), "remote", r.RemoteAddr)
		return
	}
	if id, ok := h.projectFromHost(r.Host); ok {
		h.serveProject(w, r, id, "")
		return
	}
	if rest, ok := strings.CutPrefix(path, "/__project/"); ok {
		id, _, _ := strings.Cut(rest, "/")
		if id != "" {
			h.serveProject(w, r, id, "/__project/"+id)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	w.Write([]byte("No project here. Address a project as http://<project-id>." + h.cfg.BaseDomain +
		"/ or under the path /__project/<project-id>/.\n"))
}

// rawPath is the request's path as sent, before any decoding.
func rawPath(r *http.Request) string {
	p := r.RequestURI
	if p == "" || p == "*" || !strings.HasPrefix(p, "/") {
		// Absolute-form targets ("http://host/x") and HTTP/2 requests carry
		// the path in the parsed URL.
		p = r.URL.EscapedPath()
	}
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p
}

// projectFromHost returns the project id when host is exactly one label
// below the base domain. IP addresses and the bare base domain never name a
// project.
func (h *Host) projectFromHost(host string) (string, bool) {
	if hp, _, err := net.SplitHostPort(host); err == nil {
		host = hp
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return "", false
	}
	label, ok := strings.CutSuffix(host, "."+h.cfg.BaseDomain)
	if !ok || label == "" || strings.Contains(label, ".") {
		return "", false
	}
	return label, true
}

// scheme reports https for TLS connections and for trusted proxies that
// say so.
func (h *Host) scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if len(h.cfg.TrustProxy) > 0 && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			for _, p := range h.cfg.TrustProxy {
				if p.Contains(ap.Addr().Unmap()) {
					return "https"
				}
			}
		}
	}
	return "http"
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
