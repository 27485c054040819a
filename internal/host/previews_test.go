package host

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

func preview(branch string) func(*api.DeployRequest) {
	return func(r *api.DeployRequest) {
		f := false
		r.Production, r.Branch = &f, branch
	}
}

// TestPreviewDeployLeavesLiveAlone deploys a preview over a live site: the
// live address keeps the old content, the preview's own address, its path
// form and its branch alias serve the new one, noindex; promote makes it
// live and rollback takes it back, through the same operation.
func TestPreviewDeployLeavesLiveAlone(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("previews")
	live := th.deploy(p.ID, siteFiles{"/index.html": "v1"})
	live2 := th.fetchBody(p.ID+".localhost", "/") // cache the live site
	if live2 != "v1" {
		t.Fatalf("live serves %q", live2)
	}
	pre := th.deploy(p.ID, siteFiles{"/index.html": "v2"}, preview("feature/Login"))
	d := pre.Deployment
	if d.Production || d.Live || d.Active || d.Branch != "feature/Login" || d.ShortID != d.ID[:8] {
		t.Fatalf("preview deployment %+v", d)
	}
	if pre.Project.ActiveDeploymentID == nil || *pre.Project.ActiveDeploymentID != live.Deployment.ID {
		t.Fatalf("preview moved the live pointer: %+v", pre.Project)
	}
	if want := "http://" + d.ShortID + "--" + p.ID + ".localhost"; !strings.HasPrefix(d.URL, want) {
		t.Errorf("url %q, want %s:port/", d.URL, want)
	}
	if want := "http://feature-login--" + p.ID + ".localhost"; !strings.HasPrefix(d.BranchURL, want) {
		t.Errorf("branchUrl %q, want %s:port/", d.BranchURL, want)
	}
	if got := th.fetchBody(p.ID+".localhost", "/"); got != "v1" {
		t.Fatalf("after a preview deploy the live site serves %q", got)
	}
	for _, tc := range []struct{ name, host, path string }{
		{"short id", d.ShortID + "--" + p.ID + ".localhost", "/"},
		{"branch", "feature-login--" + p.ID + ".localhost", "/"},
		{"path mode", "127.0.0.1", "/__project/" + p.ID + "/__deployment/" + d.ShortID + "/"},
		{"path mode label", "127.0.0.1", "/__project/feature-login--" + p.ID + "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := th.fetch(tc.host, tc.path)
			if resp.StatusCode != 200 || body != "v2" || resp.Header.Get("X-Robots-Tag") != "noindex" {
				t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
			}
		})
	}
	if resp, _ := th.fetch(p.ID+".localhost", "/"); resp.Header.Get("X-Robots-Tag") != "" {
		t.Errorf("the live site says X-Robots-Tag %q", resp.Header.Get("X-Robots-Tag"))
	}
	// The branch alias follows the branch's newest deployment.
	th.deploy(p.ID, siteFiles{"/index.html": "v3"}, preview("feature/login"))
	if got := th.fetchBody("feature-login--"+p.ID+".localhost", "/"); got != "v3" {
		t.Fatalf("branch alias serves %q after a newer deploy of the branch", got)
	}
	if got := th.fetchBody(d.ShortID+"--"+p.ID+".localhost", "/"); got != "v2" {
		t.Fatalf("the first preview's own address serves %q", got)
	}
	resp, body := th.do("POST", "/__api/projects/"+p.ID+"/promote", api.PromoteRequest{DeploymentID: d.ID})
	promoted := want[api.RollbackResponse](t, resp, body, http.StatusOK)
	if !promoted.Deployment.Live || *promoted.Project.ActiveDeploymentID != d.ID {
		t.Fatalf("promote: %s", body)
	}
	if got := th.fetchBody(p.ID+".localhost", "/"); got != "v2" {
		t.Fatalf("after promote the live site serves %q", got)
	}
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/rollback", api.RollbackRequest{DeploymentID: live.Deployment.ID})
	want[api.RollbackResponse](t, resp, body, http.StatusOK)
	if got := th.fetchBody(p.ID+".localhost", "/"); got != "v1" {
		t.Fatalf("after rollback the live site serves %q", got)
	}
	resp, body = th.do("GET", "/__api/projects/"+p.ID+"/deployments", nil)
	ds := want[api.DeploymentListResponse](t, resp, body, http.StatusOK).Deployments
	if len(ds) != 3 || ds[2].ID != live.Deployment.ID || !ds[2].Live || !ds[2].Production || ds[0].Production || ds[0].BranchURL == "" || ds[2].URL == "" {
		t.Fatalf("deployments: %s", body)
	}
}

