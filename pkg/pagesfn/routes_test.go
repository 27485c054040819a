package pagesfn

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

func mustRoute(t *testing.T, file, export string) Route {
	t.Helper()
	r, err := routeOf(file)
	if err != nil {
		t.Fatal(err)
	}
	r.Export, r.Method = export, Methods[export]
	return r
}

func TestRouteOf(t *testing.T) {
	for _, tc := range []struct {
		file, path string
		middleware bool
	}{
		{"index.ts", "/", false},
		{"api/hello.ts", "/api/hello", false},
		{"api/index.js", "/api", false},
		{"users/[id].ts", "/users/:id", false},
		{"users/[id]/posts.ts", "/users/:id/posts", false},
		{"docs/[[path]].js", "/docs/:path*", false},
		{"[[all]].ts", "/:all*", false},
		{"_middleware.ts", "/", true},
		{"api/_middleware.js", "/api", true},
		{"Shop/Cart.tsx", "/Shop/Cart", false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r, err := routeOf(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if r.Path() != tc.path || r.Middleware != tc.middleware {
				t.Fatalf("%s: path %s middleware %v, want %s %v", tc.file, r.Path(), r.Middleware, tc.path, tc.middleware)
			}
		})
	}
	for _, tc := range []struct{ file, want string }{
		{"blog/post-[id].ts", "brackets must enclose the whole name"},
		{"[[rest]]/x.ts", "can only be a file name"},
		{"[a-b].ts", "a parameter is [name]"},
		{"[[]].ts", "a catch-all is [[name]]"},
		{"[id.ts", "a parameter is [name]"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := routeOf(tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "functions/"+tc.file) {
				t.Fatalf("%s: error %v, want one naming the file and saying %q", tc.file, err, tc.want)
			}
		})
	}
}

// TestRouteOrder: handler routes are tried more segments first, then static
// before [param] before [[rest]] segment by segment, then a method's export
// before onRequest, then index files first; middleware runs outermost first.
func TestRouteOrder(t *testing.T) {
	in := [][2]string{
		{"[[all]].ts", "onRequest"},
		{"date.ts", "onRequest"},
		{"users/[[catchall]].ts", "onRequest"},
		{"users/[user].ts", "onRequest"},
		{"users/special.ts", "onRequest"},
		{"users/[user].ts", "onRequestPost"},
		{"users/[user]/posts.ts", "onRequest"},
		{"users/special/[id].ts", "onRequest"},
		{"foo.ts", "onRequest"},
		{"foo/index.ts", "onRequest"},
		{"index.ts", "onRequest"},
		{"api/_middleware.ts", "onRequest"},
		{"_middleware.ts", "onRequestGet"},
		{"_middleware.ts", "onRequest"},
		{"api/v1/_middleware.ts", "onRequest"},
	}
	var routes []Route
	// Every input order gives the same result.
	for _, perm := range [][]int{{}, {1}} {
		routes = routes[:0]
		for i := range in {
			j := i
			if len(perm) > 0 {
				j = len(in) - 1 - i
			}
			routes = append(routes, mustRoute(t, in[j][0], in[j][1]))
		}
		handlers, middleware := SortRoutes(routes)
		var got []string
		for _, r := range handlers {
			got = append(got, r.File+" "+r.Export)
		}
		want := []string{
			"users/special/[id].ts onRequest",
			"users/[user]/posts.ts onRequest",
			"users/special.ts onRequest",
			"users/[user].ts onRequestPost",
			"users/[user].ts onRequest",
			"users/[[catchall]].ts onRequest",
			"date.ts onRequest",
			"foo/index.ts onRequest",
			"foo.ts onRequest",
			"[[all]].ts onRequest",
			"index.ts onRequest",
		}
		if !slices.Equal(got, want) {
			t.Errorf("handlers:\n got %q\nwant %q", got, want)
		}
		got = got[:0]
		for _, r := range middleware {
			got = append(got, r.File+" "+r.Export)
		}
		want = []string{"_middleware.ts onRequest", "_middleware.ts onRequestGet", "api/_middleware.ts onRequest", "api/v1/_middleware.ts onRequest"}
		if !slices.Equal(got, want) {
			t.Errorf("middleware:\n got %q\nwant %q", got, want)
		}
	}
}

