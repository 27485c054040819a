package worker

// Handing a request back to the asset pipeline (X-Accel-Redirect or a CGI
// local redirect): the guest's env.ASSETS.fetch().

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// AssetHandoff serves a request from the deployment's static assets (never
// the guest again, so hand-offs cannot loop). Serve calls it for a CGI local
// redirect or an X-Accel-Redirect, with r rewritten to a GET (a HEAD stays a
// HEAD) of the guest's path and query, without a body. w already adds the
// guest's extra headers when the status is written, so the handoff only has
// to run the asset pipeline: this is the guest's env.ASSETS.fetch().
type AssetHandoff func(w http.ResponseWriter, r *http.Request)

// handoff serves the guest's local redirect from the static assets.
func (rt *Runtime) handoff(w http.ResponseWriter, r *http.Request, res *response, assets AssetHandoff, log *slog.Logger) {
	if assets == nil {
		log.Warn("server code handed off to assets, but this deployment serves none", "target", res.handoff)
		http.Error(w, http.StatusText(http.StatusBadGateway), http.StatusBadGateway)
		return
	}
	r2, err := handoffRequest(r, res.handoff)
	if err != nil {
		log.Warn("server code handed off to an invalid path", "target", res.handoff, "err", err)
		http.Error(w, http.StatusText(http.StatusBadGateway), http.StatusBadGateway)
		return
	}
	assets(&extraHeaderWriter{ResponseWriter: w, extra: res.header}, r2)
}

// handoffRequest rewrites r into a body-less GET (HEAD stays HEAD) of target.
func handoffRequest(r *http.Request, target string) (*http.Request, error) {
	path, query, _ := strings.Cut(target, "?")
	r2 := r.Clone(r.Context())
	if r.Method != http.MethodHead {
		r2.Method = http.MethodGet
	}
	u := *r.URL
	u.RawQuery = query
	if err := setEscapedPath(&u, path); err != nil {
		return nil, err
	}
	r2.URL = &u
	r2.RequestURI = u.RequestURI()
	r2.Body = http.NoBody
	r2.ContentLength = 0
	r2.Header.Del("Content-Type")
	r2.Header.Del("Content-Length")
	r2.TransferEncoding = nil
	return r2, nil
}

// extraHeaderWriter adds the guest's headers to the asset response just
// before its status is written.
type extraHeaderWriter struct {
	http.ResponseWriter
	extra       http.Header
	wroteHeader bool
}

func (e *extraHeaderWriter) WriteHeader(code int) {
	if !e.wroteHeader {
		e.wroteHeader = true
		h := e.ResponseWriter.Header()
		for k, vs := range e.extra {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
	}
	e.ResponseWriter.WriteHeader(code)
}

func (e *extraHeaderWriter) Write(b []byte) (int, error) {
	if !e.wroteHeader {
		e.WriteHeader(http.StatusOK)
	}
	return e.ResponseWriter.Write(b)
}

// ReadFrom keeps sendfile for asset bodies.
func (e *extraHeaderWriter) ReadFrom(src io.Reader) (int64, error) {
	if !e.wroteHeader {
		e.WriteHeader(http.StatusOK)
	}
	if rf, ok := e.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(struct{ io.Writer }{e.ResponseWriter}, src)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (e *extraHeaderWriter) Unwrap() http.ResponseWriter { return e.ResponseWriter }
