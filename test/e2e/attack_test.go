package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// attackBed is a running cfhost with two asset-only projects, A and B, each
// holding a secret file, and a project F whose server code misbehaves.
type attackBed struct {
	srv              *server
	c                *client.Client
	secret           string // the --jwt-secret, so the test can forge tokens
	a, b, f          string // project ids
	secretA, secretB string // contents of /secret-a.txt and /secret-b.txt
	port             string
}

func newAttackBed(t *testing.T) *attackBed {
	t.Helper()
	bed := &attackBed{secret: randomHex(32)}
	// The attacks send the same project manifests by the hundred thousand
	// entries, which --deploy-budget charges like deploys: on a slow
	// machine they fall into one window and the budget, tested on its own
	// in TestHostileFairDeployLimit, would refuse the sessions that check
	// what the attacks left behind.
	bed.srv = startServer(t, "", "--jwt-secret", bed.secret, "--log-level", "warn", "--access-log=false",
		"--deploy-budget", "1000000000")
	bed.port = bed.srv.addr[strings.LastIndexByte(bed.srv.addr, ':')+1:]
	bed.c = bed.srv.client(t, client.Options{})
	ctx := context.Background()
	root := t.TempDir()
	bed.a = createProject(t, bed.c, "tenant-a")
	bed.b = createProject(t, bed.c, "tenant-b")
	bed.secretA, bed.secretB = "secret of A "+randomHex(16), "secret of B "+randomHex(16)
	for _, p := range []struct{ id, name, secret string }{{bed.a, "secret-a.txt", bed.secretA}, {bed.b, "secret-b.txt", bed.secretB}} {
		dir := filepath.Join(root, p.id)
		site{"/" + p.name: []byte(p.secret), "/index.html": []byte("<h1>" + p.id + "</h1>")}.write(t, dir)
		if _, err := bed.c.Deploy(ctx, client.DeployOptions{ProjectID: p.id, Dir: dir}); err != nil {
			t.Fatal(err)
		}
	}
	bed.f = createProject(t, bed.c, "flooder")
	dir := filepath.Join(root, "flood")
	site{"/static.txt": []byte("static of F")}.write(t, dir)
	wasm := buildGuest(t, "flood")
	sc := &api.ServerCode{Entrypoint: "flood.wasm", Modules: map[string]api.Module{"flood.wasm": {Content: base64.StdEncoding.EncodeToString(wasm), Type: "wasm"}}}
	if _, err := bed.c.Deploy(ctx, client.DeployOptions{ProjectID: bed.f, Dir: dir, ServerCode: sc}); err != nil {
		t.Fatal(err)
	}
	return bed
}

