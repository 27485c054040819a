package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"

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
		})
	})
	return h.js.rt, h.js.err
}

func (h *Host) closeJS() error {
	var rt *jsrt.Runtime
	h.js.once.Do(func() { h.js.err = errors.New("host closed") })
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
func (h *Host) serveJS(w http.ResponseWriter, r *http.Request, s *site, req assets.Request, pathname, search string) {
	log := h.log.With("project", s.projectID, "deployment", s.deployment, "method", r.Method, "path", pathname)
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
	body, release, ok := h.worker.Admit(w, r, s.projectID)
	if !ok {
		return
	}
	defer release()
	jw := &jsWriter{w: w, head: r.Method == http.MethodHead}
	logs, err := d.Serve(r.Context(), &jsrt.Request{
		Method: r.Method,
		URL:    req.Scheme + "://" + r.Host + pathname + search,
		Header: r.Header.Clone(),
		Body:   body,
		Assets: siteAssets(s, req),
	}, jw)
	logConsole(log, logs)
	var fail *jsrt.Failure
	if errors.As(err, &fail) {
		log.Warn("js server code failed", "status", fail.Status, "err", fail.Err, "sent", fail.Sent)
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

// jsWriter sends a JS response to the client as the handler produces it:
// with a Content-Length when the body is whole, chunked and flushed piece
// by piece when it is a stream.
type jsWriter struct {
	w      http.ResponseWriter
	head   bool // a HEAD request: no body
	sent   bool
	length int64
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
}

func (j *jsWriter) Write(p []byte) error {
	if j.head {
		return nil
	}
	if _, err := j.w.Write(p); err != nil {
		return err
	}
	if j.length < 0 {
		if err := http.NewResponseController(j.w).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
	}
	return nil
}

func logConsole(log interface{ Info(string, ...any) }, lines [][2]string) {
	for _, l := range lines {
		log.Info("js console", "level", l[0], "msg", l[1])
	}
}
