package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// versionedSite is build v of a site whose page names the exact versions of
// the script and stylesheet it needs (fingerprinted file names, as bundlers
// emit them). Like most build pipelines it keeps the two previous builds'
// assets, so a page loaded just before a deploy still finds its own.
// Every response carries X-Site-Version from _headers, so the test also
// sees which deployment answered.
func versionedSite(v int) (site, *api.AssetConfig) {
	st := site{
		"/index.html": fmt.Appendf(nil, `<!doctype html>
<html><head><meta charset="utf-8"><meta name="version" content="%d">
<link rel="stylesheet" href="/assets/style.%d.css">
<script type="module" src="/assets/app.%d.js"></script>
<title>build %d</title></head>
<body><h1>Build %d</h1>%s</body></html>
`, v, v, v, v, v, strings.Repeat("<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>\n", 40)),
	}
	for k := max(1, v-2); k <= v; k++ {
		st[fmt.Sprintf("/assets/app.%d.js", k)] = fmt.Appendf(nil, "// version %d\nexport const version = %d;\n%s", k, k, strings.Repeat("console.debug('padding');\n", 60))
		st[fmt.Sprintf("/assets/style.%d.css", k)] = fmt.Appendf(nil, "/* version %d */\nbody { --build: %d; }\n%s", k, k, strings.Repeat(".x { color: red; }\n", 60))
	}
	return st, &api.AssetConfig{Headers: fmt.Sprintf("/*\n  X-Site-Version: %d\n", v)}
}

// previewVersion and above are the versions of previews, which the live
// site must never serve.
const previewVersion = 100000

var (
	pageVersionRE  = regexp.MustCompile(`<meta name="version" content="(\d+)">`)
	pageAssetRE    = regexp.MustCompile(`(?:src|href)="(/assets/[a-z]+\.(\d+)\.(?:js|css))"`)
	assetVersionRE = regexp.MustCompile(`^(?://|/\*) version (\d+)`)
)

// loadStats collects what the load generator saw.
type loadStats struct {
	requests, pageLoads, status5xx, errors, mixed atomic.Int64
	mu                                            sync.Mutex
	latencies                                     []time.Duration
	problems                                      []string
}

func (s *loadStats) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.problems) < 20 {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

// TestAtomicDeploysUnderLoad runs page loads on 64 connections for 30 s
// against a project while it is redeployed 20 times. A page load fetches the
// page and then the script and stylesheet it names, as a browser does. It
// must never see a 5xx, a response whose body and headers come from
// different deployments, an asset of another version than the page named,
// or an answer from an older deployment than one already seen (the
// deployment pointer only moves forward). No request may be slow; the bound
// asserted is generous (CFHOST_E2E_MAX_LATENCY_MS, default 3000) because
// the machine is shared with the rest of the test suite, and the measured
// figures are logged. CFHOST_SOAK=1 runs 5 minutes and 200 deploys.
func TestAtomicDeploysUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("30 s of load against the real binary")
	}
	duration, deploys, conns := 30*time.Second, 20, 64
	if soak() {
		duration, deploys = 5*time.Minute, 200
	}
	limit := time.Duration(envInt("CFHOST_E2E_MAX_LATENCY_MS", 3000)) * time.Millisecond

	srv := startServer(t, "", "--access-log=false", "--log-level", "warn")
	c := srv.client(t, client.Options{})
	ctx := context.Background()
	id := createProject(t, c, "under-load")
	dir := filepath.Join(t.TempDir(), "site")
	deployVersion := func(v int) (time.Duration, error) {
		st, cfg := versionedSite(v)
		st.write(t, dir)
		start := time.Now()
		_, err := c.Deploy(ctx, client.DeployOptions{ProjectID: id, Dir: dir, Config: cfg})
		return time.Since(start), err
	}
	// Between production deploys, previews of other content (versions from
	// previewVersion on) are deployed to the same project: production
	// readers must never see them, and each must serve at its own URL.
	previewDir := filepath.Join(t.TempDir(), "preview")
	deployPreview := func(v int) error {
		st, cfg := versionedSite(v)
		st.write(t, previewDir)
		res, err := c.Deploy(ctx, client.DeployOptions{ProjectID: id, Dir: previewDir, Config: cfg, Preview: true, Branch: "load-preview"})
		if err != nil {
			return err
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.url("/"), nil)
		req.Host = res.Deployment.ShortID + "--" + id + ".localhost"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if m := pageVersionRE.FindSubmatch(body); m == nil || string(m[1]) != strconv.Itoa(v) {
			return fmt.Errorf("preview %d answers %d %.80q", v, resp.StatusCode, body)
		}
		return nil
	}
	if _, err := deployVersion(1); err != nil {
		t.Fatal(err)
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = conns, conns
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	hostHeader := id + ".localhost:" + srv.addr[strings.LastIndexByte(srv.addr, ':')+1:]

	var stats loadStats
	var deploying atomic.Bool
	deploying.Store(true)
	start := time.Now()
	stopAt := start.Add(duration)
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Half the connections address the project by subdomain, half
			// by path, as the two routing modes must agree.
			base, hdr := srv.url(""), map[string]string{"Host": hostHeader}
			if w%2 == 1 {
				base, hdr = srv.projectURL(id, ""), nil
			}
			lat := make([]time.Duration, 0, 4096)
			seen := 0 // newest deployment this connection has seen
			for time.Now().Before(stopAt) || deploying.Load() {
				seen = pageLoad(ctx, hc, base, hdr, seen, &stats, &lat)
				if seen >= previewVersion {
					stats.problem("the live site served preview content (version %d)", seen)
					seen = 0
				}
			}
			stats.mu.Lock()
			stats.latencies = append(stats.latencies, lat...)
			stats.mu.Unlock()
		}()
	}

	var deployTimes []time.Duration
	var deployErr error
	for v := 2; v <= deploys+1; v++ {
		// Spread the deploys over the run.
		time.Sleep(time.Until(start.Add(time.Duration(v-1) * duration * 9 / 10 / time.Duration(deploys))))
		d, err := deployVersion(v)
		if err != nil {
			deployErr = fmt.Errorf("deploy %d: %w", v, err)
			break
		}
		deployTimes = append(deployTimes, d)
		if err := deployPreview(previewVersion + v); err != nil {
			deployErr = fmt.Errorf("preview %d: %w", v, err)
			break
		}
	}
	deploying.Store(false)
	wg.Wait()
	elapsed := time.Since(start)
	if deployErr != nil {
		t.Fatal(deployErr)
	}

	slices.Sort(stats.latencies)
	lat := stats.latencies
	if len(lat) == 0 {
		t.Fatal("no request completed")
	}
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	slices.Sort(deployTimes)
	t.Logf("%d connections for %s: %d requests (%.0f/s) in %d page loads, %d redeploys (median %s, slowest %s)",
		conns, elapsed.Round(time.Millisecond), stats.requests.Load(), float64(stats.requests.Load())/elapsed.Seconds(),
		stats.pageLoads.Load(), len(deployTimes), deployTimes[len(deployTimes)/2].Round(time.Millisecond), deployTimes[len(deployTimes)-1].Round(time.Millisecond))
	t.Logf("latency p50 %s, p99 %s, p99.9 %s, max %s; 5xx %d, transport errors %d, mixed page loads %d",
		pct(0.5), pct(0.99), pct(0.999), lat[len(lat)-1], stats.status5xx.Load(), stats.errors.Load(), stats.mixed.Load())
	for _, p := range stats.problems {
		t.Error(p)
	}
	if n := stats.status5xx.Load(); n > 0 {
		t.Errorf("%d responses were 5xx", n)
	}
	if n := stats.errors.Load(); n > 0 {
		t.Errorf("%d requests failed at the transport", n)
	}
	if n := stats.mixed.Load(); n > 0 {
		t.Errorf("%d page loads mixed versions", n)
	}
	if slowest := lat[len(lat)-1]; slowest > limit {
		t.Errorf("slowest request took %s; the bound is %s", slowest, limit)
	} else if slowest > time.Second {
		t.Logf("note: slowest request %s is over the 1 s target (under the %s bound for a shared machine)", slowest, limit)
	}
	if os.Getenv("CFHOST_E2E_RACE") != "1" && stats.requests.Load() < int64(duration.Seconds())*100 {
		t.Errorf("only %d requests in %s: the load generator did not load", stats.requests.Load(), duration)
	}
}

