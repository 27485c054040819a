package dashboard

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// projectRow is one line of the projects list.
type projectRow struct {
	api.Project
	LiveAt  time.Time // zero when nothing is live
	Kind    string
	URLs    []string
	Problem string // why the live deployment could not be read
}

// Paging of the projects list: pages of listPage projects; a search scans
// at most searchScan projects per page it shows, so its cost is bounded.
const (
	listPage   = 100
	searchScan = 5000
)

func (d *Dashboard) handleSignInForm(w http.ResponseWriter, r *http.Request) {
	if _, ok := d.session(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	d.render(w, r, http.StatusOK, "signin", session{}, pageData{Title: "Sign in", Next: safeNext(r.URL.Query().Get("next"))})
}

func (d *Dashboard) handleSignIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	token := strings.TrimSpace(r.PostFormValue("token"))
	next := safeNext(r.PostFormValue("next"))
	if !sameOrigin(r) {
		d.fail(w, r, session{}, api.Errorf(api.CodeForbidden, "Sign-in is accepted only from the dashboard's own page."))
		return
	}
	project, err := d.cfg.SignIn(w, r, token)
	if err != nil {
		status := api.ErrorCode(err).Status()
		msg := "That token is not valid on this host. Use the host's API token (DATA_DIR/api-token) or a project token (cfdeploy tokens create)."
		switch api.ErrorCode(err) {
		case api.CodeRateLimited:
			msg = err.Error()
		case api.CodeUnauthorized:
		default:
			d.fail(w, r, session{}, err)
			return
		}
		d.render(w, r, status, "signin", session{}, pageData{Title: "Sign in", Message: msg, Next: next})
		return
	}
	s := newSession(token, project, d.cfg.Now())
	d.setCookie(w, r, d.keys.seal(s), int(d.cfg.SessionTTL/time.Second))
	if project != "" && next == Prefix+"/" {
		next = Prefix + "/projects/" + url.PathEscape(project)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// safeNext keeps a return address inside the dashboard.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix+"/") || strings.HasPrefix(next, Prefix+"//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix + "/"
	}
	return next
}

func (d *Dashboard) handleSignOut(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if s, ok := d.session(r); ok && (!d.keys.checkCSRF(r, s) || !sameOrigin(r)) {
		d.fail(w, r, s, api.Errorf(api.CodeForbidden, "This form's security token is missing or does not match your session. Reload the page and try again."))
		return
	}
	d.setCookie(w, r, "", -1)
	http.Redirect(w, r, Prefix+"/sign-in", http.StatusSeeOther)
}

