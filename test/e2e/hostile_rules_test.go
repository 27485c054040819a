package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// hostileRules attacks cfhost with what a tenant may write in
// _redirects and _headers, and with request targets chosen to make those
// rules expensive: each answer stays small and cheap, and each attack here
// was reproduced on the host before its limit existed (a 10 KB request
// made 3 MB of headers; one request cost seconds of CPU in rule matching,
// or a tenth of a second in the 404-page fallback).
func hostileRules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	srv := startServer(t, "", "--log-level", "warn", "--access-log=false")
	c := srv.client(t, client.Options{})
	root := t.TempDir()
	deploy := func(t *testing.T, name string, files site, cfg api.AssetConfig) (string, error) {
		t.Helper()
		id := createProject(t, c, name)
		dir := filepath.Join(root, id)
		files.write(t, dir)
		_, err := c.Deploy(context.Background(), client.DeployOptions{ProjectID: id, Dir: dir, Config: &cfg})
		return id, err
	}
	host := func(id string) string { return id + ".localhost" }

	t.Run("too many placeholders", func(t *testing.T) {
		// The rule of the original attack: 600 placeholders.
		var rule strings.Builder
		for i := range 600 {
			fmt.Fprintf(&rule, ":p%d", i)
		}
		for _, cfg := range []api.AssetConfig{
			{Redirects: "/ok /fine\n/" + rule.String()[:1500] + " /x\n"},
			{Headers: "/ok\n  X-A: 1\n/" + rule.String()[:1500] + "\n  X-B: 2\n"},
		} {
			_, err := deploy(t, "placeholders", site{"/index.html": []byte("x")}, cfg)
			var apiErr *api.Error
			if !errors.As(err, &apiErr) || apiErr.Code != api.CodeInvalid || !strings.Contains(err.Error(), "line ") || !strings.Contains(err.Error(), "placeholders") {
				t.Errorf("deploy with a 300-placeholder rule: %v, want a 400 naming the line", err)
			}
		}
	})

	t.Run("amplification", func(t *testing.T) {
		// Each :splat copies the request path: 300 of them in one header
		// value, 250 in a redirect target.
		id, err := deploy(t, "amplify", site{"/index.html": []byte("home")}, api.AssetConfig{
			Headers:   "/*\n  X-Amp: " + strings.Repeat(":splat", 300) + "\n  X-Path: :splat\n",
			Redirects: "/r/* " + strings.Repeat("/:splat", 250) + " 302\n",
		})
		if err != nil {
			t.Fatal(err)
		}
		long := strings.Repeat("p", 10<<10)
		for _, target := range []string{"/h/" + long, "/r/" + long} {
			status, header, total := rawExchange(t, srv.addr, host(id), target)
			// Before the limits: 3 MB for the header, 2.5 MB of Location.
			if total > 64<<10 {
				t.Errorf("GET %.20s… (%d bytes): %d-byte response, want under 64 KiB", target, len(target), total)
			}
			if status >= 500 {
				t.Errorf("GET %.20s…: %d", target, status)
			}
			if target[1] == 'h' && header.Get("X-Path") != target[1:] {
				t.Errorf("GET %.20s…: the short header X-Path (%d bytes) is not set", target, len(header.Get("X-Path")))
			}
		}
		// Within the limits the same rules still work.
		if status, header, _ := rawExchange(t, srv.addr, host(id), "/r/x"); status != 302 || header.Get("Location") != strings.Repeat("/x", 250) {
			t.Errorf("GET /r/x: %d Location %.40q…, want the redirect", status, header.Get("Location"))
		}
	})

	t.Run("maximal rules", func(t *testing.T) {
		// 100 dynamic redirects and 100 header blocks with ten placeholders
		// each, in the shapes that cost a linear matcher most (see
		// BenchmarkPatternHostile) and a regular expression far more, and a
		// path just under the target limit that none of them matches.
		var redirects, headers strings.Builder
		for i := range 100 {
			tag := "~" + string(rune('A'+i/26)) + string(rune('A'+i%26))
			var rule string
			switch i % 4 {
			case 0:
				rule = "/:a:b:c:d:e:f:g:h:i:j" + tag
			case 1:
				rule = "/:a" + tag + ":b:c:d:e:f:g:h:i" + tag + ":j"
			case 2:
				rule = "/:a:b:c:d:e:f:g:h:i-" + tag + ":j"
			case 3:
				// As long a literal between placeholders as a rule may have.
				rule = "/:a:b:c:d:e:f:g:h:i" + strings.Repeat("-", rules.MaxRuleInnerLiteral-len(tag)) + tag + ":j"
			}
			fmt.Fprintf(&redirects, "%s /to 302\n", rule)
			fmt.Fprintf(&headers, "%s\n  X-Rule: %d\n", rule, i)
		}
		id, err := deploy(t, "maximal", site{"/index.html": []byte("home")}, api.AssetConfig{Redirects: redirects.String(), Headers: headers.String()})
		if err != nil {
			t.Fatal(err)
		}
		target := "/" + strings.Repeat("-", 16000)
		const n = 20
		cpu, elapsed := serverCPU(t, srv, func() {
			for range n {
				if status, header, _ := rawExchange(t, srv.addr, host(id), target); status != 404 || header.Get("X-Rule") != "" {
					t.Fatalf("GET /<16000 dashes>: %d, X-Rule %q; want 404, no rule matching", status, header.Get("X-Rule"))
				}
			}
		})
		t.Logf("%d requests with a 16000-byte path against 200 rules: %v of server CPU (%v each), %v", n, cpu, cpu/n, elapsed)
		// A regular expression took seconds per rule here; the linear
		// matcher takes a few milliseconds per request. The bound is wide
		// for a loaded 2-core machine.
		if cpu > n*100*time.Millisecond {
			t.Errorf("%v of CPU for %d requests, want under 100 ms each", cpu, n)
		}
	})

	t.Run("target too long", func(t *testing.T) {
		id, err := deploy(t, "long", site{"/index.html": []byte("home")}, api.AssetConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range []string{"/" + strings.Repeat("b", 17000), "/?" + strings.Repeat("q", 17000)} {
			if status, _, _ := rawExchange(t, srv.addr, host(id), target); status != http.StatusRequestURITooLong {
				t.Errorf("GET a %d-byte target: %d, want 414", len(target), status)
			}
			if status, _, _ := rawExchange(t, srv.addr, "127.0.0.1", "/__project/"+id+target); status != http.StatusRequestURITooLong {
				t.Errorf("GET a %d-byte target in path mode: %d, want 414", len(target), status)
			}
		}
		if status, _, _ := rawExchange(t, srv.addr, host(id), "/?"+strings.Repeat("q", 16000)); status != 200 {
			t.Errorf("GET a 16002-byte target: %d, want 200", status)
		}
	})

	t.Run("deep 404 page path", func(t *testing.T) {
		id, err := deploy(t, "deep", site{"/404.html": []byte("root 404"), "/a/404.html": []byte("a 404"), "/index.html": []byte("home")},
			api.AssetConfig{NotFoundHandling: "404-page"})
		if err != nil {
			t.Fatal(err)
		}
		target := "/" + strings.Repeat("a/", 8000) // 8,000 levels, under the target limit
		const n = 20
		cpu, elapsed := serverCPU(t, srv, func() {
			for range n {
				if status, _, _ := rawExchange(t, srv.addr, host(id), target); status != 404 {
					t.Fatalf("GET /a/a/…: %d, want 404", status)
				}
			}
		})
		t.Logf("%d requests 8,000 levels deep: %v of server CPU (%v each), %v", n, cpu, cpu/n, elapsed)
		// Quadratic, it cost about a tenth of a second each; walking only
		// directories that hold a 404.html costs what any request costs.
		if cpu > n*20*time.Millisecond {
			t.Errorf("%v of CPU for %d requests, want under 20 ms each", cpu, n)
		}
		if _, header, _ := rawExchange(t, srv.addr, host(id), target); header.Get("Content-Length") != strconv.Itoa(len("a 404")) {
			t.Errorf("the deep path did not get /a/404.html (Content-Length %s)", header.Get("Content-Length"))
		}
	})
}

