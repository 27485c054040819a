package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cfdeploy/cfdeploy/internal/host"
	"github.com/cfdeploy/cfdeploy/internal/wasmcache"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"cfdeploy": func() { os.Exit(mainRun()) },
	})
}

// newHost starts a host for a test.
func newHost(cfg host.Config) (*host.Host, error) {
	return host.New(context.Background(), cfg)
}

// testToken is the management token of every script's host.
const testToken = "script-test-token"

type counterKey struct{}

// requestCounter counts API calls by kind, so scripts can check that a dry
// run or a refused deploy sent no uploads.
type requestCounter struct {
	sessions, uploads, deploys atomic.Int64
}

// TestScripts runs testdata/script/*.txtar against a real in-process host:
// each script gets its own host (fresh data directory) behind httptest, with
// CFDEPLOY_HOST and CFDEPLOY_TOKEN set, and runs the real cfdeploy command.
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:                 "../../testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			data := env.WorkDir + "/" + scriptHostData
			// The host and the guest command load the machine code that
			// earlier scripts and runs compiled (internal/wasmcache).
			caches := []string{data + "/wasm-cache", data + "/js-cache"}
			wasmcache.Seed(caches...)
			h, err := newHost(host.Config{DataDir: data, APIToken: testToken})
			if err != nil {
				return err
			}
			env.Defer(func() { wasmcache.Keep(caches...) })
			cnt := &requestCounter{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case strings.HasSuffix(r.URL.Path, "/assets-upload-session"):
					cnt.sessions.Add(1)
				case strings.HasSuffix(r.URL.Path, "/assets/upload"):
					cnt.uploads.Add(1)
				case strings.HasSuffix(r.URL.Path, "/deploy"):
					cnt.deploys.Add(1)
				}
				h.ServeHTTP(w, r)
			}))
			env.Defer(func() { srv.Close(); h.Close() })
			env.Values[counterKey{}] = cnt
			env.Setenv("CFDEPLOY_HOST", srv.URL)
			env.Setenv("CFDEPLOY_TOKEN", testToken)
			env.Setenv("HOSTURL", srv.URL)
			env.Setenv("HOSTPORT", strings.TrimPrefix(srv.URL, "http://"))
			env.Setenv("NO_COLOR", "1")
			env.Setenv("XDG_CACHE_HOME", env.WorkDir+"/.cache")
			// Built with -race, every cfdeploy run would otherwise wait a
			// second at exit (the race detector's atexit_sleep_ms, for
			// races in goroutines still running then): minutes over the
			// scripts' few hundred runs. Races while a command runs are
			// still reported.
			env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"fetch":     cmdFetch,
			"jsonfield": cmdJSONField,
			"requests":  cmdRequests,
			"status":    cmdStatus,
			"eq":        cmdEq,
			"mkbig":     cmdMkbig,
			"guest":     cmdGuest,
			"fromrepo":  cmdFromRepo,
			"readme":    cmdReadme,
			"request":   cmdRequest,
		},
	})
}

// cmdFetch: fetch URL — GET the URL; its body becomes stdout and the
// status line stderr. With !, a non-2xx status is expected.
func cmdFetch(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: fetch URL")
	}
	c := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Get(args[0])
	ts.Check(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	ts.Stdout().Write(body)
	fmt.Fprintf(ts.Stderr(), "%s\n", resp.Status)
	for k, v := range resp.Header {
		fmt.Fprintf(ts.Stderr(), "%s: %s\n", k, strings.Join(v, ", "))
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if ok == neg {
		ts.Fatalf("fetch %s: %s", args[0], resp.Status)
	}
}

// cmdJSONField: jsonfield FILE PATH VAR — sets $VAR to the value at the
// dot-separated PATH of the JSON document in FILE (a string as is, anything
// else as JSON; array elements by index).
func cmdJSONField(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 || neg {
		ts.Fatalf("usage: jsonfield FILE PATH VAR")
	}
	var v any
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &v))
	for key := range strings.SplitSeq(args[1], ".") {
		switch node := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = node[key]; !ok {
				ts.Fatalf("jsonfield: no %q in %s", key, args[0])
			}
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(node) {
				ts.Fatalf("jsonfield: bad index %q in %s", key, args[0])
			}
			v = node[i]
		default:
			ts.Fatalf("jsonfield: %q reaches into a scalar", key)
		}
	}
	s, ok := v.(string)
	if !ok {
		b, _ := json.Marshal(v)
		s = string(b)
	}
	ts.Setenv(args[2], s)
}

// cmdRequests: requests KIND N — asserts how many session, upload or deploy
// calls the host has seen.
func cmdRequests(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: requests sessions|uploads|deploys N")
	}
	cnt := ts.Value(counterKey{}).(*requestCounter)
	var got int64
	switch args[0] {
	case "sessions":
		got = cnt.sessions.Load()
	case "uploads":
		got = cnt.uploads.Load()
	case "deploys":
		got = cnt.deploys.Load()
	default:
		ts.Fatalf("unknown request kind %q", args[0])
	}
	want, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	if (got == want) == neg {
		ts.Fatalf("%s: host saw %d, want %s%d", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// cmdStatus: status N PROG ARGS... — runs PROG like exec and asserts its
// exit status is exactly N.
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || neg {
		ts.Fatalf("usage: status N PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("run %s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// cmdEq: eq A B — asserts A and B are equal (with !, different).
func cmdEq(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: eq A B")
	}
	if (args[0] == args[1]) == neg {
		ts.Fatalf("eq: %q vs %q", args[0], args[1])
	}
}

// cmdMkbig: mkbig FILE SIZE — creates a sparse file of SIZE bytes, so a
// limit test costs no disk.
func cmdMkbig(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || neg {
		ts.Fatalf("usage: mkbig FILE SIZE")
	}
	size, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	f, err := os.Create(ts.MkAbs(args[0]))
	ts.Check(err)
	ts.Check(f.Truncate(size))
	ts.Check(f.Close())
}

// repoRoot is the repository root, from the package directory.
const repoRoot = "../.."

// cmdFromRepo: fromrepo PATH — copies the repository's file or directory
// PATH to the same path under $WORK, so a script can run what a fresh
// clone holds.
func cmdFromRepo(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: fromrepo PATH")
	}
	src := filepath.Join(repoRoot, filepath.FromSlash(args[0]))
	ts.Check(filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(repoRoot, p)
		if err != nil {
			return err
		}
		dst := ts.MkAbs(rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	}))
}

// cmdReadme: readme HEADING FILE — writes the first ```sh block after the
// README's "### HEADING" line to FILE, so a script can hold the README to
// the commands it runs.
func cmdReadme(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || neg {
		ts.Fatalf("usage: readme HEADING FILE")
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	ts.Check(err)
	_, after, ok := strings.Cut(string(b), "\n### "+args[0]+"\n")
	if !ok {
		ts.Fatalf("README.md has no heading %q", args[0])
	}
	_, block, ok := strings.Cut(after, "```sh\n")
	if !ok {
		ts.Fatalf("no sh block after %q", args[0])
	}
	block, _, _ = strings.Cut(block, "```")
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(block), 0o644))
}
