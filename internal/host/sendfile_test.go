package host

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host/assets"
	"github.com/cfdeploy/cfdeploy/internal/host/coalesce"
	"github.com/cfdeploy/cfdeploy/internal/poll"
)

// An asset of 100 KiB leaves by sendfile, without its bytes passing
// through the process, whichever writers the router puts in front of the
// connection (its status recorder, the preview and isolation wrappers):
// each must hand the body down through ReadFrom. The bytes still count in
// the metrics.
func TestLargeAssetLeavesBySendfile(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sendfile from in-memory files is Linux's")
	}
	th := newTestHost(t)
	big := make([]byte, 100<<10)
	rand.Read(big)
	p := th.createProject("big")
	th.deploy(p.ID, siteFiles{"/big.bin": string(big)})
	pre := th.deploy(p.ID, siteFiles{"/big.bin": string(big)}, preview("next")).Deployment
	iso := th.createProject("cookies")
	th.deploy(iso.ID, siteFiles{"/big.bin": string(big), "/_headers": "/*\n  Set-Cookie: a=b\n"})

	var total int
	for _, tc := range []struct {
		name, host, path string
		header           []string
		want             string
	}{
		{"subdomain", p.ID + ".localhost", "/big.bin", nil, string(big)},
		{"path mode", "127.0.0.1", "/__project/" + p.ID + "/big.bin", nil, string(big)},
		{"preview", pre.ShortID + "--" + p.ID + ".localhost", "/big.bin", nil, string(big)},
		{"isolated", iso.ID + ".localhost", "/big.bin", nil, string(big)},
		{"range", p.ID + ".localhost", "/big.bin", []string{"Range", "bytes=1000-70999"}, string(big[1000:71000])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := coalesce.FileBytesSent()
			resp, body := th.fetch(tc.host, tc.path, append([]string{"Accept-Encoding", "identity"}, tc.header...)...)
			if resp.StatusCode/100 != 2 || body != tc.want {
				t.Fatalf("status %d, %d bytes, want %d", resp.StatusCode, len(body), len(tc.want))
			}
			// The handler counts what it sent once sendfile has returned,
			// which may be after the client has read the last byte. Other
			// tests may send files meanwhile: count at least.
			sent := func() int64 { return coalesce.FileBytesSent() - before }
			if !poll.Wait(10*time.Second, func() bool { return sent() >= int64(len(tc.want)) }) {
				t.Errorf("%d bytes left by sendfile, want %d", sent(), len(tc.want))
			}
			total += len(body)
		})
	}
	// Counted when each handler returns, which the client does not wait for.
	want := fmt.Sprintf(`cfhost_http_response_bytes_total{class="asset"} %d`, total)
	var metrics []byte
	if !poll.Wait(10*time.Second, func() bool {
		_, metrics = th.do("GET", "/__metrics", nil)
		return strings.Contains(string(metrics), want)
	}) {
		t.Errorf("metrics lack %q:\n%s", want, metrics)
	}
}

// Over TLS (HTTP/2 here) there is no sendfile: the body kept in a file is
// copied out, intact, ranges included.
func TestLargeAssetOverTLS(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	big := make([]byte, 100<<10)
	rand.Read(big)
	p := th.createProject("tls")
	th.deploy(p.ID, siteFiles{"/big.bin": string(big)})
	srv := httptest.NewUnstartedServer(th.h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	for _, tc := range []struct {
		rng  string
		want []byte
	}{{"", big}, {"bytes=5-40004", big[5:40005]}} {
		req, err := http.NewRequest("GET", srv.URL+"/big.bin", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = p.ID + ".localhost"
		req.Header.Set("Accept-Encoding", "identity")
		if tc.rng != "" {
			req.Header.Set("Range", tc.rng)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.ProtoMajor != 2 || resp.StatusCode/100 != 2 || !bytes.Equal(body, tc.want) {
			t.Fatalf("Range %q: %s %s, %d bytes (%v), want %d", tc.rng, resp.Proto, resp.Status, len(body), err, len(tc.want))
		}
	}
}

// The bodies the cache keeps in files are unnamed files in the data
// directory by default, where the kernel sends them more cheaply than from
// memory; Config.CacheFilesInMemory (--cache-files memory) keeps them in
// memfds.
func TestCachedBodiesLiveWhereConfigured(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("files for cached bodies are Linux's")
	}
	big := make([]byte, 100<<10)
	rand.Read(big)
	for _, tc := range []struct {
		name     string
		inMemory bool
	}{{"data dir", false}, {"memory", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var st syscall.Statfs_t
			if err := syscall.Statfs(dir, &st); err != nil {
				t.Fatal(err)
			}
			if free := int64(st.Bavail) * int64(st.Bsize); !tc.inMemory && (free < assets.DiskReserve+int64(len(big)) || free < int64(st.Blocks)*int64(st.Bsize)/20) {
				t.Skipf("%s's filesystem has %d bytes free: the cache leaves its reserve alone", dir, free)
			}
			th := newTestHost(t, func(c *Config) { c.DataDir, c.CacheFilesInMemory = dir, tc.inMemory })
			p := th.createProject("big")
			th.deploy(p.ID, siteFiles{"/big.bin": string(big)})
			before := openFilesUnder(t, dir)
			if resp, body := th.fetch(p.ID+".localhost", "/big.bin", "Accept-Encoding", "identity"); resp.StatusCode != 200 || body != string(big) {
				t.Fatalf("status %d, %d bytes", resp.StatusCode, len(body))
			}
			added := openFilesUnder(t, dir) - before
			if want := map[bool]int{false: 1, true: 0}[tc.inMemory]; added != want {
				t.Errorf("%d more unnamed files open in the data dir after serving, want %d", added, want)
			}
		})
	}
}

// openFilesUnder counts this process's open descriptors of unnamed
// (O_TMPFILE) files in dir.
func openFilesUnder(t *testing.T, dir string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(link, dir+"/#") {
			n++
		}
	}
	return n
}
