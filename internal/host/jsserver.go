package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host/assets"
	"github.com/cfdeploy/cfdeploy/internal/host/jsrt"
	"github.com/cfdeploy/cfdeploy/internal/host/store"
	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// jsEngine is the JS runtime, started on first use: compiling the engine
// takes a second, which a host that never sees JS should not pay.
type jsEngine struct {
	once sync.Once
	rt   *jsrt.Runtime
	err  error
	out  *jsrt.Outbound // fetch() to other origins
}

// jsRuntime returns the JS runtime, with the same deadline, memory cap and
// response cap as WASI guests.
func (h *Host) jsRuntime() (*jsrt.Runtime, error) {
	h.js.once.Do(func() {
		wc := h.worker.Config()
		h.js.rt, h.js.err = jsrt.New(context.Background(), jsrt.Config{
			CacheDir:    filepath.Join(h.cfg.DataDir, "js-cache"),
			Timeout:     wc.Timeout,
			MemoryLimit: wc.MemoryLimit,
			MaxResponse: wc.MaxStdout,
			Limits:      h.cfg.JSLimits,
		})
	})
	return h.js.rt, h.js.err
}

func (h *Host) closeJS() error {
	var rt *jsrt.Runtime
	h.js.once.Do(func() { h.js.err = errors.New("host closed") })
	if h.js.out != nil {
		h.js.out.Close()
	}
	rt = h.js.rt
	if rt == nil {
		return nil
	}
	return rt.Close(context.Background())
}

// validateJS evaluates a JS deployment's modules once, before anything goes
// live: syntax errors, unresolved imports, top-level exceptions and an
// entrypoint without a default export with fetch refuse the deploy with
// module:line:col and the message.
func (h *Host) validateJS(ctx context.Context, entry string, decoded []manifest.DecodedModule) error {
	rt, err := h.jsRuntime()
	if err != nil {
		return fmt.Errorf("start js runtime: %w", err)
	}
	prog := &jsrt.Program{Entrypoint: entry, Modules: make(map[string]jsrt.Module, len(decoded))}
	for _, m := range decoded {
		prog.Modules[m.Name] = jsrt.Module{Type: m.Type, Source: m.Content}
	}
	if err := rt.Validate(ctx, prog); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return api.Errorf(api.CodeInvalid, "serverCode: %v", err)
	}
	return nil
}

// jsProgram returns how to build a JS deployment's Program: its modules
// are read from the blob store when the deployment is first loaded.
func (h *Host) jsProgram(snap store.Snapshot) func() (*jsrt.Program, error) {
	d := snap.Deployment
	mods := snap.Modules
	return func() (*jsrt.Program, error) {
		prog := &jsrt.Program{Entrypoint: d.Entrypoint, Modules: make(map[string]jsrt.Module, len(mods)), Env: d.Env}
		for _, m := range mods {
			ra, size, err := h.store.OpenBlob(context.Background(), m.Hash, "")
			if err != nil {
				return nil, fmt.Errorf("deployment %s module %s: %w", d.ID, m.Name, err)
			}
			b := make([]byte, size)
			if _, err := ra.ReadAt(b, 0); err != nil {
				return nil, fmt.Errorf("deployment %s module %s: %w", d.ID, m.Name, err)
			}
			prog.Modules[m.Name] = jsrt.Module{Type: m.Type, Source: b}
		}
		return prog, nil
	}
}

// jsKey names a JS deployment with its env: changing the project's env
// builds a new Program (a new set of instances) for the same deployment.
func jsKey(snap store.Snapshot) string {
	env, _ := json.Marshal(snap.Deployment.Env) // keys sorted
	sum := sha256.Sum256(env)
	return snap.Deployment.ID + "/" + hex.EncodeToString(sum[:8])
}

// isJSServerCode reports whether sc's entrypoint is JavaScript, whose env
// follows the JS rules (jsrt.ValidateEnv) rather than the CGI ones.
func isJSServerCode(sc *api.ServerCode) bool {
	if sc == nil {
		return false
	}
	m, ok := sc.Modules[sc.Entrypoint]
	if !ok {
		return false
	}
	t := m.Type
	if t == "" {
		t = manifest.ModuleType(sc.Entrypoint)
	}
	return t == manifest.ModuleJS
}