func (d *Dashboard) handleProjects(w http.ResponseWriter, r *http.Request, s session) {
	if !s.admin() {
		http.Redirect(w, r, Prefix+"/projects/"+url.PathEscape(s.Project), http.StatusSeeOther)
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	cursor := r.URL.Query().Get("cursor")
	p := pageData{Title: "Projects", Query: q}
	needle := strings.ToLower(q)
	for {
		path := apiPath() + "?limit=" + strconv.Itoa(listPage)
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var res api.ProjectListResponse
		if err := d.call(r, s, http.MethodGet, path, nil, &res); err != nil {
			d.fail(w, r, s, err)
			return
		}
		p.Scanned += len(res.Projects)
		for _, pr := range res.Projects {
			if needle == "" || strings.Contains(strings.ToLower(pr.Name), needle) ||
				strings.Contains(pr.Slug, needle) || strings.HasPrefix(pr.ID, needle) {
				p.Projects = append(p.Projects, d.projectRow(r, s, pr))
			}
		}
		cursor = ""
		if res.Cursor != nil {
			cursor = *res.Cursor
		}
		if cursor == "" || needle == "" || len(p.Projects) >= listPage || p.Scanned >= searchScan {
			break
		}
	}
	if cursor != "" {
		v := url.Values{"cursor": {cursor}}
		if q != "" {
			v.Set("q", q)
		}
		p.More = Prefix + "/?" + v.Encode()
	}
	d.render(w, r, http.StatusOK, "projects", s, p)
}

// projectRow reads what the list shows of a project's live deployment.
func (d *Dashboard) projectRow(r *http.Request, s session, p api.Project) projectRow {
	row := projectRow{Project: p, URLs: d.cfg.ProjectURLs(r, p.ID)}
	if p.ActiveDeploymentID == nil {
		return row
	}
	var res api.DeploymentResponse
	if err := d.call(r, s, http.MethodGet, apiPath(p.ID, "deployments", *p.ActiveDeploymentID), nil, &res); err != nil {
		row.Problem = err.Error()
		return row
	}
	row.LiveAt, row.Kind = res.Deployment.CreatedAt, serverCodeKind(res.Deployment.Entrypoint)
	return row
}

func (d *Dashboard) handleProject(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PathValue("id")
	var pr api.ProjectResponse
	if err := d.call(r, s, http.MethodGet, apiPath(id), nil, &pr); err != nil {
		d.fail(w, r, s, err)
		return
	}
	p := pageData{Title: pr.Project.Name, Project: &pr.Project, URLs: d.cfg.ProjectURLs(r, id), Flash: r.URL.Query().Get("done")}
	var deps api.DeploymentListResponse
	var doms api.DomainListResponse
	var env api.EnvListResponse
	var secrets api.SecretListResponse
	for _, c := range []struct {
		path string
		out  any
	}{
		{apiPath(id, "deployments"), &deps},
		{apiPath(id, "domains"), &doms},
		{apiPath(id, "env"), &env},
		{apiPath(id, "secrets"), &secrets},
	} {
		if err := d.call(r, s, http.MethodGet, c.path, nil, c.out); err != nil {
			d.fail(w, r, s, err)
			return
		}
	}
	if s.admin() {
		var toks api.TokenListResponse
		if err := d.call(r, s, http.MethodGet, apiPath(id, "tokens"), nil, &toks); err != nil {
			d.fail(w, r, s, err)
			return
		}
		p.Tokens = toks.Tokens
	}
	p.Deployments, p.Domains, p.Secrets = deps.Deployments, doms.Domains, secrets.Secrets
	// Only names of variables are shown: values stay in the API, and the
	// page is safe to have on a shared screen.
	for _, v := range env.Env {
		p.Env = append(p.Env, api.EnvVar{Name: v.Name, UpdatedAt: v.UpdatedAt})
	}
	for i := range p.Deployments {
		if p.Deployments[i].Live {
			p.Live = &p.Deployments[i]
		}
	}
	d.render(w, r, http.StatusOK, "project", s, p)
}

// findDeployment returns deployment did of project id.
func (d *Dashboard) findDeployment(r *http.Request, s session, id, did string) (*api.Project, *api.DeploymentDetail, error) {
	var pr api.ProjectResponse
	if err := d.call(r, s, http.MethodGet, apiPath(id), nil, &pr); err != nil {
		return nil, nil, err
	}
	if did == "" {
		return nil, nil, api.Errorf(api.CodeInvalid, "No deployment was chosen.")
	}
	var dr api.DeploymentResponse
	if err := d.call(r, s, http.MethodGet, apiPath(id, "deployments", did), nil, &dr); err != nil {
		return nil, nil, err
	}
	return &pr.Project, &dr.Deployment, nil
}

// liveVerb names what making dep live does: a preview is promoted, an
// older production deployment rolled back to.
func liveVerb(dep *api.Deployment) string {
	if !dep.Production {
		return "Promote"
	}
	return "Roll back"
}

func (d *Dashboard) handleConfirmLive(w http.ResponseWriter, r *http.Request, s session) {
	proj, dep, err := d.findDeployment(r, s, r.PathValue("id"), r.URL.Query().Get("deployment"))
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	p := pageData{Title: liveVerb(&dep.Deployment) + " " + dep.ShortID, Project: proj, Target: &dep.Deployment, Verb: liveVerb(&dep.Deployment)}
	d.render(w, r, http.StatusOK, "confirm", s, p)
}

func (d *Dashboard) handleMakeLive(w http.ResponseWriter, r *http.Request, s session) {
	id, did := r.PathValue("id"), r.PostFormValue("deployment")
	_, dep, err := d.findDeployment(r, s, id, did)
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	op := "rollback"
	if !dep.Production {
		op = "promote"
	}
	var res api.RollbackResponse
	if err := d.call(r, s, http.MethodPost, apiPath(id, op), api.RollbackRequest{DeploymentID: did}, &res); err != nil {
		d.fail(w, r, s, err)
		return
	}
	d.cfg.Logger.Info("dashboard: deployment made live", "project", id, "deployment", did, "operation", op, "remote", r.RemoteAddr)
	done := "Deployment " + res.Deployment.ShortID + " is live."
	http.Redirect(w, r, Prefix+"/projects/"+url.PathEscape(id)+"?done="+url.QueryEscape(done), http.StatusSeeOther)
}

func (d *Dashboard) handleCreateToken(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PathValue("id")
	var res api.CreateTokenResponse
	if err := d.call(r, s, http.MethodPost, apiPath(id, "tokens"), api.CreateTokenRequest{Name: r.PostFormValue("name")}, &res); err != nil {
		d.fail(w, r, s, err)
		return
	}
	var pr api.ProjectResponse
	if err := d.call(r, s, http.MethodGet, apiPath(id), nil, &pr); err != nil {
		d.fail(w, r, s, err)
		return
	}
	d.render(w, r, http.StatusOK, "token", s, pageData{Title: "New token", Project: &pr.Project, Tokens: []api.Token{res.Token}, TokenValue: res.Value})
}

func (d *Dashboard) handleRevokeToken(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PathValue("id")
	if err := d.call(r, s, http.MethodDelete, apiPath(id, "tokens", r.PathValue("token")), nil, nil); err != nil {
		d.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, Prefix+"/projects/"+url.PathEscape(id)+"?done="+url.QueryEscape("Token revoked."), http.StatusSeeOther)
}

// fileRow is one file of a deployment.
type fileRow struct {
	Path, Hash, Type string
	Size             int64
}

// filesPage is how many files a deployment page lists at once.
const filesPage = 500

func (d *Dashboard) handleDeployment(w http.ResponseWriter, r *http.Request, s session) {
	id, did := r.PathValue("id"), r.PathValue("deployment")
	proj, dep, err := d.findDeployment(r, s, id, did)
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	var files api.DeploymentFilesResponse
	if err := d.call(r, s, http.MethodGet, apiPath(id, "deployments", did, "files"), nil, &files); err != nil {
		d.fail(w, r, s, err)
		return
	}
	p := pageData{Title: "Deployment " + dep.ShortID, Project: proj, Deployment: dep, FilesTotal: len(files.Files)}
	paths := make([]string, 0, len(files.Files))
	for name := range files.Files {
		paths = append(paths, name)
	}
	slices.Sort(paths)
	from, _ := strconv.Atoi(r.URL.Query().Get("from"))
	from = max(0, min(from, len(paths)))
	to := min(from+filesPage, len(paths))
	for _, name := range paths[from:to] {
		f := files.Files[name]
		p.Files = append(p.Files, fileRow{Path: name, Hash: f.Hash, Size: f.Size, Type: contentType(name)})
	}
	if to < len(paths) {
		p.FilesMore = "?from=" + strconv.Itoa(to)
	}
	p.Redirects, p.Headers, p.Warnings, p.RuleErrors = parseRules(dep.Config)
	d.render(w, r, http.StatusOK, "deployment", s, p)
}
