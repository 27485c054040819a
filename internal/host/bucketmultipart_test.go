package host

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// binaryPart is one part of a multipart bucket: the name it is sent under
// and its body.
type binaryPart struct {
	name string
	body []byte
}

// testBoundary is the boundary of every multipartBody.
const testBoundary = "cfdeploy-test-boundary-7f3a"

// multipartBody builds a multipart/form-data bucket of parts, as a client
// sending the files' bytes would, and returns it with its content type.
func multipartBody(t testing.TB, parts ...binaryPart) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary(testBoundary); err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, p.name, p.name))
		h.Set("Content-Type", "application/octet-stream")
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(p.body)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}

// awkwardFiles are contents that a text-minded reader would mangle:
// surrounding whitespace (which base64 parts may carry and lose), NUL and
// high bytes, CRLF and a line that looks like a multipart boundary.
func awkwardFiles() siteFiles {
	big := make([]byte, 200<<10+7) // beyond a read buffer or two
	for i := range big {
		big[i] = byte(i * 7)
	}
	return siteFiles{
		"/space.txt": "  \r\n\tpadded both ends\n \r\n",
		"/nul.bin":   string([]byte{0, 0xff, 0, '\r', '\n', 0x80}),
		"/crlf.txt":  "\r\n--\r\n--x--\r\n",
		"/fake.txt":  "\r\n--boundary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n",
		"/empty.txt": "",
		"/big.bin":   string(big),
		"/page.txt":  "<p>binary</p>",
	}
}

// TestBinaryMultipartUpload sends the files' own bytes (?base64=false) and
// checks the host says it takes them, stores them byte for byte and serves
// them so.
func TestBinaryMultipartUpload(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("bin")
	files := awkwardFiles()
	resp, body := th.do("POST", "/__api/projects/"+p.ID+"/assets-upload-session", api.UploadSessionRequest{Manifest: files.manifest()})
	sess := want[api.UploadSessionResponse](t, resp, body, http.StatusOK).Result
	if !sess.BinaryUploads {
		t.Fatal("the upload session does not offer binary uploads")
	}
	var parts []binaryPart
	for _, c := range files {
		parts = append(parts, binaryPart{sha([]byte(c)), []byte(c)})
	}
	raw, ct := multipartBody(t, parts...)
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/assets/upload?base64=false", raw, "Authorization", "Bearer "+sess.JWT, "Content-Type", ct)
	r := want[api.UploadResponse](t, resp, body, http.StatusCreated)
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/deploy", api.DeployRequest{CompletionJWT: *r.Result.JWT})
	if res := want[api.DeployResponse](t, resp, body, http.StatusOK); res.NewAssets != len(files) {
		t.Fatalf("deploy: %+v", res)
	}
	for path, c := range files {
		resp, got := th.fetch(p.ID+".localhost", path)
		if resp.StatusCode != http.StatusOK || got != c {
			t.Errorf("%s: %d, %d bytes served, want the %d uploaded", path, resp.StatusCode, len(got), len(c))
		}
	}
}

