package jsrt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
)

// budget counts the subrequests of one incoming request; a fetch of the
// project's own URL served in-process shares its caller's.
type budget struct{ n atomic.Int32 }

type budgetKey struct{}

// budgetFrom returns the budget ctx carries, or a new one and a context
// carrying it.
func budgetFrom(ctx context.Context) (*budget, context.Context) {
	if b, ok := ctx.Value(budgetKey{}).(*budget); ok {
		return b, ctx
	}
	b := &budget{}
	return b, context.WithValue(ctx, budgetKey{}, b)
}

// ResponseWriter receives a response as the handler produces it: the head
// once, then the body, in one piece or as the handler's stream yields it.
type ResponseWriter interface {
	// WriteHead sends the status and headers; length is the body's size,
	// or -1 when the body is a stream.
	WriteHead(status int, h http.Header, length int64)
	// Write sends part of the body.
	Write(p []byte) error
}

// call is one request's state on the instance serving it.
type call struct {
	req    *Request
	w      ResponseWriter
	budget *budget
	max    int64   // response body cap
	lim    *Limits // nil: the defaults

	logs     [][2]string
	done     bool   // the shim said the request is over (opDone)
	uncaught string // the handler's uncaught error, described
	sent     bool   // head written
	onSent   func() // called once the head is written
	ended    bool   // the whole body written
	wrote    int64  // body bytes written
	// tooLarge is set when the body passed max: the response is cut and
	// the instance discarded.
	tooLarge bool
}

var defaultLimits = Limits{}.withDefaults()

// limits returns the request's bounds.
func (c *call) limits() *Limits {
	if c.lim == nil {
		return &defaultLimits
	}
	return c.lim
}

// wireHead is the head of a subrequest or of its response in a bridge
// frame.
type wireHead struct {
	URL        string      `json:"url,omitempty"`
	Method     string      `json:"method,omitempty"`
	Headers    [][2]string `json:"headers"`
	Status     int         `json:"status,omitempty"`
	StatusText string      `json:"statusText,omitempty"`
	Redirect   string      `json:"redirect,omitempty"`
	Redirected bool        `json:"redirected,omitempty"`
}

