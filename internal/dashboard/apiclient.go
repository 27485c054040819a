package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// The dashboard reads and changes nothing itself: every page calls the
// management API in process, with the signed-in user's token, so what a
// user may see and do is exactly what the API lets that token see and do,
// and its failures count toward the same limits.

// recorder is an in-memory http.ResponseWriter for one API call.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// maxAPIBody bounds what one in-process API answer may hold before the
// dashboard stops reading it (a page of 1000 projects is well under it).
const maxAPIBody = 32 << 20

// apiRequest builds the in-process request for method and path (with its
// query) on behalf of the browser's request r, authenticated by token: it
// keeps r's client address, host and TLS state, so the API's limiter counts
// the right client and its URLs use the scheme and port the browser used.
func apiRequest(ctx context.Context, r *http.Request, token, method, path string, body any) (*http.Request, error) {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode API body: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://cfhost"+path, rd)
	if err != nil {
		return nil, fmt.Errorf("build API request: %w", err)
	}
	req.RemoteAddr, req.Host, req.TLS = r.RemoteAddr, r.Host, r.TLS
	for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Proto"} {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.RequestURI = req.URL.RequestURI()
	return req, nil
}

// call sends one API request and decodes a success into out (when not
// nil). A failure is the API's own *api.Error.
func (d *Dashboard) call(r *http.Request, s session, method, path string, body, out any) error {
	req, err := apiRequest(r.Context(), r, s.Token, method, path, body)
	if err != nil {
		return err
	}
	rec := &recorder{header: http.Header{}}
	d.cfg.API.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.body.Len() > maxAPIBody {
		return fmt.Errorf("API answer to %s %s is over %d bytes", method, path, maxAPIBody)
	}
	if rec.status >= 300 {
		var e api.ErrorResponse
		if json.Unmarshal(rec.body.Bytes(), &e) == nil && len(e.Errors) > 0 {
			return api.Errorf(e.Errors[0].Code, "%s", e.Errors[0].Message)
		}
		return fmt.Errorf("API %s %s: status %d", method, path, rec.status)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
		return fmt.Errorf("decode API answer to %s %s: %w", method, path, err)
	}
	return nil
}

// pipeWriter streams an API answer to a reader as it is written.
type pipeWriter struct {
	header http.Header
	status chan int
	pw     *io.PipeWriter
	wrote  bool
}

func (p *pipeWriter) Header() http.Header { return p.header }
func (p *pipeWriter) WriteHeader(code int) {
	if !p.wrote {
		p.wrote = true
		p.status <- code
	}
}
func (p *pipeWriter) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return p.pw.Write(b)
}
func (p *pipeWriter) Flush() {}

// stream sends one API request whose answer is read as it comes (the log
// stream). The caller reads body until EOF and closes it; cancelling
// r's context ends the API side.
func (d *Dashboard) stream(r *http.Request, s session, path string) (io.ReadCloser, error) {
	req, err := apiRequest(r.Context(), r, s.Token, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, status: make(chan int, 1), pw: pw}
	go func() {
		d.cfg.API.ServeHTTP(w, req)
		w.WriteHeader(http.StatusOK)
		pw.Close()
	}()
	status := <-w.status
	if status >= 300 {
		b, _ := io.ReadAll(io.LimitReader(pr, 1<<20))
		pr.Close()
		var e api.ErrorResponse
		if json.Unmarshal(b, &e) == nil && len(e.Errors) > 0 {
			return nil, api.Errorf(e.Errors[0].Code, "%s", e.Errors[0].Message)
		}
		return nil, fmt.Errorf("API GET %s: status %d", path, status)
	}
	return pr, nil
}

// apiPath joins escaped segments under /__api/projects/.
func apiPath(segments ...string) string {
	var b strings.Builder
	b.WriteString("/__api/projects")
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}