// buildGuest compiles testdata/guests/<name> for wasip1 with the same
// toolchain that runs the tests.
func buildGuest(t *testing.T, name string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./testdata/guests/"+name)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build guest %s: %v\n%s", name, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// raw sends one request exactly as written (request line and headers
// untouched by any client library) and reads the answer.
func (bed *attackBed) raw(t *testing.T, req string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", bed.srv.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read answer to %q: %v", req, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// get sends a GET for target with the given Host header.
func (bed *attackBed) get(t *testing.T, host, target string, extra ...string) (*http.Response, string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", target, host)
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	return bed.raw(t, b.String())
}

// api sends an API request with a JSON (or other) body and returns status
// and body.
func (bed *attackBed) api(t *testing.T, method, path, auth, contentType string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, bed.srv.url(path), body)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// wantAPIError checks that an API answer is a clear error: the status, and
// the JSON error body of the contract with a code and a message.
func wantAPIError(t *testing.T, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %s, want %d; body %.300s", resp.Status, status, body)
	}
	var er api.ErrorResponse
	if err := json.Unmarshal(body, &er); err != nil || er.Success || len(er.Errors) == 0 || er.Errors[0].Code == "" || er.Error == "" {
		t.Fatalf("not a clear JSON error: %.300s", body)
	}
}

// sessionOf returns the session id inside a token the host signed.
func sessionOf(t *testing.T, token string) string {
	t.Helper()
	var c struct {
		Session string `json:"sid"`
		jwt.RegisteredClaims
	}
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil {
		t.Fatal(err)
	}
	return c.Session
}

// forge signs a token with any method and key, with the claims cfhost reads.
func forge(t *testing.T, method jwt.SigningMethod, key any, project, session, purpose string, exp time.Time) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": project, "sid": session, "purpose": purpose, "iat": time.Now().Unix(), "exp": exp.Unix()}
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestHostileInput throws handcrafted attacks at the real binary over real
// HTTP: path traversal in manifests and request paths, Host header tricks,
// forged and misdirected tokens, oversized and deeply nested JSON, a
// million-entry manifest, slow clients and a guest that writes a gigabyte.
// Every answer must be a clear 4xx/5xx, nothing may leak across projects,
// and the server must stay up and fast throughout.
func TestHostileInput(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	bed := newAttackBed(t)
	attacks := 0
	defer func() { t.Logf("%d handcrafted attacks, server still healthy", attacks) }()

	t.Run("request paths", func(t *testing.T) {
		A, B := bed.a, bed.b
		hostA := A + ".localhost:" + bed.port
		cases := []struct {
			name, host, target string
			status             int
			// serves names the project whose secret must be in the body;
			// every other case must show neither secret.
			serves string
		}{
			// Path mode resolves dot segments (also encoded, also with
			// backslashes) before routing, as a browser does: the result is
			// B's own public URL, served as B, never A's prefix serving B.
			{"dotdot into B", "127.0.0.1", "/__project/" + A + "/../" + B + "/secret-b.txt", 200, "B"},
			{"encoded dotdot", "127.0.0.1", "/__project/" + A + "/%2e%2e/" + B + "/secret-b.txt", 200, "B"},
			{"half-encoded dotdot", "127.0.0.1", "/__project/" + A + "/.%2E/" + B + "/secret-b.txt", 200, "B"},
			{"backslashes", "127.0.0.1", "/__project/" + A + "/..\\" + B + "\\secret-b.txt", 200, "B"},
			{"encoded slash stays a name", "127.0.0.1", "/__project/" + A + "/..%2f" + B + "/secret-b.txt", 404, ""},
			{"encoded backslash stays a name", "127.0.0.1", "/__project/" + A + "/..%5c" + B + "%5csecret-b.txt", 404, ""},
			{"escape to the filesystem", "127.0.0.1", "/__project/" + A + "/../../../../etc/passwd", 404, ""},
			{"encoded escape to the filesystem", "127.0.0.1", "/__project/" + A + "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 404, ""},
			{"overlong UTF-8 dots", "127.0.0.1", "/__project/" + A + "/%c0%ae%c0%ae/" + B + "/secret-b.txt", 404, ""},
			{"NUL byte", "127.0.0.1", "/__project/" + A + "/secret-a.txt%00.html", 404, ""},
			{"four dots are a name", "127.0.0.1", "/__project/" + A + "/....//" + B + "/secret-b.txt", 404, ""},
			{"positive control A", "127.0.0.1", "/__project/" + A + "/secret-a.txt", 200, "A"},
			// Subdomain mode: the host names the project and no path can
			// leave it.
			{"subdomain dotdot", hostA, "/../" + B + "/secret-b.txt", 404, ""},
			{"subdomain path prefix of B", hostA, "/__project/" + B + "/secret-b.txt", 404, ""},
			{"subdomain encoded escape", hostA, "/%2e%2e/%2e%2e/etc/passwd", 404, ""},
			{"subdomain backslash escape", hostA, "/..%5c..%5cetc%5cpasswd", 404, ""},
			{"subdomain positive control", hostA, "/secret-a.txt", 200, "A"},
			// Host header tricks.
			{"base domain not at the end", A + ".localhost.evil.test", "/secret-a.txt", 404, ""},
			{"two labels", "x." + A + ".localhost", "/secret-a.txt", 404, ""},
			{"bare base domain", "localhost", "/secret-a.txt", 404, ""},
			{"IP address", "127.0.0.1", "/secret-a.txt", 404, ""},
			{"IPv6 address", "[::1]", "/secret-a.txt", 404, ""},
			{"upper case and trailing dot", strings.ToUpper(A) + ".LOCALHOST.", "/secret-a.txt", 200, "A"},
			{"userinfo in Host", A + ".localhost@" + B + ".localhost", "/secret-b.txt", 400, ""},
			{"project id with a dot", A + "." + B + ".localhost", "/secret-b.txt", 404, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				attacks++
				resp, body := bed.get(t, c.host, c.target)
				if resp.StatusCode != c.status {
					t.Fatalf("GET %s (Host %s): %s, want %d; body %.200q", c.target, c.host, resp.Status, c.status, body)
				}
				checkLeak(t, bed, c.serves, body)
			})
		}
		t.Run("X-Forwarded-Host names no project", func(t *testing.T) {
			attacks++
			resp, body := bed.get(t, "evil.test", "/secret-a.txt", "X-Forwarded-Host: "+A+".localhost")
			if resp.StatusCode != 404 {
				t.Fatalf("%s", resp.Status)
			}
			checkLeak(t, bed, "", body)
		})
		t.Run("X-Forwarded-Host does not switch project", func(t *testing.T) {
			attacks++
			resp, body := bed.get(t, hostA, "/secret-b.txt", "X-Forwarded-Host: "+B+".localhost")
			if resp.StatusCode != 404 {
				t.Fatalf("%s", resp.Status)
			}
			checkLeak(t, bed, "", body)
		})
		t.Run("two Host headers", func(t *testing.T) {
			attacks++
			resp, _ := bed.raw(t, "GET /secret-a.txt HTTP/1.1\r\nHost: "+hostA+"\r\nHost: "+B+".localhost\r\nConnection: close\r\n\r\n")
			if resp.StatusCode != 400 {
				t.Fatalf("%s", resp.Status)
			}
		})
		t.Run("absolute-form target names its own host", func(t *testing.T) {
			// RFC 9112 §3.2.2: the target's authority replaces Host. The
			// request is then simply one for B, and gets B's answer.
			attacks++
			resp, body := bed.raw(t, "GET http://"+B+".localhost/secret-b.txt HTTP/1.1\r\nHost: "+hostA+"\r\nConnection: close\r\n\r\n")
			if resp.StatusCode != 200 {
				t.Fatalf("%s", resp.Status)
			}
			checkLeak(t, bed, "B", body)
		})
	})

	t.Run("auth", func(t *testing.T) {
		testAuthAttacks(t, bed, &attacks)
	})
	t.Run("bodies", func(t *testing.T) {
		testBodyAttacks(t, bed, &attacks)
	})
	t.Run("tenant isolation of dedup", func(t *testing.T) {
		attacks++
		// B claims A's secret file by hash, without the bytes. The host must
		// ask B for it like for anything B never uploaded: it never reveals
		// that another tenant holds a file.
		m := site{"/stolen.txt": []byte(bed.secretA)}.manifest()
		sess, err := bed.c.CreateUploadSession(context.Background(), bed.b, m)
		if err != nil {
			t.Fatal(err)
		}
		if len(sess.Buckets) != 1 || len(sess.Buckets[0]) != 1 {
			t.Fatalf("B was not asked to upload A's file: buckets %v", sess.Buckets)
		}
		attacks++
		// And B cannot pass other bytes off under that hash.
		body, _ := json.Marshal(map[string]string{sha([]byte(bed.secretA)): base64.StdEncoding.EncodeToString([]byte("guess"))})
		resp, rb := bed.api(t, "POST", "/__api/projects/"+bed.b+"/assets/upload", "Bearer "+sess.JWT, "application/json", bytes.NewReader(body))
		wantAPIError(t, resp, rb, 400)
	})
	t.Run("slow clients", func(t *testing.T) {
		testSlowClients(t, bed, &attacks)
	})
	t.Run("guest floods", func(t *testing.T) {
		testGuestFlood(t, bed, &attacks)
	})

	// Nothing above may have taken the server down or left it hurt.
	if bed.srv.exited() {
		t.Fatalf("cfhost died: %s", bed.srv.logTail(4096))
	}
	resp, body := bed.get(t, bed.a+".localhost", "/secret-a.txt")
	if resp.StatusCode != 200 || body != bed.secretA {
		t.Fatalf("after the attacks A answers %s %q", resp.Status, body)
	}
	if log := bed.srv.logTail(1 << 20); strings.Contains(log, "panic") {
		t.Errorf("the server log mentions a panic:\n%s", log)
	}

	// A hostile tenant's own project against the host and its neighbours,
	// each on a server of its own (some need their own flags).
	t.Run("tenant rules", hostileRules)
	t.Run("tenant bodies", hostileBodies)
	t.Run("tenant quotas", hostileQuotas)
	t.Run("tenant tokens", hostileTokens)
}

// checkLeak fails if body shows a secret it should not: serves is "A", "B"
// or "" for neither. A local file's content must never appear.
func checkLeak(t *testing.T, bed *attackBed, serves, body string) {
	t.Helper()
	if strings.Contains(body, bed.secretA) != (serves == "A") || strings.Contains(body, bed.secretB) != (serves == "B") {
		t.Fatalf("wrong content (want %q's secret): %.200q", serves, body)
	}
	if strings.Contains(body, "root:") {
		t.Fatalf("a local file leaked: %.200q", body)
	}
}

func testAuthAttacks(t *testing.T, bed *attackBed, attacks *int) {
	ctx := context.Background()
	// A real upload session each for A and B, of a file neither has.
	file := []byte("auth attack " + randomHex(8))
	m := site{"/f.txt": file}.manifest()
	sa, err := bed.c.CreateUploadSession(ctx, bed.a, m)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := bed.c.CreateUploadSession(ctx, bed.b, m)
	if err != nil {
		t.Fatal(err)
	}
	sidA := sessionOf(t, sa.JWT)
	uploadBody := func() io.Reader {
		b, _ := json.Marshal(map[string]string{sha(file): base64.StdEncoding.EncodeToString(file)})
		return bytes.NewReader(b)
	}
	hour := time.Now().Add(time.Hour)
	key := []byte(bed.secret)
	noneTok := forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, bed.a, sidA, "upload", hour)
	headerless := strings.Join(strings.Split(forge(t, jwt.SigningMethodHS256, key, bed.a, sidA, "upload", hour), ".")[:2], ".") + "."
	upload := []struct{ name, auth string }{
		{"no token", ""},
		{"alg none", "Bearer " + noneTok},
		{"alg none, no Bearer", noneTok},
		{"signature stripped", "Bearer " + headerless},
		{"wrong key", "Bearer " + forge(t, jwt.SigningMethodHS256, []byte("not the secret"), bed.a, sidA, "upload", hour)},
		{"HS512 with the right key", "Bearer " + forge(t, jwt.SigningMethodHS512, key, bed.a, sidA, "upload", hour)},
		{"expired", "Bearer " + forge(t, jwt.SigningMethodHS256, key, bed.a, sidA, "upload", time.Now().Add(-time.Minute))},
		{"other project's token", "Bearer " + sb.JWT},
		{"A's session under B's name", "Bearer " + forge(t, jwt.SigningMethodHS256, key, bed.b, sidA, "upload", hour)},
		{"completion purpose", "Bearer " + forge(t, jwt.SigningMethodHS256, key, bed.a, sidA, "complete", hour)},
		{"unknown session", "Bearer " + forge(t, jwt.SigningMethodHS256, key, bed.a, "00000000-0000-0000-0000-000000000000", "upload", hour)},
		{"the API token", "Bearer " + bed.srv.token},
		{"garbage", "Bearer ..."},
	}
	for _, c := range upload {
		t.Run("upload/"+c.name, func(t *testing.T) {
			*attacks++
			resp, body := bed.api(t, "POST", "/__api/projects/"+bed.a+"/assets/upload", c.auth, "application/json", uploadBody())
			wantAPIError(t, resp, body, 401)
		})
	}
	// The host must still accept the genuine token: the refusals above
	// were about the tokens, not a broken endpoint.
	resp, body := bed.api(t, "POST", "/__api/projects/"+bed.a+"/assets/upload", "Bearer "+sa.JWT, "application/json", uploadBody())
	if resp.StatusCode != 201 {
		t.Fatalf("genuine upload: %s %s", resp.Status, body)
	}
	var ur api.UploadResponse
	json.Unmarshal(body, &ur)
	if ur.Result.JWT == nil {
		t.Fatalf("no completion token: %s", body)
	}
	completeA := *ur.Result.JWT
	deploy := []struct{ name, token string }{
		{"upload token as completion", sa.JWT},
		{"B's upload token", sb.JWT},
		{"forged for B's project", forge(t, jwt.SigningMethodHS256, key, bed.b, sidA, "complete", hour)},
		{"alg none completion", forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, bed.a, sidA, "complete", hour)},
	}
	for _, c := range deploy {
		t.Run("deploy/"+c.name, func(t *testing.T) {
			*attacks++
			b, _ := json.Marshal(api.DeployRequest{CompletionJWT: c.token})
			resp, body := bed.api(t, "POST", "/__api/projects/"+bed.a+"/deploy", "Bearer "+bed.srv.token, "application/json", bytes.NewReader(b))
			wantAPIError(t, resp, body, 401)
		})
	}
	t.Run("deploy/A's completion token on B", func(t *testing.T) {
		*attacks++
		b, _ := json.Marshal(api.DeployRequest{CompletionJWT: completeA})
		resp, body := bed.api(t, "POST", "/__api/projects/"+bed.b+"/deploy", "Bearer "+bed.srv.token, "application/json", bytes.NewReader(b))
		wantAPIError(t, resp, body, 401)
	})
	mgmt := []struct{ name, auth string }{
		{"none", ""},
		{"wrong", "Bearer " + randomHex(32)},
		{"empty bearer", "Bearer "},
		{"prefix of the token", "Bearer " + bed.srv.token[:len(bed.srv.token)-1]},
		{"token plus a byte", "Bearer " + bed.srv.token + "x"},
		{"basic", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+bed.srv.token))},
		{"an upload token", "Bearer " + sa.JWT},
	}
	for _, c := range mgmt {
		t.Run("api/"+c.name, func(t *testing.T) {
			*attacks++
			resp, body := bed.api(t, "GET", "/__api/projects", c.auth, "", nil)
			wantAPIError(t, resp, body, 401)
			*attacks++
			resp, body = bed.api(t, "DELETE", "/__api/projects/"+bed.b, c.auth, "", nil)
			wantAPIError(t, resp, body, 401)
		})
	}
	t.Run("api from a project host", func(t *testing.T) {
		*attacks++
		resp, body := bed.get(t, bed.a+".localhost", "/__api/projects")
		if resp.StatusCode != 401 || !strings.Contains(body, `"success":false`) {
			t.Fatalf("%s %s", resp.Status, body)
		}
	})
}

