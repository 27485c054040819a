package assets

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/cfdeploy/cfdeploy/internal/host/coalesce"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// memBlobs is a BlobSource over blobs held in memory: real bytes, served
// through the same interface the host implements over SQLite.
type memBlobs struct {
	mu    sync.Mutex
	blobs map[string][]byte // hash + "/" + encoding
	opens atomic.Int64
	gate  chan struct{} // when set, OpenBlob waits for it
}

func newMemBlobs() *memBlobs { return &memBlobs{blobs: map[string][]byte{}} }

func (m *memBlobs) put(hash, enc string, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[hash+"/"+enc] = b
}

func (m *memBlobs) OpenBlob(ctx context.Context, hash, enc string) (io.ReaderAt, int64, error) {
	m.opens.Add(1)
	if m.gate != nil {
		<-m.gate
	}
	m.mu.Lock()
	b, ok := m.blobs[hash+"/"+enc]
	m.mu.Unlock()
	if !ok {
		return nil, 0, fmt.Errorf("blob %s %q: %w", hash, enc, fs.ErrNotExist)
	}
	return bytes.NewReader(b), int64(len(b)), nil
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fileBody is the content each test file gets unless given one: its own
// path, so a response body names the asset that was served.
func fileBody(p string) string { return "<" + p + ">" }

// siteSpec describes a deployment for a test.
type siteSpec struct {
	files       []string          // paths whose content is fileBody(path)
	contents    map[string]string // paths with explicit content
	html        string
	notFound    string
	redirects   string
	headers     string
	compressed  []string // paths that also get gzip and br variants
	budget      int64
	skipBlobFor string // an asset whose blob is missing from the store
	limits      Limits
	log         io.Writer // the site's log; discarded when nil
}

// build compiles the deployment of spec over a fresh in-memory store.
func build(t testing.TB, spec siteSpec) (*Site, *memBlobs, *Cache) {
	t.Helper()
	blobs := newMemBlobs()
	d := Deployment{
		ID:     "dep1",
		Assets: map[string]Asset{},
		Config: rules.Config{HTMLHandling: spec.html, NotFoundHandling: spec.notFound},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limits: spec.limits,
	}
	if spec.log != nil {
		d.Logger = slog.New(slog.NewTextHandler(spec.log, nil))
	}
	add := func(p, body string) {
		h := sha([]byte(body))
		if p != spec.skipBlobFor {
			blobs.put(h, "", []byte(body))
		}
		d.Assets[p] = Asset{Hash: h, Size: int64(len(body)), ContentType: manifest.ContentType(p)}
	}
	for _, p := range spec.files {
		add(p, fileBody(p))
	}
	for p, body := range spec.contents {
		add(p, body)
	}
	for _, p := range spec.compressed {
		a := d.Assets[p]
		raw, _, err := blobs.OpenBlob(context.Background(), a.Hash, "")
		if err != nil {
			t.Fatal(err)
		}
		body := make([]byte, a.Size)
		raw.ReadAt(body, 0)
		blobs.put(a.Hash, "gzip", gzipBytes(t, body))
		blobs.put(a.Hash, "br", brotliBytes(t, body))
	}
	if spec.redirects != "" {
		html := spec.html
		if html == "" {
			html = rules.AutoTrailingSlash
		}
		r, _, err := rules.ParseRedirects(spec.redirects, html)
		if err != nil {
			t.Fatal(err)
		}
		d.Redirects = r
	}
	if spec.headers != "" {
		h, _, err := rules.ParseHeaders(spec.headers)
		if err != nil {
			t.Fatal(err)
		}
		d.Headers = h
	}
	cache := NewCache(blobs, spec.budget)
	site, err := Compile(d, cache)
	if err != nil {
		t.Fatal(err)
	}
	return site, blobs, cache
}

func gzipBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func brotliBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	bw := brotli.NewWriterLevel(&buf, 5)
	bw.Write(b)
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// serveSite starts a real HTTP server for the site. Requests under
// /__project/p1 are served in path mode, and their writes gathered, like the
// host does.
func serveSite(t testing.TB, site *Site) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := coalesce.From(r.Context())
		c.Hold()
		defer c.Done(w)
		req := NewRequest(r)
		const prefix = "/__project/p1"
		if rest, ok := strings.CutPrefix(req.Pathname, prefix); ok && (rest == "" || rest[0] == '/') {
			if rest == "" {
				rest = "/"
			}
			req.Pathname, req.Prefix = rest, prefix
		}
		site.Serve(w, r, req)
	}))
	srv.Listener = coalesce.Listener(srv.Listener)
	srv.Config.ConnContext = coalesce.ConnContext
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// response is what a raw HTTP exchange returned.
type response struct {
	status int
	header http.Header
	body   string
}

func (r response) String() string {
	return fmt.Sprintf("%d %v %q", r.status, r.header, r.body)
}

// do sends one request with a byte-exact request target (no client-side
// cleaning) and reads the response. headers are "Name: value" lines.
func do(t testing.TB, srv *httptest.Server, method, target string, headers ...string) response {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", method, target)
	host := "site.test"
	for _, h := range headers {
		if v, ok := strings.CutPrefix(h, "Host: "); ok {
			host = v
			continue
		}
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Host: %s\r\nConnection: close\r\n\r\n", host)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, target, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}
