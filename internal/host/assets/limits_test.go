package assets

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// headerBytes is the size of a response's header fields as sent.
func headerBytes(r response) int {
	n := 0
	for k, vs := range r.header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// lockedBuffer is a log that many request goroutines may write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A rule repeating :splat turned a 10 KB request into megabytes of
// headers, and a 20 KB path into a 6.6 MB Location. Now a substitution
// past MaxSubstitution skips its header (the other headers stay) or its
// redirect rule (a later rule may match), and says so in the log, once.
func TestRuleSubstitutionIsBounded(t *testing.T) {
	log := &lockedBuffer{}
	site, _, _ := build(t, siteSpec{
		files:     []string{"/index.html"},
		headers:   "/*\n  X-Big: " + strings.Repeat(":splat", 300) + "\n  X-Small: <:splat>\n",
		redirects: "/r/* " + strings.Repeat("/:splat", 250) + " 302\n/:dir/* /fallback 302\n",
		log:       log,
	})
	srv := serveSite(t, site)
	long := strings.Repeat("a", 10<<10)
	for range 20 {
		r := do(t, srv, "GET", "/r/"+long)
		if n := headerBytes(r); n > 32<<10 {
			t.Fatalf("a %d-byte request got %d bytes of headers", len(long), n)
		}
		if r.status != 302 || r.header.Get("Location") != "/fallback" {
			t.Errorf("GET /r/<10 KB>: %d Location %.80q, want 302 /fallback (the long rule skipped)", r.status, r.header.Get("Location"))
		}
		if r.header.Get("X-Big") != "" || r.header.Get("X-Small") != "<r/"+long+">" {
			t.Errorf("X-Big %d bytes, X-Small %d bytes: want the first skipped, the second set", len(r.header.Get("X-Big")), len(r.header.Get("X-Small")))
		}
	}
	// A short path still gets everything.
	r := do(t, srv, "GET", "/r/x")
	if r.header.Get("Location") != strings.Repeat("/x", 250) || r.header.Get("X-Big") != strings.Repeat("r/x", 300) {
		t.Errorf("GET /r/x: Location %.40q…, X-Big %.40q…: want the rules applied", r.header.Get("Location"), r.header.Get("X-Big"))
	}
	if n := strings.Count(log.String(), "rule cut by a limit"); n != 1 {
		t.Errorf("%d warnings logged for 20 requests, want 1 (rate-limited):\n%s", n, log)
	}
}

// The header bytes all _headers rules set on one response are bounded:
// past MaxHeaderBytes, later headers are skipped.
func TestRuleHeaderBytesBudget(t *testing.T) {
	v := strings.Repeat("v", 80)
	site, _, _ := build(t, siteSpec{
		files:   []string{"/a.txt"},
		headers: "/*\n  X-A: " + v + "\n  X-B: " + v + "\n/a.txt\n  X-C: " + v + "\n  X-D: d\n",
		limits:  Limits{MaxHeaderBytes: 200},
	})
	r := do(t, serveSite(t, site), "GET", "/a.txt")
	if r.status != 200 || r.header.Get("X-A") != v || r.header.Get("X-B") != v || r.header.Get("X-C") != "" || r.header.Get("X-D") != "d" {
		t.Errorf("GET /a.txt = %s, want X-A, X-B and X-D set, X-C past the budget", r)
	}
}

// Limits default when zero.
func TestLimitsDefaults(t *testing.T) {
	got := Limits{}.withDefaults()
	if got.MaxSubstitution != DefaultMaxSubstitution || got.MaxHeaderBytes != DefaultMaxHeaderBytes {
		t.Errorf("defaults = %+v", got)
	}
}

// The 404-page fallback tried every prefix of the path, each a fresh key
// as long as the path: "/" + "a/"×30000 cost 1.5 s. It now walks down only
// directories that lead to a 404.html; the deepest one on the path wins.
func TestNotFoundPageDeepPath(t *testing.T) {
	site, _, _ := build(t, siteSpec{
		files:    []string{"/404.html", "/a/404.html", "/a/b/404.html", "/a/b/c/x.html", "/z/index.html"},
		notFound: rules.NotFoundPage,
	})
	deep := "/" + strings.Repeat("a/", 30000)
	srv := serveSite(t, site)
	for target, page := range map[string]string{
		"/nope":           "/404.html",
		"/a":              "/404.html",
		"/a/":             "/a/404.html",
		"/a/b/c/d":        "/a/b/404.html",
		"/a/b/c/d/e/f":    "/a/b/404.html",
		"/a/x/b/c":        "/a/404.html",
		"/z/q":            "/404.html",
		deep:              "/a/404.html",
		"/a/b" + deep:     "/a/b/404.html",
		"/q" + deep + "x": "/404.html",
	} {
		if r := do(t, srv, "GET", target); r.status != 404 || r.body != fileBody(page) {
			t.Errorf("GET %.30q… = %d %q, want 404 %s", target, r.status, r.body, page)
		}
	}
	// The cost does not grow with the depth: the old walk built a key per
	// level, 30,000 allocations for this path.
	allocs := testing.AllocsPerRun(5, func() { site.resolve(deep, true, rules.NotFoundPage) })
	if allocs > 20 {
		t.Errorf("resolving a 30,000-level path allocates %.0f times", allocs)
	}
}
