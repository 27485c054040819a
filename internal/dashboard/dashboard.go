// Package dashboard is cfhost's web dashboard at /__dashboard/: projects,
// deployments, previews, promote and rollback, and live logs, rendered on
// the server with html/template from files embedded in the binary.
//
// It keeps no data and no rules of its own. A user signs in with the admin
// token or a project token; the token travels in an encrypted, HttpOnly,
// SameSite=Strict cookie, and every page calls the management API in
// process with it, so the dashboard can never show or do more than the API
// allows that token.
package dashboard

import (
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the dashboard is served.
const Prefix = "/__dashboard"

// DefaultSessionTTL is how long a sign-in lasts by default.
const DefaultSessionTTL = 12 * time.Hour

// Config connects the dashboard to its host.
type Config struct {
	// API serves the management API (/__api/…): every read and change
	// goes through it.
	API http.Handler
	// SignIn identifies token for a sign-in from r under the API's
	// failed-authentication limit (a failure counts; a client over the
	// limit gets an *api.Error with code rate_limited). It returns the
	// token's project, "" for the admin token.
	SignIn func(w http.ResponseWriter, r *http.Request, token string) (project string, err error)
	// Secret is the host's secret; the session cookie's keys derive from it.
	Secret []byte
	// SessionTTL is how long a sign-in lasts; default DefaultSessionTTL.
	SessionTTL time.Duration
	// ProjectURLs returns the URLs a project's live deployment answers at,
	// as seen from r.
	ProjectURLs func(r *http.Request, id string) []string
	// Secure reports whether r came over HTTPS (the cookie is then Secure).
	Secure func(r *http.Request) bool
	// Now is the clock of session expiry; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Dashboard serves /__dashboard/.
type Dashboard struct {
	cfg    Config
	keys   *sealer
	pages  map[string]*template.Template
	mux    *http.ServeMux
	static http.Handler
}

// New builds the dashboard.
func New(cfg Config) (*Dashboard, error) {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Secure == nil {
		cfg.Secure = func(r *http.Request) bool { return r.TLS != nil }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ProjectURLs == nil {
		cfg.ProjectURLs = func(*http.Request, string) []string { return nil }
	}
	if len(cfg.Secret) == 0 || cfg.API == nil || cfg.SignIn == nil {
		return nil, errors.New("dashboard: API, SignIn and Secret are required")
	}
	d := &Dashboard{cfg: cfg, keys: newSealer(cfg.Secret, cfg.SessionTTL)}
	var err error
	if d.pages, err = parsePages(); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	d.static = http.StripPrefix(Prefix+"/static/", http.FileServerFS(sub))
	d.mux = d.routes()
	return d, nil
}

func (d *Dashboard) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET "+Prefix+"/{$}", d.signedIn(d.handleProjects))
	m.HandleFunc("GET "+Prefix+"/sign-in", d.handleSignInForm)
	m.HandleFunc("POST "+Prefix+"/sign-in", d.handleSignIn)
	m.HandleFunc("POST "+Prefix+"/sign-out", d.handleSignOut)
	m.HandleFunc("GET "+Prefix+"/projects/{id}", d.signedIn(d.handleProject))
	m.HandleFunc("GET "+Prefix+"/projects/{id}/deployments/{deployment}", d.signedIn(d.handleDeployment))
	m.HandleFunc("GET "+Prefix+"/projects/{id}/live", d.signedIn(d.handleConfirmLive))
	m.HandleFunc("POST "+Prefix+"/projects/{id}/live", d.changing(d.handleMakeLive))
	m.HandleFunc("POST "+Prefix+"/projects/{id}/tokens", d.changing(d.handleCreateToken))
	m.HandleFunc("POST "+Prefix+"/projects/{id}/tokens/{token}/revoke", d.changing(d.handleRevokeToken))
	m.HandleFunc("GET "+Prefix+"/projects/{id}/logs", d.signedIn(d.handleLogs))
	m.Handle("GET "+Prefix+"/static/", d.static)
	m.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		d.fail(w, r, session{}, api.Errorf(api.CodeNotFound, "There is no dashboard page at %s.", r.URL.Path))
	})
	return m
}

// csp allows the dashboard's own files and nothing else: no inline script
// or style, no frames, forms posting only to this origin.
const csp = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"

