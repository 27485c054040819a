package host

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// fuzzBed is a real Host on a real SQLite file, driven through its
// ServeHTTP, with one project and an open upload session for two files.
type fuzzBed struct {
	h       *Host
	project string
	jwt     string
	files   map[string][]byte // hash → content the session asks for
}

func newFuzzBed(f *testing.F) *fuzzBed {
	f.Helper()
	h, err := New(context.Background(), Config{
		DataDir: f.TempDir(), APIToken: testToken,
		// Small limits keep each run cheap and put the limit checks
		// within the fuzzer's reach.
		Limits: manifest.Limits{MaxFileSize: 1 << 10, MaxFiles: 16, MaxBodyBytes: 64 << 10},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close() })
	bed := &fuzzBed{h: h, files: map[string][]byte{}}
	rec := bed.serve("POST", "/__api/projects", "Bearer "+testToken, "application/json", []byte(`{"name":"fuzz"}`))
	var pr api.ProjectResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &pr); err != nil || rec.Code != http.StatusCreated {
		f.Fatalf("create project: %d %s", rec.Code, rec.Body)
	}
	bed.project = pr.Project.ID
	m := api.Manifest{}
	for i, c := range []string{"<h1>fuzz</h1>", "body { color: red }"} {
		b := []byte(c)
		bed.files[sha(b)] = b
		m[[]string{"/index.html", "/style.css"}[i]] = api.ManifestEntry{Hash: sha(b), Size: int64(len(b))}
	}
	body, _ := json.Marshal(api.UploadSessionRequest{Manifest: m})
	rec = bed.serve("POST", "/__api/projects/"+bed.project+"/assets-upload-session", "Bearer "+testToken, "application/json", body)
	var sr api.UploadSessionResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &sr); err != nil || rec.Code != http.StatusOK || len(sr.Result.Buckets) != 1 {
		f.Fatalf("upload session: %d %s", rec.Code, rec.Body)
	}
	bed.jwt = sr.Result.JWT
	return bed
}

func (bed *fuzzBed) serve(method, path, auth, contentType string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	bed.h.ServeHTTP(rec, req)
	return rec
}

