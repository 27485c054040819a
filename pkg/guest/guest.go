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
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
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
//
// Go's garbage collector stops the whole instance while it runs, so the
// fewer bytes a request allocates, the rarer those pauses: handle builds
// the same *http.Request net/http/cgi would, but from one string holding
// every variable (its names and values are slices of it, safe to keep
// after the request) instead of a map of them, and reuses the response's
// buffers.
func handle(in []byte, out []byte) []byte {
	end := bytes.Index(in, []byte{0, 0})
	switch {
	case len(in) > 0 && in[0] == 0:
		end = 0
	case end < 0:
		return errorResponse(out, "request has no end of variables")
	default:
		end++ // keep the last variable's NUL
	}
	vars := string(in[:end])
	body := in[end+1:]
	req, err := newRequest(vars)
	if err != nil {
		return errorResponse(out, err.Error())
	}
	req.Body = &bodyReader{Reader: bytes.NewReader(body)}
	req.ContentLength = int64(len(body))
	w := &responseWriter{header: http.Header{}, body: respBody[:0]}
	h := handler
	if h == nil {
		h = http.DefaultServeMux
	}
	h.ServeHTTP(w, req)
	out = w.cgi(out)
	respBody = w.body[:0]
	return out
}

// respBody is the storage of the response bodies, reused by every request
// (a handler's writes after it returned are as wrong here as in net/http).
var respBody []byte

// bodyReader is the request body: the bytes the host sent.
type bodyReader struct{ *bytes.Reader }

func (bodyReader) Close() error { return nil }

// cgiVars are the variables of a request that newRequest reads, as
// net/http/cgi's RequestFromMap does.
type cgiVars struct {
	method, proto, host, contentLength, contentType string
	requestURI, scriptName, pathInfo, query, https  string
	remoteAddr, remotePort                          string
}

// newRequest builds the request net/http/cgi's RequestFromMap would build
// from vars (NAME=VALUE pairs, each ended by NUL), without a map.
func newRequest(vars string) (*http.Request, error) {
	var v cgiVars
	nHeaders := 0
	for rest := vars; rest != ""; {
		i := strings.IndexByte(rest, 0)
		kv := rest[:i]
		rest = rest[i+1:]
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, errors.New("request variable without '='")
		}
		switch k {
		case "REQUEST_METHOD":
			v.method = val
		case "SERVER_PROTOCOL":
			v.proto = val
		case "HTTP_HOST":
			v.host = val
		case "CONTENT_LENGTH":
			v.contentLength = val
		case "CONTENT_TYPE":
			v.contentType = val
		case "REQUEST_URI":
			v.requestURI = val
		case "SCRIPT_NAME":
			v.scriptName = val
		case "PATH_INFO":
			v.pathInfo = val
		case "QUERY_STRING":
			v.query = val
		case "HTTPS":
			v.https = val
		case "REMOTE_ADDR":
			v.remoteAddr = val
		case "REMOTE_PORT":
			v.remotePort = val
		default:
			if strings.HasPrefix(k, "HTTP_") {
				nHeaders++
			}
		}
	}

	r := new(http.Request)
	r.Method = v.method
	if r.Method == "" {
		return nil, errors.New("cgi: no REQUEST_METHOD in environment")
	}
	r.Proto = v.proto
	if r.Proto == "INCLUDED" {
		r.ProtoMajor, r.ProtoMinor = 1, 0
	} else if major, minor, ok := http.ParseHTTPVersion(r.Proto); ok {
		r.ProtoMajor, r.ProtoMinor = major, minor
	} else {
		return nil, errors.New("cgi: invalid SERVER_PROTOCOL version")
	}
	r.Close = true
	r.Trailer = http.Header{}
	r.Header = make(http.Header, nHeaders+1)
	r.Host = v.host
	if v.contentLength != "" {
		n, err := strconv.ParseInt(v.contentLength, 10, 64)
		if err != nil {
			return nil, errors.New("cgi: bad CONTENT_LENGTH in environment: " + v.contentLength)
		}
		r.ContentLength = n
	}
	if v.contentType != "" {
		r.Header.Set("Content-Type", v.contentType)
	}
	if nHeaders > 0 {
		// One backing array for every header's values.
		values := make([]string, 0, nHeaders)
		for rest := vars; rest != ""; {
			i := strings.IndexByte(rest, 0)
			kv := rest[:i]
			rest = rest[i+1:]
			k, val, _ := strings.Cut(kv, "=")
			if k == "HTTP_HOST" || !strings.HasPrefix(k, "HTTP_") {
				continue
			}
			name := headerName(k)
			if old, ok := r.Header[name]; ok {
				r.Header[name] = append(old, val)
				continue
			}
			values = append(values, val)
			r.Header[name] = values[len(values)-1 : len(values) : len(values)]
		}
	}

	uri := v.requestURI
	if uri == "" {
		uri = v.scriptName + v.pathInfo
		if v.query != "" {
			uri += "?" + v.query
		}
	}
	if s := v.https; s == "on" || s == "ON" || s == "1" {
		r.TLS = &tls.ConnectionState{HandshakeComplete: true}
	}
	if r.Host != "" {
		scheme := "http://"
		if r.TLS != nil {
			scheme = "https://"
		}
		if u, err := url.Parse(scheme + r.Host + uri); err == nil {
			r.URL = u
		} else {
			return nil, errors.New("cgi: failed to parse host and REQUEST_URI into a URL: " + scheme + r.Host + uri)
		}
	} else {
		u, err := url.Parse(uri)
		if err != nil {
			return nil, errors.New("cgi: failed to parse REQUEST_URI into a URL: " + uri)
		}
		r.URL = u
	}
	port, _ := strconv.Atoi(v.remotePort) // zero if unset or invalid
	r.RemoteAddr = net.JoinHostPort(v.remoteAddr, strconv.Itoa(port))
	return r, nil
}