// serveJS runs a JS deployment's fetch handler for one request, under the
// same admission as WASI guests. A failure answers 500 (uncaught
// exception), 502 (trap, out of memory) or 504 (deadline) and is logged
// with the project and the JS stack.
func (h *Host) serveJS(w http.ResponseWriter, r *http.Request, s *site, id string, req assets.Request, pathname, search string) {
	// The deadline runs from the request's arrival: time spent waiting for
	// an admission slot counts, so that however many requests pile up each
	// ends within --worker-timeout (plus the host's own work).
	deadline := time.Now().Add(h.worker.Config().Timeout)
	log := h.log.With("project", s.projectID, "deployment", s.deployment, "method", r.Method, "path", pathname)
	emit := h.projectLog(s.projectID, s.deployment, r.Method, pathname)
	rt, err := h.jsRuntime()
	var d *jsrt.Deployment
	if err == nil {
		d, err = rt.Deployment(s.jsKey, s.js)
	}
	if err != nil {
		log.Error("js server code", "err", err)
		textError(w, http.StatusInternalServerError, "Server code could not be loaded.\n")
		return
	}
	var body []byte
	if depth, _ := r.Context().Value(selfFetchKey{}).(int); depth > 0 {
		// A fetch of the project's own URL from its server code: the
		// caller holds an admission slot already (waiting for another
		// could wait for itself) and its body is in memory, capped.
		if body, err = io.ReadAll(io.LimitReader(r.Body, h.worker.Config().MaxBody)); err != nil {
			textError(w, http.StatusBadRequest, "Unreadable request body.\n")
			return
		}
	} else {
		var release func()
		var ok bool
		if body, release, ok = h.worker.Admit(w, r, s.projectID); !ok {
			return
		}
		defer release()
	}
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	jw := &jsWriter{w: w, head: r.Method == http.MethodHead}
	logs, err := d.Serve(ctx, &jsrt.Request{
		Method: r.Method,
		URL:    req.Scheme + "://" + r.Host + pathname + search,
		Header: r.Header.Clone(),
		Body:   body,
		Assets: siteAssets(s, req),
		Fetch:  h.jsFetch(r, id, req),
	}, jw)
	logConsole(log, logs)
	jsLogs(emit, logs)
	var fail *jsrt.Failure
	if errors.As(err, &fail) {
		log.Warn("js server code failed", "status", fail.Status, "err", errForLog(fail.Err), "sent", fail.Sent)
		if r.Context().Err() == nil {
			jsFailure(emit, fail)
		}
		switch {
		case fail.Sent && !fail.Complete:
			// The head is out and the body is not whole: cut the
			// connection so the client sees an incomplete response.
			panic(http.ErrAbortHandler)
		case fail.Sent, r.Context().Err() != nil:
			// The client has its response, or is gone.
		default:
			textError(w, fail.Status, http.StatusText(fail.Status)+"\n")
		}
		return
	}
	if err != nil {
		log.Error("js server code", "err", err)
		if !jw.sent {
			textError(w, http.StatusInternalServerError, http.StatusText(http.StatusInternalServerError)+"\n")
		}
	}
}

// siteAssets is env.ASSETS.fetch of a JS deployment: its own project's
// asset pipeline, the same code that serves the project, for the
// subrequest's path whatever its host. Locations it sends stay
// project-relative; the writer of the final response adds any prefix.
func siteAssets(s *site, req assets.Request) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pn, se := assets.ParseTarget(r.URL.RequestURI())
		s.assets.Serve(w, r, assets.Request{Pathname: pn, Search: se, Host: req.Host, Scheme: req.Scheme})
	})
}

// selfFetchKey marks a request that server code made to its own project,
// with how deep such requests are nested.
type selfFetchKey struct{}

// maxSelfFetchDepth bounds fetches of a project's own URL nested in each
// other; each level holds an engine instance.
const maxSelfFetchDepth = 4

