package host

import (
	"net/http"
	"strings"

	"github.com/cfdeploy/cfdeploy/internal/dashboard"
)

// newDashboard connects the dashboard to this host: it reads and changes
// everything through the management API, in process, with the signed-in
// user's token, and signs in under the API's failed-authentication limit.
func (h *Host) newDashboard() (*dashboard.Dashboard, error) {
	return dashboard.New(dashboard.Config{
		API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.serveAPI(w, r, strings.TrimPrefix(r.URL.EscapedPath(), "/__api"))
		}),
		SignIn: func(w http.ResponseWriter, r *http.Request, token string) (string, error) {
			p, err := h.authenticateLimited(w, r, token)
			return p.project, err
		},
		Secret:      h.tokens.key,
		SessionTTL:  h.cfg.DashboardSessionTTL,
		ProjectURLs: h.projectURLs,
		Secure:      func(r *http.Request) bool { return h.scheme(r) == "https" },
		Now:         h.cfg.Now,
		Logger:      h.log,
	})
}

// projectURLs are the URLs project id's live deployment answers at, in the
// scheme and port of r: its subdomain and, with path routing, its path.
func (h *Host) projectURLs(r *http.Request, id string) []string {
	urls := []string{h.previewURL(r, id)}
	if !h.cfg.DisablePathRouting {
		urls = append(urls, h.scheme(r)+"://"+r.Host+"/__project/"+id+"/")
	}
	return urls
}

// servesDashboard reports whether a request for path on host is the
// dashboard's: only on the host's own names, never on a project's
// subdomain, a name below one or a custom domain, where every path is the
// project's (and where the dashboard's cookie would share the project's
// origin).
func (h *Host) servesDashboard(host, path string) bool {
	if h.dashboard == nil || (path != dashboard.Prefix && !strings.HasPrefix(path, dashboard.Prefix+"/")) {
		return false
	}
	if _, ok := h.projectFromHost(host); ok {
		return false
	}
	if _, ok := h.projectFromDomain(host); ok {
		return false
	}
	return !h.belowProjectHost(host)
}
