// Package guest lets a Go program built for WASI serve many cfhost requests
// from one instance, instead of starting afresh for each one as a CGI
// program (net/http/cgi) does. Go's runtime start-up then happens once per
// instance, not once per request.
//
// Use it from an init function and leave main empty, and build a WASI
// reactor:
//
//	func init() { guest.Serve(mux) }
//	func main()  {}
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o server.wasm .
//
// The host instantiates the module (running the init functions, not main),
// keeps the instance and hands it one request at a time. A handler sees the
// same *http.Request a cgi.Serve handler would: method, URL, headers, body,
// RemoteAddr; project variables are in os.Getenv and the assets and modules
// are mounted read-only at /assets and /modules, as for CGI guests.
//
// What persists between requests: everything in the instance's memory —
// package variables, caches, goroutines left parked. Nothing persists
// beyond the instance: the host keeps a few instances per deployment, may
// close any of them at any time (when idle, on a new deployment, under
// memory pressure), and never shares one between projects or deployments.
// An instance whose request panics, traps, runs past the deadline, runs out
// of memory or answers garbage is discarded; the next request starts a
// fresh one. So treat package state as a cache, never as storage.
//
// Only the standard library is used; the package has no effect on other
// platforms except that Serve records the handler.
package guest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"sort"
)

// handler is the program's handler, set by Serve.
var handler http.Handler

// Serve makes h the handler of every request the host sends to this
// instance. Call it from an init function: the host calls no main.
func Serve(h http.Handler) {
	if h == nil {
		h = http.DefaultServeMux
	}
	handler = h
}

// handle runs one request and returns the CGI response. The request is
// encoded by the host as NAME=VALUE pairs (CGI meta-variables and HTTP_*
// headers), each ended by a NUL byte, then one more NUL, then the body. The
// response reuses out's storage.
func handle(in []byte, out []byte) []byte {
	params := map[string]string{}
	for {
		i := bytes.IndexByte(in, 0)
		if i < 0 {
			return errorResponse(out, "request has no end of variables")
		}
		kv := in[:i]
		in = in[i+1:]
		if len(kv) == 0 {
			break
		}
		k, v, ok := bytes.Cut(kv, []byte{'='})
		if !ok {
			return errorResponse(out, "request variable without '='")
		}
		params[string(k)] = string(v)
	}
	req, err := cgi.RequestFromMap(params)
	if err != nil {
		return errorResponse(out, err.Error())
	}
	req.Body = io.NopCloser(bytes.NewReader(in))
	req.ContentLength = int64(len(in))
	w := &responseWriter{header: http.Header{}}
	h := handler
	if h == nil {
		h = http.DefaultServeMux
	}
	h.ServeHTTP(w, req)
	return w.cgi(out)
}

// errorResponse answers a request the package could not decode.
func errorResponse(out []byte, msg string) []byte {
	out = append(out[:0], "Status: 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"...)
	return append(out, "guest: "+msg+"\n"...)
}

// responseWriter buffers a handler's response.
type responseWriter struct {
	header      http.Header
	status      int
	body        bytes.Buffer
	wroteHeader bool
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.wroteHeader || code < 100 || code > 999 {
		return
	}
	w.wroteHeader = true
	w.status = code
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.body.Write(p)
}

// cgi prints the response in CGI form: a Status line, the headers (a
// Content-Type sniffed from the body when the handler set none, as
// net/http does) and the body.
func (w *responseWriter) cgi(out []byte) []byte {
	if !w.wroteHeader {
		w.status = http.StatusOK
	}
	if _, ok := w.header["Content-Type"]; !ok && w.body.Len() > 0 {
		w.header.Set("Content-Type", http.DetectContentType(w.body.Bytes()))
	}
	out = fmt.Appendf(out[:0], "Status: %d %s\r\n", w.status, http.StatusText(w.status))
	keys := make([]string, 0, len(w.header))
	for k := range w.header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range w.header[k] {
			out = append(out, k...)
			out = append(out, ": "...)
			out = append(out, v...)
			out = append(out, "\r\n"...)
		}
	}
	out = append(out, "\r\n"...)
	return append(out, w.body.Bytes()...)
}
