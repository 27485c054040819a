package host

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

func TestDeployFlow(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("site")
	files := siteFiles{"/index.html": "<h1>hi</h1>", "/a.css": "body{}", "/copy.html": "<h1>hi</h1>"}
	res := th.deploy(p.ID, files)
	if res.DeployedAssets != 3 || res.NewAssets != 3 || res.SkippedAssets != 0 || res.Message != "Project deployed successfully" {
		t.Fatalf("first deploy %+v", res)
	}
	if res.Project.ActiveDeploymentID == nil || *res.Project.ActiveDeploymentID != res.Deployment.ID || !res.Deployment.Active ||
		res.Project.AssetsCount != 3 || res.Deployment.AssetsCount != 3 || res.Project.HasServerCode {
		t.Fatalf("project after deploy %+v / %+v", res.Project, res.Deployment)
	}
	// Same content again: nothing to upload, the session token completes at once.
	resp, body := th.do("POST", "/__api/projects/"+p.ID+"/assets-upload-session", api.UploadSessionRequest{Manifest: files.manifest()})
	sess := want[api.UploadSessionResponse](t, resp, body, http.StatusOK).Result
	if len(sess.Buckets) != 0 || !strings.Contains(string(body), `"buckets":[]`) {
		t.Fatalf("redeploy session %s", body)
	}
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/deploy", api.DeployRequest{CompletionJWT: sess.JWT})
	res2 := want[api.DeployResponse](t, resp, body, http.StatusOK)
	if res2.NewAssets != 0 || res2.SkippedAssets != 3 {
		t.Fatalf("unchanged redeploy %+v", res2)
	}
	files["/a.css"] = "body{color:red}"
	res3 := th.deploy(p.ID, files, func(r *api.DeployRequest) { name := "renamed"; r.ProjectName = &name })
	if res3.NewAssets != 1 || res3.SkippedAssets != 2 || res3.Project.Name != "renamed" {
		t.Fatalf("one-file redeploy %+v", res3)
	}

	resp, body = th.do("GET", "/__api/projects/"+p.ID+"/deployments", nil)
	ds := want[api.DeploymentListResponse](t, resp, body, http.StatusOK).Deployments
	if len(ds) != 3 || ds[0].ID != res3.Deployment.ID || !ds[0].Active || ds[1].Active || ds[2].ID != res.Deployment.ID {
		t.Fatalf("deployments %s", body)
	}
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/rollback", api.RollbackRequest{DeploymentID: res.Deployment.ID})
	rb := want[api.RollbackResponse](t, resp, body, http.StatusOK)
	if !rb.Deployment.Active || *rb.Project.ActiveDeploymentID != res.Deployment.ID || th.activeDeployment(p.ID) != res.Deployment.ID {
		t.Fatalf("rollback %s", body)
	}
	// A deployment of another project cannot be activated.
	q := th.createProject("other")
	resp, body = th.do("POST", "/__api/projects/"+q.ID+"/rollback", api.RollbackRequest{DeploymentID: res.Deployment.ID})
	wantError(t, resp, body, http.StatusNotFound, api.CodeNotFound)
}