// ServeHTTP serves a request for Prefix or below. Every answer, errors and
// redirects included, carries the security headers.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("X-Robots-Tag", "noindex")
	if strings.HasPrefix(r.URL.Path, Prefix+"/static/") {
		h.Set("Cache-Control", "no-cache")
	} else {
		h.Set("Cache-Control", "no-store")
		if msg := fetchRefusal(r); msg != "" {
			d.fail(w, r, session{}, api.Errorf(api.CodeForbidden, "%s", msg))
			return
		}
	}
	d.mux.ServeHTTP(w, r)
}

// fetchRefusal says why a browser's request for a page must be refused,
// from its Fetch Metadata (browsers set it; scripts cannot). Pages open
// only as top-level documents, and forms post only from the dashboard's own
// origin. When projects are served by path they share this origin, and a
// project's script could otherwise fetch a page with the user's cookie and
// read it; frames are refused by X-Frame-Options and frame-ancestors, and
// Cross-Origin-Opener-Policy cuts a window the script opened from it.
// Clients without Fetch Metadata (curl, old browsers) are judged by
// SameSite and the CSRF token alone.
func fetchRefusal(r *http.Request) string {
	site := r.Header.Get("Sec-Fetch-Site")
	if site == "" {
		return ""
	}
	mode, dest := r.Header.Get("Sec-Fetch-Mode"), r.Header.Get("Sec-Fetch-Dest")
	if mode != "navigate" || (dest != "document" && dest != "") {
		return "Dashboard pages open only as a whole page in the browser, not from a script or inside a frame."
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && site != "same-origin" {
		return "Dashboard forms are accepted only from the dashboard itself."
	}
	return ""
}

// signedIn runs fn for a request with a valid session, and sends others
// to the sign-in page.
func (d *Dashboard) signedIn(fn func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := d.session(r)
		if !ok {
			d.toSignIn(w, r)
			return
		}
		fn(w, r, s)
	}
}

// changing is signedIn for a form that changes something: it also needs
// the session's CSRF token and, when the browser sends Origin, this origin.
func (d *Dashboard) changing(fn func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return d.signedIn(func(w http.ResponseWriter, r *http.Request, s session) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if !d.keys.checkCSRF(r, s) || !sameOrigin(r) {
			d.fail(w, r, s, api.Errorf(api.CodeForbidden, "This form's security token is missing or does not match your session. Reload the page and try again."))
			return
		}
		fn(w, r, s)
	})
}

// sameOrigin reports whether r's Origin, when sent, names r's own host.
// The scheme is not compared: behind a proxy that ends TLS without
// --trust-proxy the host sees plain HTTP while the browser says https, and
// the CSRF token already proves the form is the dashboard's.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	for _, scheme := range []string{"http://", "https://"} {
		if host, ok := strings.CutPrefix(strings.ToLower(o), scheme); ok {
			return host == strings.ToLower(r.Host)
		}
	}
	return false
}

// session returns r's valid session.
func (d *Dashboard) session(r *http.Request) (session, bool) {
	for _, c := range r.CookiesNamed(cookieName) {
		if s, err := d.keys.open(c.Value, d.cfg.Now()); err == nil {
			return s, true
		}
	}
	return session{}, false
}

func (d *Dashboard) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: Prefix + "/", MaxAge: maxAge,
		HttpOnly: true, Secure: d.cfg.Secure(r), SameSite: http.SameSiteStrictMode,
	})
}

// toSignIn redirects to the sign-in page, which comes back to r's page.
func (d *Dashboard) toSignIn(w http.ResponseWriter, r *http.Request) {
	target := Prefix + "/sign-in"
	if r.Method == http.MethodGet && r.URL.Path != Prefix+"/" {
		target += "?next=" + urlQueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// fail answers err as a page. An unauthorized API answer means the
// session's token no longer works (revoked, or the admin token changed):
// the cookie is dropped and the user signs in again.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, s session, err error) {
	var ae *api.Error
	if !errors.As(err, &ae) {
		d.cfg.Logger.Error("dashboard", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = api.Errorf(api.CodeInternal, "Something went wrong on the host; its log says more.")
	}
	if ae.Code == api.CodeUnauthorized && s.Token != "" {
		d.setCookie(w, r, "", -1)
		d.toSignIn(w, r)
		return
	}
	titles := map[api.Code]string{
		api.CodeNotFound: "Not found", api.CodeForbidden: "Not allowed",
		api.CodeRateLimited: "Too many attempts", api.CodeInvalid: "That did not work",
		api.CodeConflict: "That did not work",
	}
	title := titles[ae.Code]
	if title == "" {
		title = "Something went wrong"
	}
	d.render(w, r, ae.Code.Status(), "error", s, pageData{Title: title, Message: ae.Message})
}