// TestBadBinaryUploads sends each kind of broken binary bucket and checks it
// is refused with a clear error, stores nothing, and that the right bytes
// still complete the session afterwards.
func TestBadBinaryUploads(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.Limits.MaxBodyBytes = 1 << 20; c.Limits.MaxFileSize = 512 << 10 })
	p := th.createProject("x")
	first := th.deploy(p.ID, siteFiles{"/index.html": "v1"})
	content := []byte(" v2 binary\x00\r\n")
	h := sha(content)
	files := siteFiles{"/a.bin": string(content)}
	resp, body := th.do("POST", "/__api/projects/"+p.ID+"/assets-upload-session", api.UploadSessionRequest{Manifest: files.manifest()})
	sess := want[api.UploadSessionResponse](t, resp, body, http.StatusOK).Result
	flipped := bytes.Clone(content)
	flipped[3] ^= 1
	good, goodCT := multipartBody(t, binaryPart{h, content})
	cases := []struct {
		name, query, contentType string
		body                     []byte
		status                   int
		code                     api.Code
	}{
		{"corrupted part", "base64=false", "", mustBody(t, binaryPart{h, flipped}), 400, api.CodeInvalid},
		{"part longer than its file", "base64=false", "", mustBody(t, binaryPart{h, append(bytes.Clone(content), 'x')}), 400, api.CodeInvalid},
		{"part shorter than its file", "base64=false", "", mustBody(t, binaryPart{h, content[:len(content)-1]}), 400, api.CodeInvalid},
		{"trimmed part", "base64=false", "", mustBody(t, binaryPart{h, bytes.TrimSpace(content)}), 400, api.CodeInvalid},
		{"base64 part sent as binary", "base64=false", "", mustBody(t, binaryPart{h, []byte(base64.StdEncoding.EncodeToString(content))}), 400, api.CodeInvalid},
		{"binary part sent as base64", "", "", mustBody(t, binaryPart{h, content}), 400, api.CodeInvalid},
		{"hash not in session", "base64=false", "", mustBody(t, binaryPart{sha([]byte("zz")), []byte("zz")}), 400, api.CodeInvalid},
		{"part over the body limit", "base64=false", "", mustBody(t, binaryPart{h, bytes.Repeat([]byte{1}, 2<<20)}), 413, api.CodeTooLarge},
		{"cut short", "base64=false", "", good[:len(good)-10], 400, api.CodeInvalid},
		{"no closing boundary", "base64=false", "", good[:bytes.LastIndex(good, []byte("\r\n--"))], 400, api.CodeInvalid},
		{"no parts", "base64=false", "", mustBody(t), 400, api.CodeInvalid},
		{"JSON body with base64=false", "base64=false", "application/json", []byte(`{"` + h + `":"` + base64.StdEncoding.EncodeToString(content) + `"}`), 400, api.CodeInvalid},
		{"base64=maybe", "base64=maybe", "", good, 400, api.CodeInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct := c.contentType
			if ct == "" {
				ct = goodCT
			}
			resp, body := th.do("POST", "/__api/projects/"+p.ID+"/assets/upload?"+c.query, c.body, "Authorization", "Bearer "+sess.JWT, "Content-Type", ct)
			wantError(t, resp, body, c.status, c.code)
			if th.activeDeployment(p.ID) != first.Deployment.ID {
				t.Fatal("active deployment changed")
			}
		})
	}
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/assets/upload?base64=false", good, "Authorization", "Bearer "+sess.JWT, "Content-Type", goodCT)
	done := want[api.UploadResponse](t, resp, body, http.StatusCreated)
	resp, body = th.do("POST", "/__api/projects/"+p.ID+"/deploy", api.DeployRequest{CompletionJWT: *done.Result.JWT})
	want[api.DeployResponse](t, resp, body, http.StatusOK)
	if resp, got := th.fetch(p.ID+".localhost", "/a.bin"); resp.StatusCode != 200 || got != string(content) {
		t.Fatalf("served %d %q, want %q", resp.StatusCode, got, content)
	}
}

// mustBody is multipartBody without its content type, which is that of
// every multipartBody.
func mustBody(t testing.TB, parts ...binaryPart) []byte {
	t.Helper()
	b, _ := multipartBody(t, parts...)
	return b
}