// checkAnswer fails on a 5xx and on any answer that is not the JSON body
// of the contract, success or error.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, allowed ...int) {
	t.Helper()
	ok := false
	for _, s := range allowed {
		ok = ok || rec.Code == s
	}
	if !ok {
		t.Fatalf("status %d; body %.300s", rec.Code, rec.Body)
	}
	var v struct {
		Success bool `json:"success"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("answer is not JSON: %.300s", rec.Body)
	}
	if v.Success != (rec.Code < 300) {
		t.Fatalf("status %d with success %v: %.300s", rec.Code, v.Success, rec.Body)
	}
}

// checkStored fails unless every blob the host holds for the session's
// hashes has exactly the bytes of its hash: no upload body, however
// crafted, may store content under a hash it does not have.
func (bed *fuzzBed) checkStored(t *testing.T) {
	t.Helper()
	for hash, want := range bed.files {
		ra, size, err := bed.h.store.OpenBlob(context.Background(), hash, "")
		if err != nil {
			continue // not uploaded (yet)
		}
		got, err := io.ReadAll(io.NewSectionReader(ra, 0, size))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("blob %s holds %q (%v), not %q", hash, got, err, want)
		}
	}
}

// FuzzUploadSession sends arbitrary bodies as an upload-session request (the
// manifest validator and the JSON decoder behind it). Whatever the body,
// the answer is 200 or a clear 400/413, never a 5xx; and when a session is
// granted, every path in the body was a valid asset path and every hash a
// valid hash.
func FuzzUploadSession(f *testing.F) {
	bed := newFuzzBed(f)
	h := strings.Repeat("ab", 32)
	for _, s := range []string{
		`{"manifest":{"/a.html":{"hash":"` + h + `","size":1}}}`,
		`{"manifest":{"/../etc/passwd":{"hash":"` + h + `","size":1}}}`,
		`{"manifest":{"/a":{"hash":"` + h + `","size":-1}}}`,
		`{"manifest":{"/a":{"hash":"` + h + `","size":99999999}}}`,
		`{"manifest":{}}`, `{}`, `[]`, `null`, `{"manifest":null}`, `{"manifest":{"/a":null}}`,
		`{"manifest":{"/a":{"hash":"` + h + `","size":1},"/a":{"hash":"` + h + `","size":2}}}`,
		strings.Repeat("[", 1000),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := bed.serve("POST", "/__api/projects/"+bed.project+"/assets-upload-session", "Bearer "+testToken, "application/json", body)
		checkAnswer(t, rec, http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge)
		if rec.Code != http.StatusOK {
			return
		}
		var req api.UploadSessionRequest
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("a session was granted for a body that does not decode: %v", err)
		}
		if len(req.Manifest) > 16 {
			t.Fatalf("a session was granted for %d files; the limit is 16", len(req.Manifest))
		}
		for p, e := range req.Manifest {
			if manifest.ValidatePath(p) != nil || manifest.ValidateHash(e.Hash) != nil || e.Size < 0 || e.Size > 1<<10 {
				t.Fatalf("a session was granted for %q %+v", p, e)
			}
		}
	})
}

// FuzzUploadJSON sends arbitrary JSON bucket bodies with a genuine upload
// token. The answer is 200/201 or a clear 4xx, never a 5xx, and nothing is
// ever stored under a hash its bytes do not have.
func FuzzUploadJSON(f *testing.F) {
	bed := newFuzzBed(f)
	for hash, b := range bed.files {
		f.Add([]byte(`{"` + hash + `":"` + base64.StdEncoding.EncodeToString(b) + `"}`))
		f.Add([]byte(`{"` + hash + `":"` + base64.StdEncoding.EncodeToString([]byte("forged")) + `"}`))
		f.Add([]byte(`{"` + hash + `":"!!"}`))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"a":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := bed.serve("POST", "/__api/projects/"+bed.project+"/assets/upload", "Bearer "+bed.jwt, "application/json", body)
		checkAnswer(t, rec, http.StatusOK, http.StatusCreated, http.StatusBadRequest, http.StatusRequestEntityTooLarge)
		bed.checkStored(t)
	})
}

// FuzzUploadMultipartBinary is FuzzUploadMultipart with ?base64=false: the
// parts are taken as the files' own bytes, so every byte a part holds counts.
func FuzzUploadMultipartBinary(f *testing.F) {
	bed := newFuzzBed(f)
	for hash, b := range bed.files {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		w.SetBoundary("fuzzboundary")
		fw, _ := w.CreateFormFile(hash, hash)
		fw.Write(b)
		w.Close()
		f.Add("fuzzboundary", buf.Bytes())
	}
	f.Add("x", []byte("--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\x00\r\n--x--\r\n"))
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		ct := "multipart/form-data; boundary=" + boundary
		if strings.ContainsAny(boundary, "\r\n") {
			ct = "multipart/form-data"
		}
		rec := bed.serve("POST", "/__api/projects/"+bed.project+"/assets/upload?base64=false", "Bearer "+bed.jwt, ct, body)
		checkAnswer(t, rec, http.StatusOK, http.StatusCreated, http.StatusBadRequest, http.StatusRequestEntityTooLarge)
		bed.checkStored(t)
	})
}

// FuzzUploadMultipart does the same for multipart/form-data bodies: the
// fuzzer controls the boundary and the raw body.
func FuzzUploadMultipart(f *testing.F) {
	bed := newFuzzBed(f)
	for hash, b := range bed.files {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		w.SetBoundary("fuzzboundary")
		fw, _ := w.CreateFormFile(hash, hash)
		fw.Write([]byte(base64.StdEncoding.EncodeToString(b)))
		w.Close()
		f.Add("fuzzboundary", buf.Bytes())
	}
	f.Add("x", []byte("--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nYQ==\r\n--x--\r\n"))
	f.Add("", []byte("--\r\n"))
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		ct := "multipart/form-data; boundary=" + boundary
		if strings.ContainsAny(boundary, "\r\n") {
			ct = "multipart/form-data"
		}
		rec := bed.serve("POST", "/__api/projects/"+bed.project+"/assets/upload", "Bearer "+bed.jwt, ct, body)
		checkAnswer(t, rec, http.StatusOK, http.StatusCreated, http.StatusBadRequest, http.StatusRequestEntityTooLarge)
		bed.checkStored(t)
	})
}