// TestPreviewAddressesStayInTheirProject checks that a preview label only
// ever reaches deployments of the project it names.
func TestPreviewAddressesStayInTheirProject(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	a := th.createProject("a")
	b := th.createProject("b")
	th.deploy(a.ID, siteFiles{"/index.html": "a live"})
	th.deploy(b.ID, siteFiles{"/index.html": "b live"})
	pb := th.deploy(b.ID, siteFiles{"/index.html": "b secret preview"}, preview("main"))
	for _, tc := range []struct{ name, host, path string }{
		{"other project's short id", pb.Deployment.ShortID + "--" + a.ID + ".localhost", "/"},
		{"other project's branch", "main--" + a.ID + ".localhost", "/"},
		{"path mode", "127.0.0.1", "/__project/" + a.ID + "/__deployment/" + pb.Deployment.ShortID + "/"},
		{"unknown project", pb.Deployment.ShortID + "--nosuchproject.localhost", "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := th.fetch(tc.host, tc.path)
			if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "secret") {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
		})
	}
}

// TestPreviewRunsServerCodeNoindex checks that a preview's server code runs
// with the project's env, and that a guest cannot take noindex off.
func TestPreviewRunsServerCodeNoindex(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a wasm guest")
	}
	wasm := buildHello(t)
	th := newTestHost(t)
	p := th.createProject("fullstack-preview")
	th.deploy(p.ID, siteFiles{"/index.html": "live"})
	res := th.deploy(p.ID, siteFiles{"/index.html": "preview"}, preview("dev"), func(r *api.DeployRequest) {
		r.ServerCode = &api.ServerCode{Entrypoint: "server.wasm", Modules: map[string]api.Module{
			"server.wasm": {Content: base64.StdEncoding.EncodeToString(wasm)},
		}}
		r.Env = map[string]string{"GREETING": "from a preview"}
		r.Config = &api.AssetConfig{Headers: "/*\n  X-Robots-Tag: all\n"}
	})
	resp, body := th.fetch(res.Deployment.ShortID+"--"+p.ID+".localhost", "/api/time")
	if resp.StatusCode != 200 || !strings.Contains(body, `"greeting":"from a preview"`) || resp.Header.Values("X-Robots-Tag")[0] != "noindex" {
		t.Fatalf("guest on a preview: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, _ = th.fetch("dev--"+p.ID+".localhost", "/")
	if got := resp.Header.Values("X-Robots-Tag"); len(got) != 1 || got[0] != "noindex" {
		t.Fatalf("a preview's _headers changed X-Robots-Tag to %q", got)
	}
}

// TestProjectSlugs gives a project a slug, serves it and its previews by
// it, refuses it to a second project and lets the old slug go on change.
func TestProjectSlugs(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("blog")
	th.deploy(p.ID, siteFiles{"/index.html": "blog"})
	pre := th.deploy(p.ID, siteFiles{"/index.html": "draft"}, preview("draft"))
	resp, body := th.do("PATCH", "/__api/projects/"+p.ID, api.UpdateProjectRequest{Slug: ptr("my-blog")})
	if got := want[api.ProjectResponse](t, resp, body, http.StatusOK).Project; got.Slug != "my-blog" {
		t.Fatalf("patched project %s", body)
	}
	for host, wantBody := range map[string]string{
		"my-blog.localhost":                            "blog",
		"draft--my-blog.localhost":                     "draft",
		pre.Deployment.ShortID + "--my-blog.localhost": "draft",
	} {
		if got := th.fetchBody(host, "/"); got != wantBody {
			t.Errorf("%s serves %q, want %q", host, got, wantBody)
		}
	}
	resp, body = th.do("POST", "/__api/projects", api.CreateProjectRequest{Name: "other", Slug: "my-blog"})
	wantError(t, resp, body, http.StatusConflict, api.CodeConflict)
	other := th.createProject("other")
	resp, body = th.do("PATCH", "/__api/projects/"+other.ID, api.UpdateProjectRequest{Slug: ptr("my-blog")})
	wantError(t, resp, body, http.StatusConflict, api.CodeConflict)
	for _, bad := range []string{"My-Blog", "a--b", "1blog", strings.Repeat("x", 33), "x.y"} {
		resp, body = th.do("PATCH", "/__api/projects/"+other.ID, api.UpdateProjectRequest{Slug: ptr(bad)})
		wantError(t, resp, body, http.StatusBadRequest, api.CodeInvalid)
	}
	// A new slug takes over at once; the old one answers nothing.
	resp, body = th.do("PATCH", "/__api/projects/"+p.ID, api.UpdateProjectRequest{Slug: ptr("blog2")})
	want[api.ProjectResponse](t, resp, body, http.StatusOK)
	if resp, _ := th.fetch("my-blog.localhost", "/"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the old slug still answers %d", resp.StatusCode)
	}
	if got := th.fetchBody("blog2.localhost", "/"); got != "blog" {
		t.Errorf("the new slug serves %q", got)
	}
	// The freed slug can go to another project.
	resp, body = th.do("PATCH", "/__api/projects/"+other.ID, api.UpdateProjectRequest{Slug: ptr("my-blog")})
	want[api.ProjectResponse](t, resp, body, http.StatusOK)
}

func TestDeployBranchIsChecked(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("branches")
	for _, branch := range []string{"///", strings.Repeat("b", 256), "a\nb"} {
		f := false
		jwt := th.upload(p.ID, siteFiles{"/index.html": "x"})
		resp, body := th.do("POST", "/__api/projects/"+p.ID+"/deploy", api.DeployRequest{CompletionJWT: jwt, Production: &f, Branch: branch})
		wantError(t, resp, body, http.StatusBadRequest, api.CodeInvalid)
	}
	resp, body := th.do("POST", "/__api/projects/"+p.ID+"/promote", api.PromoteRequest{DeploymentID: "nope"})
	wantError(t, resp, body, http.StatusNotFound, api.CodeNotFound)
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/promote", map[string]string{})
	wantError(t, resp, body, http.StatusBadRequest, api.CodeInvalid)
}

func (th *testHost) fetchBody(host, path string) string {
	th.t.Helper()
	_, body := th.fetch(host, path)
	return body
}

func ptr[T any](v T) *T { return &v }

// TestPreviewsNeverEvictLiveSites asks for many previews of one project:
// the other project's live site stays compiled in the cache throughout.
func TestPreviewsNeverEvictLiveSites(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	th.h.sites.maxSites, th.h.sites.maxPreviews = 2, 2
	a := th.createProject("a")
	b := th.createProject("b")
	th.deploy(a.ID, siteFiles{"/index.html": "a"})
	if got := th.fetchBody(a.ID+".localhost", "/"); got != "a" {
		t.Fatalf("a serves %q", got)
	}
	built := th.h.sites.built.Load()
	for i := range 12 {
		d := th.deploy(b.ID, siteFiles{"/index.html": "b"}, preview("")).Deployment
		th.fetchBody(d.ShortID+"--"+b.ID+".localhost", "/")
		if got := th.fetchBody(a.ID+".localhost", "/"); got != "a" {
			t.Fatalf("a serves %q", got)
		}
		if th.h.sites.built.Load() != built+int64(i)+1 {
			t.Fatalf("after %d previews the live site of a was built again", i+1)
		}
	}
}
