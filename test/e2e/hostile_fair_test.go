package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// This file holds the attacks of one tenant (or its visitors) on the CPU
// its neighbours need: rules that are slow to match, expensive requests
// sent on many connections, redeploys in a loop.

// TestHostileFairRuleLiteral deploys rules with long text between two
// placeholders of one segment. Go searches such text a byte at a time
// (Rabin-Karp) rather than with vector instructions: 200 such rules and a
// long path cost tens of milliseconds per request, so the deploy is
// refused, naming the line.
func TestHostileFairRuleLiteral(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	srv := startServer(t, "", "--log-level", "warn", "--access-log=false")
	c := srv.client(t, client.Options{})
	long := strings.Repeat("-", 100)
	for _, tt := range []struct {
		cfg  api.AssetConfig
		line string
	}{
		{api.AssetConfig{Redirects: "/ok /fine\n/:a" + long + "~:b /x\n"}, "line 2: "},
		{api.AssetConfig{Headers: "/ok\n  X-A: 1\n/:a" + long + "~:b\n  X-B: 2\n"}, "line 3: "},
	} {
		id := createProject(t, c, "literal")
		dir := filepath.Join(t.TempDir(), id)
		site{"/index.html": []byte("x")}.write(t, dir)
		_, err := c.Deploy(context.Background(), client.DeployOptions{ProjectID: id, Dir: dir, Config: &tt.cfg})
		var apiErr *api.Error
		if !errors.As(err, &apiErr) || apiErr.Code != api.CodeInvalid || !strings.Contains(err.Error(), tt.line) || !strings.Contains(err.Error(), "between two placeholders") {
			t.Errorf("deploy with 101 bytes between two placeholders: %v, want a 400 naming %q", err, tt.line)
		}
	}
}

// TestHostileFairLongRequests sends requests with long paths to a project
// with 200 rules of ten placeholders, from eight connections, for a few
// seconds, to a host that paces long requests (--long-request-share 1)
// and to one that does not. Unpaced, such requests take whole cores
// (bench/neighbour.sh measured a neighbour's static site keeping 7 % of
// its throughput); paced, one project's long requests run one at a time
// with pauses in between, so the same attack gets far fewer answered.
// Counting answers, not timing them, keeps the test steady on a loaded
// machine: the pacer's pauses grow with the time a request took, load
// included.
func TestHostileFairLongRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	target := "/" + strings.Repeat("-", 16000)
	attack := func(t *testing.T, flags ...string) (answered int64, cpu time.Duration) {
		srv := startServer(t, "", append([]string{"--log-level", "warn", "--access-log=false"}, flags...)...)
		c := srv.client(t, client.Options{})
		attacker := deployRules(t, c, "maximal", maximalRuleSet())
		neighbour := deployRules(t, c, "neighbour", api.AssetConfig{})
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var n atomic.Int64
		var wg sync.WaitGroup
		cpu, _ = serverCPU(t, srv, func() {
			for range 8 {
				wg.Go(func() {
					for ctx.Err() == nil {
						if status, err := rawStatus(ctx, srv.addr, attacker+".localhost", target); err == nil && status == 404 {
							n.Add(1)
						}
					}
				})
			}
			// The neighbour is answered while the attack runs.
			if status, err := rawStatus(context.Background(), srv.addr, neighbour+".localhost", "/"); err != nil || status != 200 {
				t.Errorf("the neighbour's page under the attack: %d %v", status, err)
			}
			wg.Wait()
		})
		return n.Load(), cpu
	}
	unpaced, unpacedCPU := attack(t, "--long-request-path", "1GiB")
	paced, pacedCPU := attack(t, "--long-request-share", "1")
	t.Logf("3 s of 8 connections of 16,000-byte paths against 200 rules: %d answered unpaced (%v of server CPU), %d paced to 1 %% (%v)",
		unpaced, unpacedCPU, paced, pacedCPU)
	if unpaced < 30 {
		t.Skipf("only %d answers without pacing: the machine is too busy to compare", unpaced)
	}
	// Paced to a hundredth of a core, expect far fewer answers even when
	// the unpaced host got only a tenth of a core on a busy machine; a
	// third is far from both.
	if paced*3 > unpaced {
		t.Errorf("paced, the attack got %d answers against %d unpaced: its long requests were not paced", paced, unpaced)
	}
}