// rawExchange sends one GET with a byte-exact target, reads the whole
// answer and returns its status, header and size in bytes as received
// (status line, headers and body). It gives up after a minute, which fails
// the test: no answer here may take that long.
func rawExchange(t *testing.T, addr, host, target string) (int, http.Header, int64) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, host); err != nil {
		t.Fatal(err)
	}
	counted := &countingReader{r: conn}
	resp, err := http.ReadResponse(bufio.NewReader(counted), nil)
	if err != nil {
		t.Fatalf("GET %.40s… (%d bytes): %v", target, len(target), err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("GET %.40s…: read body: %v", target, err)
	}
	resp.Body.Close()
	io.Copy(io.Discard, counted) // anything after the body, to the close
	return resp.StatusCode, resp.Header, counted.n
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// serverCPU runs fn and returns the CPU time (user and system) the server
// process spent meanwhile, and the wall time fn took.
func serverCPU(t *testing.T, srv *server, fn func()) (time.Duration, time.Duration) {
	t.Helper()
	before, err := processCPU(srv.pid())
	if err != nil {
		t.Skipf("cannot read the server's CPU time: %v", err)
	}
	start := time.Now()
	fn()
	elapsed := time.Since(start)
	after, err := processCPU(srv.pid())
	if err != nil {
		t.Fatal(err)
	}
	return after - before, elapsed
}

// processCPU reads utime + stime of a process from /proc/<pid>/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis. utime and stime are fields 14 and
	// 15, the 12th and 13th after it.
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	// Clock ticks are 1/100 s on Linux (USER_HZ).
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