// headerPairs lists h with lower-case names, the form the shim keeps, so
// the request's headers go into its Headers without a check per name.
func headerPairs(h http.Header) [][2]string {
	out := make([][2]string, 0, len(h))
	for k, vs := range h {
		k = strings.ToLower(k)
		for _, v := range vs {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

func pairsHeader(pairs [][2]string) http.Header {
	h := http.Header{}
	for _, kv := range pairs {
		h.Add(kv[0], kv[1])
	}
	return h
}

// hostOp runs one bridge operation for the request in.cur.
func (in *instance) hostOp(ctx context.Context, op string, f frame) []byte {
	c := in.cur
	if c == nil {
		switch op {
		case "digest", "hmac", "random", "module":
		default:
			return errFrame("Error", "%s is only available while a request is handled", op)
		}
	}
	switch op {
	case "assets", "fetch":
		return in.subrequest(ctx, op, f)
	case "module":
		return in.requireModule(f)
	case "digest", "hmac", "random":
		return cryptoOp(op, f)
	}
	return errFrame("TypeError", "unknown host operation %q", op)
}

// requireModule answers a CommonJS require(): the module's resolved name,
// type and source.
func (in *instance) requireModule(f frame) []byte {
	var h struct{ From, Spec string }
	if err := json.Unmarshal(f.head, &h); err != nil {
		return errFrame("TypeError", "bad require: %v", err)
	}
	name, ok := in.prog.resolve(h.From, h.Spec)
	if !ok {
		return errFrame("Error", "Cannot find module %q (required from %q)", h.Spec, h.From)
	}
	m := in.prog.Modules[name]
	return encodeFrame(map[string]string{"name": name, "type": m.Type}, m.Source)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// respond sends the response head and, unless stream is set, the whole
// body; nil when it went out, an error frame otherwise.
func (c *call) respond(status int, head string, body []byte, stream bool) []byte {
	if c.sent {
		return errFrame("TypeError", "the response was already sent")
	}
	if status < 200 || status > 599 {
		return errFrame("RangeError", "invalid status %d", status)
	}
	length := int64(len(body))
	if stream {
		length = -1
	}
	if length > c.max {
		c.tooLarge = true
		return errFrame("RangeError", "response body of %d bytes is over this host's limit of %d", length, c.max)
	}
	c.sent = true
	c.onSent()
	c.w.WriteHead(status, parseHead(head), length)
	if length < 0 {
		return nil
	}
	if length == 0 {
		c.ended = true
		return nil
	}
	out := c.chunk(body)
	c.ended = true
	return out
}

// chunk sends a piece of the body; nil when it went out, an error frame
// otherwise.
func (c *call) chunk(b []byte) []byte {
	if !c.sent {
		return errFrame("TypeError", "body before the response head")
	}
	if c.ended {
		return errFrame("TypeError", "the response body was already sent")
	}
	if c.wrote+int64(len(b)) > c.max {
		c.tooLarge = true
		return errFrame("RangeError", "response body over this host's limit of %d bytes", c.max)
	}
	c.wrote += int64(len(b))
	if err := c.w.Write(b); err != nil {
		return errFrame("Error", "the client went away: %v", err)
	}
	return nil
}

// subrequest serves env.ASSETS.fetch ("assets") and fetch() ("fetch").
func (in *instance) subrequest(ctx context.Context, op string, f frame) []byte {
	c := in.cur
	if max := c.limits().Subrequests; int(c.budget.n.Add(1)) > max {
		return errFrame("Error", "Too many subrequests: a request may make at most %d (env.ASSETS.fetch and fetch together)", max)
	}
	var h wireHead
	if err := json.Unmarshal(f.head, &h); err != nil {
		return errFrame("TypeError", "bad request: %v", err)
	}
	var body io.Reader
	if len(f.body) > 0 {
		body = bytes.NewReader(f.body)
	}
	// The subrequest runs under the request's context: its deadline, its
	// budget, and no way to outlive it.
	r, err := http.NewRequestWithContext(context.WithValue(ctx, budgetKey{}, c.budget), h.Method, h.URL, body)
	if err != nil {
		return errFrame("TypeError", "invalid request: %v", err)
	}
	r.Header = pairsHeader(h.Headers)
	r.ContentLength = int64(len(f.body))
	var res *http.Response
	switch op {
	case "assets":
		if c.req.Assets == nil {
			return errFrame("Error", "env.ASSETS is not available to this deployment")
		}
		rec := NewRecorder(c.max)
		c.req.Assets.ServeHTTP(rec, r)
		res = rec.Result()
	default:
		if c.req.Fetch == nil {
			return errFrame("TypeError", "fetch() to other origins is turned off on this host")
		}
		if h.Redirect == "manual" {
			r = r.WithContext(context.WithValue(r.Context(), manualRedirectKey{}, true))
		}
		if res, err = c.req.Fetch(r); err != nil {
			return errFrame("TypeError", "fetch %s failed: %v", redact(h.URL), err)
		}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, c.max+1))
	if err != nil {
		return errFrame("TypeError", "fetch %s: reading the body: %v", redact(h.URL), err)
	}
	if int64(len(b)) > c.max {
		return errFrame("RangeError", "fetch %s: the response body is over this host's limit of %d bytes", redact(h.URL), c.max)
	}
	url := h.URL
	if res.Request != nil && res.Request.URL != nil {
		url = res.Request.URL.String()
	}
	return encodeFrame(wireHead{Status: res.StatusCode, StatusText: statusText(res), Headers: headerPairs(res.Header), URL: url, Redirected: url != h.URL}, b)
}

// manualRedirectKey marks a fetch() with redirect: "manual": its 3xx comes
// back as it is.
type manualRedirectKey struct{}

// ManualRedirect reports whether the fetch() that made r asked for
// redirect: "manual".
func ManualRedirect(r *http.Request) bool {
	v, _ := r.Context().Value(manualRedirectKey{}).(bool)
	return v
}

func statusText(res *http.Response) string {
	if _, text, ok := strings.Cut(res.Status, " "); ok {
		return text
	}
	return http.StatusText(res.StatusCode)
}

// redact drops a URL's query and credentials from error messages.
func redact(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "//"); j >= 0 && j < i {
			u = u[:j+2] + u[i+1:]
		}
	}
	return u
}

// Recorder buffers what an http.Handler writes, up to a cap: a response
// over it becomes a bodiless 502.
type Recorder struct {
	h      http.Header
	status int
	buf    bytes.Buffer
	max    int64
	over   bool
}

// NewRecorder returns a Recorder keeping at most maxBytes of body.
func NewRecorder(maxBytes int64) *Recorder { return &Recorder{h: http.Header{}, max: maxBytes} }

func (r *Recorder) Header() http.Header { return r.h }
func (r *Recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}
func (r *Recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if int64(r.buf.Len()+len(p)) > r.max {
		r.over = true
		return 0, fmt.Errorf("response over %d bytes", r.max)
	}
	return r.buf.Write(p)
}

// Result is what the handler answered.
func (r *Recorder) Result() *http.Response {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.over {
		r.status = http.StatusBadGateway
		r.buf.Reset()
	}
	return &http.Response{StatusCode: r.status, Status: fmt.Sprintf("%d %s", r.status, http.StatusText(r.status)),
		Header: r.h, Body: io.NopCloser(&r.buf)}
}

// canonicalOrigin returns the origin of u when u is a plain http(s) URL
// that the shim's URL parser would give back unchanged (lower-case host,
// no default port, no dot segment, no fragment, no bare "?"), so the shim
// need not parse it on every request; "" otherwise, and the shim parses.
func canonicalOrigin(u string) string {
	rest, ok := strings.CutPrefix(u, "http://")
	defPort := "80"
	if !ok {
		if rest, ok = strings.CutPrefix(u, "https://"); !ok {
			return ""
		}
		defPort = "443"
	}
	slash := strings.IndexByte(rest, '/')
	if slash <= 0 {
		return ""
	}
	host, port, hasPort := strings.Cut(rest[:slash], ":")
	if host == "" || (hasPort && (port == "" || port == defPort || port[0] == '0')) {
		return ""
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return ""
		}
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return ""
		}
	}
	p := rest[slash:]
	if strings.ContainsAny(p, "# \t\n\r") || strings.HasSuffix(p, "?") {
		return ""
	}
	if q := strings.IndexByte(p, '?'); q >= 0 {
		p = p[:q]
	}
	if strings.Contains(p, "/.") {
		return ""
	}
	return u[:len(u)-len(rest)+slash]
}