// jsFetch is fetch() of a JS deployment. A URL of the request's own
// origin is served in-process,
// as a request to the same project, sharing the caller's subrequest
// budget and deadline; any other goes out under the host's outbound
// policy (--worker-outbound).
func (h *Host) jsFetch(r *http.Request, id string, req assets.Request) func(*http.Request) (*http.Response, error) {
	once := h.jsFetchOnce(r, id, req)
	return func(sub *http.Request) (*http.Response, error) {
		for range 20 {
			res, err := once(sub)
			if err != nil || jsrt.ManualRedirect(sub) || !sameOrigin(sub, r, req) {
				return res, err
			}
			// Redirects within the project are followed here; the
			// outbound client follows its own.
			loc := res.Header.Get("Location")
			switch res.StatusCode {
			case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			default:
				return res, nil
			}
			u, err := sub.URL.Parse(loc)
			if loc == "" || err != nil {
				return res, nil
			}
			res.Body.Close()
			method := sub.Method
			if res.StatusCode == http.StatusSeeOther || (res.StatusCode <= http.StatusFound && method == http.MethodPost) {
				method = http.MethodGet
			}
			next, err := http.NewRequestWithContext(sub.Context(), method, u.String(), nil)
			if err != nil {
				return nil, err
			}
			next.Header = sub.Header.Clone()
			sub = next
		}
		return nil, errors.New("more than 20 redirects")
	}
}

// sameOrigin reports whether sub goes to the origin of the request r
// being served.
func sameOrigin(sub, r *http.Request, req assets.Request) bool {
	return sub.URL.Scheme == req.Scheme && strings.EqualFold(sub.URL.Host, r.Host)
}

// jsFetchOnce sends one fetch() request, following no redirect of its own
// origin.
func (h *Host) jsFetchOnce(r *http.Request, id string, req assets.Request) func(*http.Request) (*http.Response, error) {
	return func(sub *http.Request) (*http.Response, error) {
		if !sameOrigin(sub, r, req) {
			return h.js.out.Do(sub)
		}
		// The handler sees its URLs without the /__project/<id> prefix;
		// with or without it, a path on this host is the project's own.
		pn, se := assets.ParseTarget(sub.URL.RequestURI())
		if rest, ok := strings.CutPrefix(pn, req.Prefix+"/"); ok && req.Prefix != "" {
			pn = "/" + rest
		}
		depth, _ := sub.Context().Value(selfFetchKey{}).(int)
		if depth >= maxSelfFetchDepth {
			return nil, fmt.Errorf("fetches of the project's own URL nested more than %d deep", maxSelfFetchDepth)
		}
		in := sub.Clone(context.WithValue(sub.Context(), selfFetchKey{}, depth+1))
		in.Host, in.RequestURI, in.RemoteAddr = r.Host, sub.URL.RequestURI(), r.RemoteAddr
		if in.Body == nil {
			in.Body = http.NoBody
		}
		rec := jsrt.NewRecorder(h.worker.Config().MaxStdout)
		h.serveProject(rec, in, id, req.Prefix, pn, se)
		return rec.Result(), nil
	}
}

// jsWriter sends a JS response to the client as the handler produces it:
// with a Content-Length when the body is whole, chunked and flushed piece
// by piece when it is a stream.
type jsWriter struct {
	w      http.ResponseWriter
	head   bool // a HEAD request: no body
	sent   bool
	length int64
	wrote  int64
}

func (j *jsWriter) WriteHead(status int, hdr http.Header, length int64) {
	for k, vs := range hdr {
		switch k = http.CanonicalHeaderKey(k); k {
		case "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "Trailer":
			continue
		default:
			j.w.Header()[k] = vs
		}
	}
	if length >= 0 {
		j.w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
	}
	j.sent, j.length = true, length
	j.w.WriteHeader(status)
	if length == 0 {
		_ = j.flush()
	}
}

func (j *jsWriter) Write(p []byte) error {
	j.wrote += int64(len(p))
	if !j.head {
		if _, err := j.w.Write(p); err != nil {
			return err
		}
	}
	// A stream goes out as it comes; a whole body as soon as it is
	// complete, so that ctx.waitUntil work does not hold it back.
	if j.length < 0 || j.wrote == j.length {
		return j.flush()
	}
	return nil
}

func (j *jsWriter) flush() error {
	if err := http.NewResponseController(j.w).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// errForLog is the start of a failure's description for the host's own log:
// a tenant chooses the message and stack of what it throws, and the whole of
// it (up to 16 KiB) is in the project's log already.
func errForLog(err error) string {
	const keep = 1 << 10
	s := fmt.Sprint(err)
	if len(s) > keep {
		s = s[:keep] + "… (cut)"
	}
	return s
}

// logConsole copies a request's console lines into the host's own log at
// debug level only: they are the tenant's text (up to 8 MiB a request), and
// the project log is where they belong; at info level any tenant could fill
// the operator's disk through it.
func logConsole(log interface{ Debug(string, ...any) }, lines [][2]string) {
	for _, l := range lines {
		log.Debug("js console", "level", l[0], "msg", l[1])
	}
}