func TestDeployConfigWarnings(t *testing.T) {
	t.Parallel()
	// Opens more upload sessions than the default quota, none of them deployed.
	th := newTestHost(t, func(c *Config) { c.MaxUploadSessions = 100 })
	p := th.createProject("site")
	res := th.deploy(p.ID, siteFiles{"/index.html": "x"}, func(r *api.DeployRequest) {
		r.Config = &api.AssetConfig{Redirects: "/a /b 301\nthis line is bad\n/c /d\n", Headers: "/*\n  X-Frame-Options: DENY\n"}
	})
	if len(res.Warnings) != 1 || res.Warnings[0].File != "_redirects" || res.Warnings[0].Line != 2 {
		t.Fatalf("warnings %+v", res.Warnings)
	}
	for _, bad := range []func(*api.DeployRequest){
		func(r *api.DeployRequest) { r.Config = &api.AssetConfig{HTMLHandling: "sideways"} },
		func(r *api.DeployRequest) { r.Config = &api.AssetConfig{NotFoundHandling: "nope"} },
		func(r *api.DeployRequest) { r.RunWorkerFirst = json.RawMessage(`"yes"`) },
		func(r *api.DeployRequest) { r.RunWorkerFirst = json.RawMessage(`["api/*"]`) },
		func(r *api.DeployRequest) { r.Env = map[string]string{"lower": "x"} },
		func(r *api.DeployRequest) { r.Env = map[string]string{"HTTP_PROXY": "x"} },
		func(r *api.DeployRequest) {
			r.ServerCode = &api.ServerCode{Entrypoint: "index.js", Modules: map[string]api.Module{"index.js": {Content: "YQ=="}}}
		},
		func(r *api.DeployRequest) {
			r.ServerCode = &api.ServerCode{Entrypoint: "app.wasm", Modules: map[string]api.Module{"app.wasm": {Content: "bm90IHdhc20="}}}
		},
		func(r *api.DeployRequest) {
			r.ServerCode = &api.ServerCode{Entrypoint: "app.wasm", Modules: map[string]api.Module{"other.wasm": {Content: "AA=="}}}
		},
	} {
		before := th.activeDeployment(p.ID)
		req := api.DeployRequest{CompletionJWT: th.upload(p.ID, siteFiles{"/index.html": "y"})}
		bad(&req)
		resp, body := th.do("POST", "/__api/projects/"+p.ID+"/deploy", req)
		wantError(t, resp, body, http.StatusBadRequest, api.CodeInvalid)
		if th.activeDeployment(p.ID) != before {
			t.Fatal("a refused deploy changed the active deployment")
		}
	}
}

func TestParallelBuckets(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("many")
	files := siteFiles{}
	for i := range 230 {
		files[fmt.Sprintf("/f/%03d.txt", i)] = fmt.Sprintf("file number %d", i)
	}
	resp, body := th.do("POST", "/__api/projects/"+p.ID+"/assets-upload-session", api.UploadSessionRequest{Manifest: files.manifest()})
	sess := want[api.UploadSessionResponse](t, resp, body, http.StatusOK).Result
	if len(sess.Buckets) != 5 {
		t.Fatalf("%d buckets for 230 files, want 5 of at most 50", len(sess.Buckets))
	}
	byHash := map[string]string{}
	for _, c := range files {
		byHash[sha([]byte(c))] = c
	}
	var mu sync.Mutex
	var completions []string
	statuses := map[int]int{}
	var wg sync.WaitGroup
	// Every bucket twice, all at once: duplicates and races must be harmless.
	for round := range 2 {
		for _, bucket := range sess.Buckets {
			wg.Go(func() {
				payload := map[string]string{}
				for _, h := range bucket {
					payload[h] = base64.StdEncoding.EncodeToString([]byte(byHash[h]))
				}
				resp, body := th.do("POST", "/__api/projects/"+p.ID+"/assets/upload", payload, "Authorization", "Bearer "+sess.JWT)
				var r api.UploadResponse
				json.Unmarshal(body, &r)
				mu.Lock()
				defer mu.Unlock()
				statuses[resp.StatusCode]++
				if r.Result.JWT != nil {
					completions = append(completions, *r.Result.JWT)
				}
				_ = round
			})
		}
	}
	wg.Wait()
	if statuses[200]+statuses[201] != 10 || statuses[201] == 0 {
		t.Fatalf("statuses %v", statuses)
	}
	for _, c := range completions {
		if c != completions[0] {
			t.Fatal("different completion tokens for one session")
		}
	}
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/deploy", api.DeployRequest{CompletionJWT: completions[0]})
	if res := want[api.DeployResponse](t, resp, body, http.StatusOK); res.NewAssets != 230 {
		t.Fatalf("deploy %+v", res)
	}
}

