package host

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/cfdeploy/cfdeploy/internal/poll"
	"github.com/cfdeploy/cfdeploy/pkg/api"
)

func TestBackgroundCompression(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("c")
	page := strings.Repeat("<p>compress me</p>\n", 200)
	png := string(bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 200))
	th.deploy(p.ID, siteFiles{"/index.html": page, "/img.png": png, "/tiny.css": "a{}"})
	waitCompressed(t, th)
	for enc, decode := range map[string]func(io.Reader) (io.Reader, error){
		"gzip": func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
		"br":   func(r io.Reader) (io.Reader, error) { return brotli.NewReader(r), nil },
	} {
		ra, size, err := th.h.store.OpenBlob(t.Context(), sha([]byte(page)), enc)
		if err != nil {
			t.Fatalf("%s variant of the page: %v", enc, err)
		}
		if size >= int64(len(page)) {
			t.Fatalf("%s variant is %d bytes, not smaller than %d", enc, size, len(page))
		}
		r, err := decode(io.NewSectionReader(ra, 0, size))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || string(got) != page {
			t.Fatalf("%s variant does not decode to the page: %v", enc, err)
		}
		// Images are not compressible and tiny files are not worth it.
		for _, other := range []string{png, "a{}"} {
			if _, _, err := th.h.store.OpenBlob(t.Context(), sha([]byte(other)), enc); err == nil {
				t.Errorf("unexpected %s variant of a %d-byte file", enc, len(other))
			}
		}
	}
}

// TestCompressionWaitsForDeploys: compression stays off while deploys keep
// coming — sessions opened, not only buckets uploaded — and runs once they
// pause.
func TestCompressionWaitsForDeploys(t *testing.T) {
	// Opens more upload sessions than the default quota, none of them deployed.
	th := newTestHost(t, func(c *Config) { c.MaxUploadSessions = 100 })
	p := th.createProject("busy")
	page := strings.Repeat("<p>compress me later</p>\n", 200)
	th.deploy(p.ID, siteFiles{"/index.html": page})
	manifest := api.UploadSessionRequest{Manifest: api.Manifest{"/index.html": {Hash: sha([]byte(page)), Size: int64(len(page))}}}
	// Sessions for a redeploy of the same site: nothing to upload, but a
	// deploy in progress all the same.
	for end := time.Now().Add(2 * compressQuiet); time.Now().Before(end); time.Sleep(compressQuiet / 5) {
		if resp, body := th.do("POST", "/__api/projects/"+p.ID+"/assets-upload-session", manifest); resp.StatusCode != 200 {
			t.Fatalf("session: %d %s", resp.StatusCode, body)
		}
	}
	left, err := th.h.store.BlobsToCompress(t.Context(), 10)
	if err != nil || len(left) != 1 {
		t.Fatalf("compressed during a deploy: %d blobs left to compress (%v), want 1", len(left), err)
	}
	waitCompressed(t, th)
}

// TestCompressibleIsAnyUploader: bytes first uploaded under a name that is
// not worth compressing are compressed once another project uploads them
// under a compressible one.
func TestCompressibleIsAnyUploader(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	js := strings.Repeat("console.log('compress me');\n", 200)
	first, second := th.createProject("bin"), th.createProject("app")
	th.deploy(first.ID, siteFiles{"/x.bin": js})
	th.deploy(second.ID, siteFiles{"/app.js": js})
	waitCompressed(t, th)
	for _, enc := range []string{"gzip", "br"} {
		if _, _, err := th.h.store.OpenBlob(t.Context(), sha([]byte(js)), enc); err != nil {
			t.Errorf("app.js uploaded after the same bytes as x.bin has no %s variant: %v", enc, err)
		}
	}
}

// waitCompressed waits for background compression to leave no blob
// waiting.
func waitCompressed(t *testing.T, th *testHost) {
	t.Helper()
	poll.Until(t, 10*time.Second, "background compression to finish", func() bool {
		left, err := th.h.store.BlobsToCompress(t.Context(), 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(left) == 0
	})
}