func testBodyAttacks(t *testing.T, bed *attackBed, attacks *int) {
	auth := "Bearer " + bed.srv.token
	session := "/__api/projects/" + bed.a + "/assets-upload-session"
	hash := sha([]byte("x"))
	manifestBody := func(path string) io.Reader {
		b, _ := json.Marshal(map[string]any{"manifest": map[string]any{path: map[string]any{"hash": hash, "size": 1}}})
		return bytes.NewReader(b)
	}
	// Paths that must never enter a manifest.
	for _, p := range []string{"", "a.txt", "/../etc/passwd", "/a/../../b", "/a/..", "/./a", "/a/.", "/a//b", "//a",
		"/a\x00b", "/a\x01b", "/a\x7fb", "/" + strings.Repeat("x", 1100)} {
		t.Run(fmt.Sprintf("manifest path %.30q", p), func(t *testing.T) {
			*attacks++
			resp, body := bed.api(t, "POST", session, auth, "application/json", manifestBody(p))
			wantAPIError(t, resp, body, 400)
		})
	}
	bad := []struct {
		name   string
		body   string
		status int
	}{
		{"invalid UTF-8 path", "{\"manifest\":{\"/a\xff\":{\"hash\":\"" + hash + "\",\"size\":1}}}", 400},
		{"hash that is a path", `{"manifest":{"/a":{"hash":"../../../../etc/passwd","size":1}}}`, 400},
		{"upper-case hash", `{"manifest":{"/a":{"hash":"` + strings.ToUpper(hash) + `","size":1}}}`, 400},
		{"negative size", `{"manifest":{"/a":{"hash":"` + hash + `","size":-1}}}`, 400},
		{"huge size", `{"manifest":{"/a":{"hash":"` + hash + `","size":9223372036854775807}}}`, 413},
		{"size overflowing int64", `{"manifest":{"/a":{"hash":"` + hash + `","size":99999999999999999999}}}`, 400},
		{"one hash, two sizes", `{"manifest":{"/a":{"hash":"` + hash + `","size":1},"/b":{"hash":"` + hash + `","size":2}}}`, 400},
		{"manifest is a list", `{"manifest":[1,2,3]}`, 400},
		{"no manifest", `{}`, 400},
		{"trailing garbage", `{"manifest":{}}}`, 400},
		{"deeply nested", strings.Repeat("[", 200000) + strings.Repeat("]", 200000), 400},
		{"deeply nested manifest entry", `{"manifest":{"/a":` + strings.Repeat(`{"hash":`, 100000) + `"x"` + strings.Repeat("}", 100000) + `}}`, 400},
		{"empty body", ``, 400},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			*attacks++
			resp, body := bed.api(t, "POST", session, auth, "application/json", strings.NewReader(c.body))
			wantAPIError(t, resp, body, c.status)
		})
	}
	t.Run("oversized project body", func(t *testing.T) {
		*attacks++
		resp, body := bed.api(t, "POST", "/__api/projects", auth, "application/json", strings.NewReader(`{"name":"`+strings.Repeat("a", 1<<20)+`"}`))
		wantAPIError(t, resp, body, 413)
	})
	t.Run("body over the limit", func(t *testing.T) {
		*attacks++
		// 80 MiB of one JSON string, past the 64 MiB request limit.
		r := io.MultiReader(strings.NewReader(`{"manifest":{"/a":{"hash":"`), io.LimitReader(repeatReader('a'), 80<<20), strings.NewReader(`","size":1}}}`))
		resp, body := bed.api(t, "POST", session, auth, "application/json", r)
		wantAPIError(t, resp, body, 413)
	})
	// A manifest far past the file limit must be refused quickly and
	// without the server's memory growing with it: once past the body
	// limit, and once inside the body limit but past the file limit.
	for _, c := range []struct {
		name    string
		entries int
		base    int // of the number that names each entry's path
	}{
		{"million-entry manifest", 1_000_000, 10},
		{"600,000 entries within the body limit", 600_000, 16},
	} {
		t.Run(c.name, func(t *testing.T) {
			*attacks++
			// Entries "/<i>":{"hash":"<hash>","size":1}, appended by hand:
			// a million fmt.Fprintf calls took seconds under the race
			// detector.
			raw := []byte(`{"manifest":{`)
			for i := range c.entries {
				if i > 0 {
					raw = append(raw, ',')
				}
				raw = append(raw, `"/`...)
				raw = strconv.AppendInt(raw, int64(i), c.base)
				raw = append(append(append(raw, `":{"hash":"`...), hash...), `","size":1}`...)
			}
			b := bytes.NewBuffer(append(raw, "}}"...))
			size := b.Len()
			var took time.Duration
			grew := bed.srv.rssGrowth(t, func() {
				start := time.Now()
				resp, body := bed.api(t, "POST", session, auth, "application/json", b)
				took = time.Since(start)
				wantAPIError(t, resp, body, 413)
			})
			t.Logf("%d entries (%d MiB): 413 in %s; server memory grew by %d MiB", c.entries, size>>20, took.Round(time.Millisecond), grew>>20)
			if grew > 256<<20 {
				t.Errorf("the server's memory grew by %d MiB", grew>>20)
			}
			if took > 10*time.Second {
				t.Errorf("the refusal took %s", took)
			}
		})
	}
	// Upload bodies, with a real session of A.
	ctx := context.Background()
	file := []byte("body attack " + randomHex(8))
	sess, err := bed.c.CreateUploadSession(ctx, bed.a, site{"/g.txt": file}.manifest())
	if err != nil {
		t.Fatal(err)
	}
	upload := "/__api/projects/" + bed.a + "/assets/upload"
	multi := func(field, content string) (string, io.Reader) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		fw, _ := w.CreateFormFile(field, field)
		io.WriteString(fw, content)
		w.Close()
		return w.FormDataContentType(), &b
	}
	uploads := []struct {
		name   string
		ct     string
		body   io.Reader
		status int
	}{
		{"hash not asked for", "application/json", strings.NewReader(`{"` + hash + `":"eA=="}`), 400},
		{"not base64", "application/json", strings.NewReader(`{"` + sha(file) + `":"!!!"}`), 400},
		{"wrong bytes", "application/json", strings.NewReader(`{"` + sha(file) + `":"` + base64.StdEncoding.EncodeToString([]byte("other")) + `"}`), 400},
		{"no files", "application/json", strings.NewReader(`{}`), 400},
		{"JSON list", "application/json", strings.NewReader(`["a"]`), 400},
		{"multipart without boundary", "multipart/form-data", strings.NewReader("--x\r\n\r\n"), 400},
		{"multipart truncated", "multipart/form-data; boundary=zz", strings.NewReader("--zz\r\nContent-Disposition: form-data; name=\"" + sha(file) + "\"\r\n\r\nabc"), 400},
		{"multipart over the limit", "multipart/form-data; boundary=zz", io.MultiReader(strings.NewReader("--zz\r\nContent-Disposition: form-data; name=\""+sha(file)+"\"\r\n\r\n"), io.LimitReader(repeatReader('A'), 80<<20)), 413},
	}
	ct, body := multi(hash, "eA==")
	uploads = append(uploads, struct {
		name   string
		ct     string
		body   io.Reader
		status int
	}{"multipart hash not asked for", ct, body, 400})
	for _, c := range uploads {
		t.Run("upload "+c.name, func(t *testing.T) {
			*attacks++
			resp, body := bed.api(t, "POST", upload, "Bearer "+sess.JWT, c.ct, c.body)
			wantAPIError(t, resp, body, c.status)
		})
	}
	t.Run("upload genuine multipart", func(t *testing.T) {
		ct, body := multi(sha(file), base64.StdEncoding.EncodeToString(file))
		resp, rb := bed.api(t, "POST", upload, "Bearer "+sess.JWT, ct, body)
		if resp.StatusCode != 201 {
			t.Fatalf("%s %s", resp.Status, rb)
		}
	})
}