// pageLoad fetches the page, then every asset it names, checking versions.
// It returns the newest deployment version seen.
func pageLoad(ctx context.Context, hc *http.Client, base string, hdr map[string]string, seen int, stats *loadStats, lat *[]time.Duration) int {
	get := func(path string) (*http.Response, []byte, int, bool) {
		t0 := time.Now()
		resp, body, err := fetch(ctx, hc, base+path, hdr)
		*lat = append(*lat, time.Since(t0))
		stats.requests.Add(1)
		if err != nil {
			stats.errors.Add(1)
			stats.problem("GET %s: %v", path, err)
			return nil, nil, 0, false
		}
		if resp.StatusCode >= 500 {
			stats.status5xx.Add(1)
			stats.problem("GET %s: %s", path, resp.Status)
			return nil, nil, 0, false
		}
		dv, err := strconv.Atoi(resp.Header.Get("X-Site-Version"))
		if resp.StatusCode != http.StatusOK || err != nil {
			stats.mixed.Add(1)
			stats.problem("GET %s: %s, X-Site-Version %q", path, resp.Status, resp.Header.Get("X-Site-Version"))
			return nil, nil, 0, false
		}
		if dv < seen {
			stats.mixed.Add(1)
			stats.problem("GET %s answered by deployment %d after %d was seen", path, dv, seen)
			return nil, nil, 0, false
		}
		seen = dv
		return resp, body, dv, true
	}
	stats.pageLoads.Add(1)
	_, page, dv, ok := get("/")
	if !ok {
		return seen
	}
	m := pageVersionRE.FindSubmatch(page)
	if m == nil || string(m[1]) != strconv.Itoa(dv) {
		stats.mixed.Add(1)
		stats.problem("page of build %q came with the headers of deployment %d", m, dv)
		return seen
	}
	version := dv
	for _, a := range pageAssetRE.FindAllSubmatch(page, -1) {
		path, named := string(a[1]), string(a[2])
		if named != strconv.Itoa(version) {
			stats.mixed.Add(1)
			stats.problem("page %d names %s", version, path)
			return seen
		}
		_, body, _, ok := get(path)
		if !ok {
			return seen
		}
		am := assetVersionRE.FindSubmatch(body)
		if am == nil || string(am[1]) != named {
			stats.mixed.Add(1)
			stats.problem("page %d: %s is of version %q", version, path, am)
			return seen
		}
	}
	return seen
}