// TestBucketFormsAgree uploads the same files as JSON, as base64 multipart
// and as binary multipart, one session each, and checks all three store the
// same bytes: the forms are interchangeable.
func TestBucketFormsAgree(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	files := awkwardFiles()
	forms := []struct {
		name  string
		build func(bucket []string, byHash map[string]string) (body []byte, contentType, query string)
	}{
		{"json", func(bucket []string, byHash map[string]string) ([]byte, string, string) {
			var b strings.Builder
			b.WriteString("{")
			for i, h := range bucket {
				if i > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, "%q:%q", h, base64.StdEncoding.EncodeToString([]byte(byHash[h])))
			}
			b.WriteString("}")
			return []byte(b.String()), "application/json", ""
		}},
		{"multipart base64", func(bucket []string, byHash map[string]string) ([]byte, string, string) {
			var parts []binaryPart
			for _, h := range bucket {
				parts = append(parts, binaryPart{h, []byte(base64.StdEncoding.EncodeToString([]byte(byHash[h])) + "\r\n")})
			}
			body, ct := multipartBody(t, parts...)
			return body, ct, "base64=true"
		}},
		{"multipart binary", func(bucket []string, byHash map[string]string) ([]byte, string, string) {
			var parts []binaryPart
			for _, h := range bucket {
				parts = append(parts, binaryPart{h, []byte(byHash[h])})
			}
			body, ct := multipartBody(t, parts...)
			return body, ct, "base64=false"
		}},
	}
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			p := th.createProject(strings.ReplaceAll(f.name, " ", "-"))
			resp, body := th.do("POST", "/__api/projects/"+p.ID+"/assets-upload-session", api.UploadSessionRequest{Manifest: files.manifest()})
			sess := want[api.UploadSessionResponse](t, resp, body, http.StatusOK).Result
			byHash := map[string]string{}
			for _, c := range files {
				byHash[sha([]byte(c))] = c
			}
			var completion string
			for _, bucket := range sess.Buckets {
				raw, ct, q := f.build(bucket, byHash)
				resp, body := th.do("POST", "/__api/projects/"+p.ID+"/assets/upload?"+q, raw, "Authorization", "Bearer "+sess.JWT, "Content-Type", ct)
				if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
					t.Fatalf("upload: %d %s", resp.StatusCode, body)
				}
				if r := want[api.UploadResponse](t, resp, body, resp.StatusCode); r.Result.JWT != nil {
					completion = *r.Result.JWT
				}
			}
			resp, body = th.do("POST", "/__api/projects/"+p.ID+"/deploy", api.DeployRequest{CompletionJWT: completion})
			want[api.DeployResponse](t, resp, body, http.StatusOK)
			for path, c := range files {
				if resp, got := th.fetch(p.ID+".localhost", path); resp.StatusCode != http.StatusOK || got != c {
					t.Errorf("%s: %d, %d bytes served, want %d", path, resp.StatusCode, len(got), len(c))
				}
			}
		})
	}
}

// TestClientDeploysBinary deploys files a text-minded reader would mangle
// with the real client, which sends binary buckets to a host that offers
// them, and checks they are served byte for byte.
func TestClientDeploysBinary(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("client")
	dir := t.TempDir()
	files := awkwardFiles()
	for path, c := range files {
		if err := os.WriteFile(filepath.Join(dir, path), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(th.srv.URL, client.Options{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Deploy(context.Background(), client.DeployOptions{ProjectID: p.ID, Dir: dir})
	if err != nil || res.NewAssets != len(files) {
		t.Fatalf("deploy: %v (%+v)", err, res)
	}
	for path, c := range files {
		if resp, got := th.fetch(p.ID+".localhost", path); resp.StatusCode != http.StatusOK || got != c {
			t.Errorf("%s: %d, %d bytes served, want %d", path, resp.StatusCode, len(got), len(c))
		}
	}
}

// BenchmarkReadBucket reads and checks one bucket of 50 files of 16 KiB, the
// mid-size site's typical bucket, in each form: what the host does per
// bucket before the store. SetBytes counts file bytes, so MB/s compare.
func BenchmarkReadBucket(b *testing.B) {
	want := map[string]store.SessionHash{}
	var parts []binaryPart
	jsonBody := map[string]string{}
	var fileBytes int64
	for i := range 50 {
		data := bytes.Repeat([]byte{byte(i), byte(i >> 8), 0xfe, '\n'}, 4096)
		h := sha(data)
		want[h] = store.SessionHash{Hash: h, Size: int64(len(data))}
		parts = append(parts, binaryPart{h, data})
		jsonBody[h] = base64.StdEncoding.EncodeToString(data)
		fileBytes += int64(len(data))
	}
	binBody, binCT := multipartBody(b, parts...)
	rawJSON, _ := json.Marshal(jsonBody)
	h := &Host{cfg: Config{Limits: manifest.DefaultLimits}}
	for _, c := range []struct {
		name, target, contentType string
		body                      []byte
	}{
		{"json", "/upload", "application/json", rawJSON},
		{"multipart binary", "/upload?base64=false", binCT, binBody},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(fileBytes)
			for b.Loop() {
				r := httptest.NewRequest("POST", c.target, bytes.NewReader(c.body))
				r.Header.Set("Content-Type", c.contentType)
				files, raw, err := h.readUploadBody(httptest.NewRecorder(), r)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := checkBucket(files, raw, want); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