// TestHostileFairDeployLimit redeploys one project in a loop, as a tenant
// would to make the host read a manifest and build its site again and
// again: once the project's deploys counted --deploy-budget files within
// --deploy-window (here 300, and a small deploy counts 100), deploys,
// rollbacks and promotions are answered 429 with Retry-After and the JSON
// error, the live site is the last deployment that went through, and other
// projects deploy as usual.
func TestHostileFairDeployLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	srv := startServer(t, "", "--log-level", "warn", "--access-log=false", "--deploy-budget", "300", "--deploy-window", "10m")
	c := srv.client(t, client.Options{MaxAttempts: 1})
	id := createProject(t, c, "redeployer")
	dir := filepath.Join(t.TempDir(), id)
	deploy := func(project, content string) (*client.DeployResult, error) {
		site{"/index.html": []byte(content)}.write(t, dir)
		return c.Deploy(context.Background(), client.DeployOptions{ProjectID: project, Dir: dir})
	}
	var first string
	for i := range 3 {
		res, err := deploy(id, fmt.Sprintf("version %d", i))
		if err != nil {
			t.Fatalf("deploy %d of 3: %v", i+1, err)
		}
		if i == 0 {
			first = res.Deployment.ID
		}
	}
	_, err := deploy(id, "version 3")
	if api.ErrorCode(err) != api.CodeRateLimited {
		t.Fatalf("4th deploy within the window: %v, want rate_limited", err)
	}
	if _, body := getText(t, srv.projectURL(id, "/")); body != "version 2" {
		t.Errorf("live site after the refused deploy: %q, want version 2", body)
	}
	// The raw answers: a rollback, and the upload session a deploy starts
	// with.
	for _, call := range []struct{ path, body string }{
		{"/rollback", `{"deploymentId":"` + first + `"}`},
		{"/assets-upload-session", `{"manifest":{}}`},
	} {
		req, _ := http.NewRequest("POST", srv.url("/__api/projects/"+id+call.path), strings.NewReader(call.body))
		req.Header.Set("Authorization", "Bearer "+srv.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e api.ErrorResponse
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || json.Unmarshal(b, &e) != nil || len(e.Errors) == 0 || e.Errors[0].Code != api.CodeRateLimited {
			t.Errorf("POST %s over the limit: %d Retry-After %q %s, want 429 with Retry-After and a rate_limited error",
				call.path, resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
	}
	other := createProject(t, c, "neighbour")
	if _, err := deploy(other, "neighbour"); err != nil {
		t.Errorf("another project's deploy: %v", err)
	}
}

// deployRules deploys a one-page site with these rules to a new project.
func deployRules(t *testing.T, c *client.Client, name string, cfg api.AssetConfig) string {
	t.Helper()
	id := createProject(t, c, name)
	dir := filepath.Join(t.TempDir(), id)
	site{"/index.html": []byte("home of " + name)}.write(t, dir)
	if _, err := c.Deploy(context.Background(), client.DeployOptions{ProjectID: id, Dir: dir, Config: &cfg}); err != nil {
		t.Fatal(err)
	}
	return id
}

// maximalRuleSet is 100 redirects and 100 header blocks of ten
// placeholders each, in the shapes that cost the matcher most (as in
// hostileRules).
func maximalRuleSet() api.AssetConfig {
	var redirects, headers strings.Builder
	for i := range 100 {
		tag := "~" + string(rune('A'+i/26)) + string(rune('A'+i%26))
		rule := []string{
			"/:a:b:c:d:e:f:g:h:i:j" + tag,
			"/:a" + tag + ":b:c:d:e:f:g:h:i" + tag + ":j",
			"/:a:b:c:d:e:f:g:h:i-" + tag + ":j",
			"/:a:b:c:d:e:f:g:h:i" + strings.Repeat("-", rules.MaxRuleInnerLiteral-len(tag)) + tag + ":j",
		}[i%4]
		fmt.Fprintf(&redirects, "%s /to 302\n", rule)
		fmt.Fprintf(&headers, "%s\n  X-Rule: %d\n", rule, i)
	}
	return api.AssetConfig{Redirects: redirects.String(), Headers: headers.String()}
}

// rawStatus sends one GET with a byte-exact target and returns the status
// once the whole answer is read; safe to call from any goroutine.
func rawStatus(ctx context.Context, addr, host, target string) (int, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, host); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}