func TestMultipartUpload(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("mp")
	files := siteFiles{"/a.txt": "alpha", "/b.bin": string([]byte{0, 1, 2, 255})}
	resp, body := th.do("POST", "/__api/projects/"+p.ID+"/assets-upload-session", api.UploadSessionRequest{Manifest: files.manifest()})
	sess := want[api.UploadSessionResponse](t, resp, body, http.StatusOK).Result
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, c := range files {
		h := sha([]byte(c))
		w, _ := mw.CreateFormFile(h, h)
		w.Write([]byte(base64.StdEncoding.EncodeToString([]byte(c))))
	}
	mw.Close()
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/assets/upload", buf.Bytes(), "Authorization", "Bearer "+sess.JWT, "Content-Type", mw.FormDataContentType())
	r := want[api.UploadResponse](t, resp, body, http.StatusCreated)
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/deploy", api.DeployRequest{CompletionJWT: *r.Result.JWT})
	want[api.DeployResponse](t, resp, body, http.StatusOK)
}

func TestBadManifests(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.Limits.MaxFileSize = 1000; c.Limits.MaxFiles = 10; c.Limits.MaxBodyBytes = 1 << 20 })
	p := th.createProject("x")
	good := sha([]byte("x"))
	cases := []struct {
		name     string
		manifest string
		status   int
		code     api.Code
	}{
		{"no manifest", `{}`, 400, api.CodeInvalid},
		{"relative path", `{"manifest":{"a.html":{"hash":"` + good + `","size":1}}}`, 400, api.CodeInvalid},
		{"dot-dot", `{"manifest":{"/a/../b":{"hash":"` + good + `","size":1}}}`, 400, api.CodeInvalid},
		{"dot", `{"manifest":{"/./b":{"hash":"` + good + `","size":1}}}`, 400, api.CodeInvalid},
		{"empty segment", `{"manifest":{"/a//b":{"hash":"` + good + `","size":1}}}`, 400, api.CodeInvalid},
		{"NUL", `{"manifest":{"/a\u0000b":{"hash":"` + good + `","size":1}}}`, 400, api.CodeInvalid},
		{"control", `{"manifest":{"/a\nb":{"hash":"` + good + `","size":1}}}`, 400, api.CodeInvalid},
		{"invalid UTF-8", "{\"manifest\":{\"/a\xffb\":{\"hash\":\"" + good + "\",\"size\":1}}}", 400, api.CodeInvalid},
		{"long path", `{"manifest":{"/` + strings.Repeat("a", 1024) + `":{"hash":"` + good + `","size":1}}}`, 400, api.CodeInvalid},
		{"short hash", `{"manifest":{"/a":{"hash":"abc","size":1}}}`, 400, api.CodeInvalid},
		{"upper-case hash", `{"manifest":{"/a":{"hash":"` + strings.ToUpper(good) + `","size":1}}}`, 400, api.CodeInvalid},
		{"negative size", `{"manifest":{"/a":{"hash":"` + good + `","size":-1}}}`, 400, api.CodeInvalid},
		{"file too large", `{"manifest":{"/a":{"hash":"` + good + `","size":1001}}}`, 413, api.CodeTooLarge},
		{"too many files", manyFiles(11, good), 413, api.CodeTooLarge},
		{"body too large", `{"manifest":{"/a":{"hash":"` + good + `","size":1}},"pad":"` + strings.Repeat("p", 1<<20) + `"}`, 413, api.CodeTooLarge},
		{"malformed", `{"manifest":`, 400, api.CodeInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := th.do("POST", "/__api/projects/"+p.ID+"/assets-upload-session", c.manifest)
			wantError(t, resp, body, c.status, c.code)
		})
	}
	resp, body := th.do("POST", "/__api/projects/nope/assets-upload-session", `{"manifest":{"/a":{"hash":"`+good+`","size":1}}}`)
	wantError(t, resp, body, 404, api.CodeNotFound)
}