func TestParseRoutesJSON(t *testing.T) {
	long := "/" + strings.Repeat("a", 100)
	many := make([]string, 101)
	for i := range many {
		many[i] = "/p" + strings.Repeat("x", i)
	}
	manyJSON, _ := json.Marshal(many)
	for _, tc := range []struct {
		name, text, want string // want "" means valid
	}{
		{"minimal", `{"version":1,"include":["/*"]}`, ""},
		{"full", `{"version":1,"description":"x","include":["/api/*","/login"],"exclude":["/api/docs/*"]}`, ""},
		{"redundant rules are allowed", `{"version":1,"include":["/api/*","/api/x"],"exclude":[]}`, ""},
		{"wrong version", `{"version":2,"include":["/*"]}`, "version must be 1, not 2"},
		{"no version", `{"include":["/*"]}`, "version must be 1, not 0"},
		{"empty include", `{"version":1,"include":[],"exclude":["/x"]}`, `"include" must have at least one rule`},
		{"no slash", `{"version":1,"include":["api/*"]}`, `include rule "api/*" must begin with '/'`},
		{"exclude no slash", `{"version":1,"include":["/*"],"exclude":["*.css"]}`, `exclude rule "*.css" must begin with '/'`},
		{"too long", `{"version":1,"include":["` + long + `"]}`, "longer than 100 characters"},
		{"too many", `{"version":1,"include":` + string(manyJSON) + `}`, "101 rules in all, more than the limit of 100"},
		{"duplicate", `{"version":1,"include":["/a","/a"]}`, `include rule "/a" is listed twice`},
		{"unknown key", `{"version":1,"include":["/*"],"includes":["/x"]}`, `unknown field "includes"`},
		{"not an object", `["/*"]`, "not a valid _routes.json object"},
		{"include not a list", `{"version":1,"include":"/*"}`, "not a valid _routes.json object"},
		{"trailing text", `{"version":1,"include":["/*"]} {}`, "text after the object"},
		{"several problems at once", `{"version":3,"include":["x"]}`, "version must be 1, not 3; include rule \"x\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rj, err := ParseRoutesJSON([]byte(tc.text))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				// What it maps to is a run_worker_first the host accepts.
				if _, err := rules.ParseRunWorkerFirst(rj.RunWorkerFirst()); err != nil {
					t.Fatalf("run_worker_first %s: %v", rj.RunWorkerFirst(), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRoutesRunWorkerFirst(t *testing.T) {
	rj, err := ParseRoutesJSON([]byte(`{"version":1,"include":["/api/*","/api/hello","/login","/api/*"],"exclude":["/api/docs/*","/api/docs/x"]}`))
	if err == nil {
		t.Fatal("a duplicate include rule was accepted")
	}
	rj, err = ParseRoutesJSON([]byte(`{"version":1,"include":["/api/*","/api/hello","/login"],"exclude":["/api/docs/*","/api/docs/x"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(rj.RunWorkerFirst()), `["/api/*","/login","!/api/docs/*"]`; got != want {
		t.Fatalf("run_worker_first %s, want %s", got, want)
	}
	rwf, err := rules.ParseRunWorkerFirst(rj.RunWorkerFirst())
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]rules.Route{
		"/api/hello":    rules.RouteWorker,
		"/api/docs/x":   rules.RouteAssets,
		"/login":        rules.RouteWorker,
		"/login/":       rules.RouteUndecided,
		"/about":        rules.RouteUndecided,
		"/api":          rules.RouteUndecided,
		"/api/docs":     rules.RouteWorker,
		"/api/docs/a/b": rules.RouteAssets,
	} {
		if got := rwf.Match(path); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
}

func TestGenerateRoutesJSON(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files [][2]string
		want  []string
	}{
		{"static routes", [][2]string{{"api/hello.ts", "onRequest"}, {"index.ts", "onRequestGet"}}, []string{"/api/hello", "/"}},
		{"params become wildcards", [][2]string{{"users/[id].ts", "onRequest"}, {"users/[id]/posts.ts", "onRequest"}, {"users/me.ts", "onRequest"}}, []string{"/users/*"}},
		{"catch-all", [][2]string{{"docs/[[path]].ts", "onRequest"}, {"about.ts", "onRequest"}}, []string{"/docs/*", "/about"}},
		{"middleware covers its directory", [][2]string{{"api/_middleware.ts", "onRequest"}, {"api/x.ts", "onRequest"}, {"about.ts", "onRequest"}}, []string{"/about", "/api/*"}},
		{"root middleware covers everything", [][2]string{{"_middleware.ts", "onRequest"}, {"api/x.ts", "onRequest"}}, []string{"/*"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rs []Route
			for _, f := range tc.files {
				rs = append(rs, mustRoute(t, f[0], f[1]))
			}
			rj := GenerateRoutesJSON(rs)
			if !slices.Equal(rj.Include, tc.want) || len(rj.Exclude) != 0 || rj.Version != 1 {
				t.Fatalf("include %q exclude %q, want include %q", rj.Include, rj.Exclude, tc.want)
			}
			if _, err := rules.ParseRunWorkerFirst(rj.RunWorkerFirst()); err != nil {
				t.Fatal(err)
			}
		})
	}
	var rs []Route
	for i := range 101 {
		rs = append(rs, mustRoute(t, "p"+strings.Repeat("x", i)+".ts", "onRequest"))
	}
	if rj := GenerateRoutesJSON(rs); !slices.Equal(rj.Include, []string{"/*"}) {
		t.Fatalf("101 routes: include %q, want [/*]", rj.Include)
	}
}