// repeatReader is an endless stream of one byte.
type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func testSlowClients(t *testing.T, bed *attackBed, attacks *int) {
	var wg sync.WaitGroup
	// Slowloris: headers trickled a byte a second. The server must hang up
	// at its ReadHeaderTimeout (10 s) instead of holding the connection.
	*attacks++
	wg.Add(1)
	var closedAfter time.Duration
	var slowErr error
	go func() {
		defer wg.Done()
		conn, err := net.Dial("tcp", bed.srv.addr)
		if err != nil {
			slowErr = err
			return
		}
		defer conn.Close()
		start := time.Now()
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: "+bed.a+".localhost\r\n")
		buf := make([]byte, 1)
		for time.Since(start) < 30*time.Second {
			if _, err := io.WriteString(conn, "X"); err != nil {
				break
			}
			conn.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := conn.Read(buf); err != nil && !isTimeout(err) {
				break
			}
		}
		closedAfter = time.Since(start)
	}()
	// Slow body: headers at once, then the body stops after a few bytes.
	// The server must answer (a clear 400) once the body has been idle for
	// its BodyIdleTimeout (30 s) instead of waiting forever.
	*attacks++
	wg.Add(1)
	var bodyAnswer string
	var bodyAfter time.Duration
	var bodyErr error
	go func() {
		defer wg.Done()
		conn, err := net.Dial("tcp", bed.srv.addr)
		if err != nil {
			bodyErr = err
			return
		}
		defer conn.Close()
		start := time.Now()
		conn.SetDeadline(start.Add(60 * time.Second))
		io.WriteString(conn, "POST /__api/projects HTTP/1.1\r\nHost: x\r\nAuthorization: "+bed.srv.token+
			"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"na")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		bodyAfter = time.Since(start)
		if err != nil {
			bodyErr = fmt.Errorf("no answer to a stalled body after %s: %w", bodyAfter, err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		bodyAnswer = resp.Status + " " + strings.TrimSpace(string(b))
	}()
	// Hundreds of idle connections that never send a byte.
	*attacks++
	var idle []net.Conn
	for range 300 {
		conn, err := net.Dial("tcp", bed.srv.addr)
		if err != nil {
			t.Fatalf("open idle connection: %v", err)
		}
		idle = append(idle, conn)
	}
	// Meanwhile real requests are answered quickly.
	for range 20 {
		start := time.Now()
		resp, body := bed.get(t, bed.a+".localhost", "/secret-a.txt")
		if resp.StatusCode != 200 || body != bed.secretA {
			t.Fatalf("during slow clients: %s", resp.Status)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("a request took %s while slow clients held connections", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	for _, c := range idle {
		c.Close()
	}
	if slowErr != nil {
		t.Fatal(slowErr)
	}
	t.Logf("slowloris connection closed by the server after %s", closedAfter.Round(100*time.Millisecond))
	if closedAfter > 15*time.Second {
		t.Errorf("a client trickling its headers kept the connection for %s; ReadHeaderTimeout is 10s", closedAfter)
	}
	if bodyErr != nil {
		t.Fatal(bodyErr)
	}
	t.Logf("stalled body answered after %s: %.120s", bodyAfter.Round(100*time.Millisecond), bodyAnswer)
	if !strings.HasPrefix(bodyAnswer, "400 ") || bodyAfter > 40*time.Second {
		t.Errorf("a stalled body got %q after %s; want a 400 after about 30s", bodyAnswer, bodyAfter)
	}
	if soak() {
		// IdleTimeout (120 s): a kept-alive connection left idle is closed.
		*attacks++
		conn, err := net.Dial("tcp", bed.srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET /__api/health HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(conn)
		if resp, err := http.ReadResponse(br, nil); err != nil {
			t.Fatal(err)
		} else {
			io.Copy(io.Discard, resp.Body)
		}
		start := time.Now()
		conn.SetReadDeadline(start.Add(180 * time.Second))
		_, err = br.ReadByte()
		t.Logf("idle keep-alive connection closed after %s (%v)", time.Since(start).Round(time.Second), err)
		if err != io.EOF || time.Since(start) > 130*time.Second {
			t.Errorf("idle keep-alive connection: %v after %s; want EOF at the 120s IdleTimeout", err, time.Since(start))
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func testGuestFlood(t *testing.T, bed *attackBed, attacks *int) {
	hostF := bed.f + ".localhost"
	*attacks++
	var resp *http.Response
	var body string
	var took time.Duration
	grew := bed.srv.rssGrowth(t, func() {
		start := time.Now()
		resp, body = bed.get(t, hostF, "/flood")
		took = time.Since(start)
	})
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("a guest writing 1 GiB to stdout: %s, %d bytes; want 502", resp.Status, len(body))
	}
	if len(body) > 64<<10 {
		t.Errorf("the 502 carried %d bytes of the guest's output", len(body))
	}
	t.Logf("1 GiB to stdout: %s in %s; server memory grew by %d MiB", resp.Status, took.Round(time.Millisecond), grew>>20)
	if grew > 256<<20 {
		t.Errorf("peak memory grew by %d MiB", grew>>20)
	}
	*attacks++
	resp, body = bed.get(t, hostF, "/flood?stderr")
	if resp.StatusCode != 200 || !strings.Contains(body, "stderr flooded") {
		t.Fatalf("a guest writing 1 GiB to stderr: %s %.100q", resp.Status, body)
	}
	// The module, the project and the neighbours are fine afterwards.
	resp, body = bed.get(t, hostF, "/x?hello")
	if resp.StatusCode != 200 || !strings.Contains(body, "hello from flood") {
		t.Fatalf("after the flood: %s %.100q", resp.Status, body)
	}
	resp, body = bed.get(t, hostF, "/static.txt")
	if resp.StatusCode != 200 || body != "static of F" {
		t.Fatalf("F's assets after the flood: %s %.100q", resp.Status, body)
	}
}