// headerNames caches the header name of HTTP_* variables (HTTP_USER_AGENT:
// User-Agent), at most maxHeaderNames of them, so that a client sending
// ever new names cannot grow it.
var headerNames = map[string]string{}

const maxHeaderNames = 256

// headerName returns the canonical header name of an HTTP_* variable.
func headerName(k string) string {
	if name, ok := headerNames[k]; ok {
		return name
	}
	name := textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(k[len("HTTP_"):], "_", "-"))
	if len(headerNames) < maxHeaderNames {
		headerNames[strings.Clone(k)] = name
	}
	return name
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
	body        []byte
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
	w.body = append(w.body, p...)
	return len(p), nil
}

// WriteString saves fmt and io.WriteString a copy of s.
func (w *responseWriter) WriteString(s string) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.body = append(w.body, s...)
	return len(s), nil
}

// headerKeys is the storage for sorting a response's header names, reused.
var headerKeys []string

// cgi prints the response in CGI form: a Status line, the headers (a
// Content-Type sniffed from the body when the handler set none, as
// net/http does) and the body.
func (w *responseWriter) cgi(out []byte) []byte {
	if !w.wroteHeader {
		w.status = http.StatusOK
	}
	if _, ok := w.header["Content-Type"]; !ok && len(w.body) > 0 {
		w.header.Set("Content-Type", http.DetectContentType(w.body))
	}
	out = append(out[:0], "Status: "...)
	out = strconv.AppendInt(out, int64(w.status), 10)
	out = append(out, ' ')
	out = append(out, http.StatusText(w.status)...)
	out = append(out, "\r\n"...)
	keys := headerKeys[:0]
	for k := range w.header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range w.header[k] {
			out = append(out, k...)
			out = append(out, ": "...)
			out = append(out, v...)
			out = append(out, "\r\n"...)
		}
	}
	clear(keys)
	headerKeys = keys[:0]
	out = append(out, "\r\n"...)
	return append(out, w.body...)
}