func manyFiles(n int, hash string) string {
	var b strings.Builder
	b.WriteString(`{"manifest":{`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"/f%d":{"hash":"%s","size":1}`, i, hash)
	}
	b.WriteString("}}")
	return b.String()
}

// TestBadUploads sends each kind of broken upload and checks it is refused
// with a clear error and changes nothing: the session still completes with
// the right content afterwards and the active deployment stays.
func TestBadUploads(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.Limits.MaxBodyBytes = 1 << 20; c.Limits.MaxFileSize = 512 << 10 })
	p := th.createProject("x")
	first := th.deploy(p.ID, siteFiles{"/index.html": "v1"})
	files := siteFiles{"/index.html": "v2"}
	resp, body := th.do("POST", "/__api/projects/"+p.ID+"/assets-upload-session", api.UploadSessionRequest{Manifest: files.manifest()})
	sess := want[api.UploadSessionResponse](t, resp, body, http.StatusOK).Result
	h := sha([]byte("v2"))
	other := th.createProject("other")
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{Session: "s", Purpose: purposeUpload,
		RegisteredClaims: jwt.RegisteredClaims{Subject: p.ID, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}).SignedString([]byte("other key"))
	expired, _ := th.h.tokens.sign(p.ID, "s", purposeUpload, time.Now().Add(-2*time.Hour))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims{Session: "s", Purpose: purposeUpload,
		RegisteredClaims: jwt.RegisteredClaims{Subject: p.ID, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	wrongPurpose, _ := th.h.tokens.sign(p.ID, "s", purposeComplete, time.Now())
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		name, project, token, body string
		status                     int
		code                       api.Code
	}{
		{"no token", p.ID, "", `{}`, 401, api.CodeUnauthorized},
		{"API token instead", p.ID, testToken, `{}`, 401, api.CodeUnauthorized},
		{"forged token", p.ID, forged, `{}`, 401, api.CodeUnauthorized},
		{"alg none", p.ID, none, `{}`, 401, api.CodeUnauthorized},
		{"expired token", p.ID, expired, `{}`, 401, api.CodeUnauthorized},
		{"wrong purpose", p.ID, wrongPurpose, `{}`, 401, api.CodeUnauthorized},
		{"other project's path", other.ID, sess.JWT, `{"` + h + `":"` + b64("v2") + `"}`, 401, api.CodeUnauthorized},
		{"malformed JSON", p.ID, sess.JWT, `{"` + h + `":`, 400, api.CodeInvalid},
		{"empty body", p.ID, sess.JWT, `{}`, 400, api.CodeInvalid},
		{"bad base64", p.ID, sess.JWT, `{"` + h + `":"!!!"}`, 400, api.CodeInvalid},
		{"wrong content", p.ID, sess.JWT, `{"` + h + `":"` + b64("v3") + `"}`, 400, api.CodeInvalid},
		{"wrong size", p.ID, sess.JWT, `{"` + h + `":"` + b64("v2 longer") + `"}`, 400, api.CodeInvalid},
		{"hash not in session", p.ID, sess.JWT, `{"` + sha([]byte("zz")) + `":"` + b64("zz") + `"}`, 400, api.CodeInvalid},
		{"body over limit", p.ID, sess.JWT, `{"` + h + `":"` + strings.Repeat("A", 2<<20) + `"}`, 413, api.CodeTooLarge},
		{"malformed multipart", p.ID, sess.JWT, "--x\r\nbroken", 400, api.CodeInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr := []string{"Authorization", "Bearer " + c.token}
			if c.name == "malformed multipart" {
				hdr = append(hdr, "Content-Type", "multipart/form-data; boundary=x")
			}
			resp, body := th.do("POST", "/__api/projects/"+c.project+"/assets/upload", c.body, hdr...)
			wantError(t, resp, body, c.status, c.code)
			if th.activeDeployment(p.ID) != first.Deployment.ID {
				t.Fatal("active deployment changed")
			}
		})
	}
	// Nothing broken was stored: the real content still completes the session.
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/assets/upload", map[string]string{h: b64("v2")}, "Authorization", "Bearer "+sess.JWT)
	done := want[api.UploadResponse](t, resp, body, http.StatusCreated)

	// Deploy-side token misuse.
	for _, c := range []struct {
		name, project, token string
		status               int
		code                 api.Code
	}{
		{"upload token as completion", p.ID, sess.JWT, 401, api.CodeUnauthorized},
		{"completion token on another project", other.ID, *done.Result.JWT, 401, api.CodeUnauthorized},
		{"missing completion token", p.ID, "", 400, api.CodeInvalid},
	} {
		resp, body := th.do("POST", "/__api/projects/"+c.project+"/deploy", api.DeployRequest{CompletionJWT: c.token})
		wantError(t, resp, body, c.status, c.code)
	}
	if th.activeDeployment(p.ID) != first.Deployment.ID || th.activeDeployment(other.ID) != "" {
		t.Fatal("a refused deploy changed an active deployment")
	}
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/deploy", api.DeployRequest{CompletionJWT: *done.Result.JWT})
	second := want[api.DeployResponse](t, resp, body, http.StatusOK)
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/deploy", api.DeployRequest{CompletionJWT: *done.Result.JWT})
	wantError(t, resp, body, http.StatusConflict, api.CodeConflict)
	// Uploading more to a spent session is refused too.
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/assets/upload", map[string]string{h: b64("v2")}, "Authorization", "Bearer "+sess.JWT)
	wantError(t, resp, body, http.StatusConflict, api.CodeConflict)
	if th.activeDeployment(p.ID) != second.Deployment.ID {
		t.Fatal("reused completion token changed the active deployment")
	}
}

func TestDeletedProjectTokensAreUseless(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("x")
	completion := th.upload(p.ID, siteFiles{"/a": "a"})
	resp, body := th.do("POST", "/__api/projects/"+p.ID+"/assets-upload-session", api.UploadSessionRequest{Manifest: siteFiles{"/b": "b"}.manifest()})
	sess := want[api.UploadSessionResponse](t, resp, body, http.StatusOK).Result
	resp, body = th.do("DELETE", "/__api/projects/"+p.ID, nil)
	want[api.DeleteProjectResponse](t, resp, body, http.StatusOK)
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/deploy", api.DeployRequest{CompletionJWT: completion})
	wantError(t, resp, body, http.StatusNotFound, api.CodeNotFound)
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/assets/upload", map[string]string{sha([]byte("b")): "Yg=="}, "Authorization", "Bearer "+sess.JWT)
	wantError(t, resp, body, http.StatusNotFound, api.CodeNotFound)
}

func TestGarbageCollectionKeepsLiveBlobs(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.GCGrace = time.Nanosecond })
	keep := th.createProject("keep")
	drop := th.createProject("drop")
	th.deploy(keep.ID, siteFiles{"/a": "shared", "/b": "keep only"})
	th.deploy(drop.ID, siteFiles{"/a": "shared", "/c": "drop only"})
	th.do("DELETE", "/__api/projects/"+drop.ID, nil)
	res, err := th.h.CollectGarbage(t.Context())
	if err != nil || res.Blobs != 1 {
		t.Fatalf("gc %+v %v", res, err)
	}
	// The kept project can still redeploy without uploading anything.
	resp, body := th.do("POST", "/__api/projects/"+keep.ID+"/assets-upload-session", api.UploadSessionRequest{Manifest: siteFiles{"/a": "shared", "/b": "keep only"}.manifest()})
	if sess := want[api.UploadSessionResponse](t, resp, body, http.StatusOK).Result; len(sess.Buckets) != 0 {
		t.Fatalf("kept blobs were collected: %v", sess.Buckets)
	}
}

// Buckets are sized from the body limit, so a host with a small --max-body
// still takes a deploy of files that each fit.
func TestBucketsFitTheBodyLimit(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.Limits.MaxBodyBytes = 8 << 20; c.Limits.MaxFileSize = 2 << 20 })
	p := th.createProject("small-bodies")
	files := siteFiles{}
	for i := range 20 {
		files[fmt.Sprintf("/f%02d.bin", i)] = strings.Repeat(string(rune('a'+i)), 500<<10)
	}
	res := th.deploy(p.ID, files)
	if res.NewAssets != 20 {
		t.Fatalf("deploy %+v", res)
	}
}

func TestContradictoryLimitsAreRefused(t *testing.T) {
	t.Parallel()
	_, err := New(t.Context(), Config{DataDir: t.TempDir(), Limits: manifest.Limits{MaxFileSize: 2 << 20, MaxBodyBytes: 1 << 20}})
	if err == nil || !strings.Contains(err.Error(), "cannot carry") {
		t.Fatalf("New with a body limit under the file limit: %v", err)
	}
}
