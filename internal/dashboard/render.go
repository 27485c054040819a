package dashboard

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{"error", "signin", "projects", "project", "deployment", "confirm", "token", "logs"}

func parsePages() (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// pageData is what every page template gets; each page uses its part.
type pageData struct {
	Title   string
	Message string
	// Signed in: the session's project ("" for the admin) and CSRF token.
	SignedIn bool
	Admin    bool
	Scope    string
	CSRF     string
	Next     string
	Flash    string

	// The projects list.
	Projects []projectRow
	Query    string
	More     string // the next page's URL
	Scanned  int

	// A project, its deployments and settings.
	Project     *api.Project
	URLs        []string
	Live        *api.Deployment
	Deployments []api.Deployment
	Domains     []api.Domain
	Env         []api.EnvVar
	Secrets     []api.Secret
	Tokens      []api.Token
	TokenValue  string

	// A deployment.
	Deployment *api.DeploymentDetail
	Files      []fileRow
	FilesTotal int
	FilesMore  string
	Redirects  []redirectRow
	Headers    []headerRow
	Warnings   []api.Warning
	RuleErrors []string

	// The confirmation of a change of the live deployment.
	Target *api.Deployment
	Verb   string

	// The logs.
	Follow bool
}

// render writes page name with status.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, s session, p pageData) {
	if s.Token != "" {
		p.SignedIn, p.Admin, p.Scope, p.CSRF = true, s.admin(), s.Project, d.keys.csrfToken(s)
	}
	var b bytes.Buffer
	if err := d.pages[name].Execute(&b, p); err != nil {
		d.cfg.Logger.Error("dashboard render", "page", name, "err", err)
		http.Error(w, "The dashboard could not render this page; the host's log says why.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

var funcs = template.FuncMap{
	"ago":      ago,
	"exact":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"size":     humanSize,
	"kind":     serverCodeKind,
	"short":    func(id string) string { return shortID(id) },
	"pathesc":  url.PathEscape,
	"queryesc": url.QueryEscape,
	"logsMark": func() template.HTML { return template.HTML(logsMark) },
	"derefTime": func(t *time.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		return *t
	},
}

// ago says how long before now t was, in the largest whole unit.
func ago(t time.Time) string {
	d := time.Since(t)
	if d < 0 {
		d = 0
	}
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit + " ago"
		}
		return fmt.Sprintf("%d %ss ago", n, unit)
	}
	switch {
	case d < 45*time.Second:
		return "just now"
	case d < time.Hour:
		return plural(int(d.Round(time.Minute)/time.Minute), "minute")
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour")
	case d < 60*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day")
	case d < 730*24*time.Hour:
		return plural(int(d/(30*24*time.Hour)), "month")
	}
	return plural(int(d/(365*24*time.Hour)), "year")
}

// humanSize is n bytes in the largest binary unit with one decimal.
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}

// serverCodeKind names what runs a deployment's server code, from its
// entrypoint: "" for none.
func serverCodeKind(entrypoint string) string {
	switch strings.ToLower(path.Ext(entrypoint)) {
	case "":
		if entrypoint == "" {
			return ""
		}
		return "Server code"
	case ".js", ".mjs":
		return "JavaScript"
	case ".wasm":
		return "WebAssembly"
	}
	return "Server code"
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
