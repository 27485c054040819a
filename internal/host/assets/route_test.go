package assets

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// TestRoute checks the router decisions
// (docs/asset-serving.md#run-worker-first) with a Worker present.
func TestRoute(t *testing.T) {
	spa := func(t *testing.T) *Site {
		site, _, _ := build(t, siteSpec{
			files:     []string{"/index.html", "/app.js"},
			notFound:  rules.SinglePageApplication,
			redirects: "/go /app.js 301\n/rw /nothing 200\n",
		})
		return site
	}
	list := func(routes ...string) rules.RunWorkerFirst {
		raw, _ := json.Marshal(routes)
		rw, err := rules.ParseRunWorkerFirst(raw)
		if err != nil {
			t.Fatal(err)
		}
		return rw
	}
	tests := []struct {
		name     string
		method   string
		target   string
		navigate bool
		opts     RouteOptions
		want     rules.Route
	}{
		{"navigation with the flag gets the SPA", "GET", "/app/route", true, RouteOptions{HasWorker: true, NavigationPrefersAssets: true}, rules.RouteAssets},
		{"no navigation header goes to the Worker", "GET", "/app/route", false, RouteOptions{HasWorker: true, NavigationPrefersAssets: true}, rules.RouteWorker},
		{"navigation without the flag goes to the Worker", "GET", "/app/route", true, RouteOptions{HasWorker: true}, rules.RouteWorker},
		{"an existing asset is served", "GET", "/app.js", false, RouteOptions{HasWorker: true}, rules.RouteAssets},
		{"POST to an existing asset stays with assets (405)", "POST", "/app.js", false, RouteOptions{HasWorker: true}, rules.RouteAssets},
		{"html redirect counts as found", "GET", "/index.html", false, RouteOptions{HasWorker: true}, rules.RouteAssets},
		{"a _redirects match counts", "GET", "/go", false, RouteOptions{HasWorker: true}, rules.RouteAssets},
		{"a 200 rewrite to nothing still counts", "GET", "/rw", false, RouteOptions{HasWorker: true}, rules.RouteAssets},
		{"assets-only always serves assets", "GET", "/app/route", false, RouteOptions{}, rules.RouteAssets},
		{"positive rule to Worker", "GET", "/api/x", false, RouteOptions{HasWorker: true, RunWorkerFirst: list("/api/*", "!/api/docs/*")}, rules.RouteWorker},
		{"positive rule beats an existing asset", "GET", "/app.js", false, RouteOptions{HasWorker: true, RunWorkerFirst: list("/*.js")}, rules.RouteWorker},
		{"/api does not match /api/*; static routing keeps the SPA", "GET", "/api", false, RouteOptions{HasWorker: true, RunWorkerFirst: list("/api/*", "!/api/docs/*")}, rules.RouteAssets},
		{"static routing keeps the SPA without navigation", "GET", "/random", false, RouteOptions{HasWorker: true, RunWorkerFirst: list("/api/*", "!/api/docs/*")}, rules.RouteAssets},
		{"negative rule sends to assets", "GET", "/api/docs/missing", false, RouteOptions{HasWorker: true, RunWorkerFirst: list("/api/*", "!/api/docs/*")}, rules.RouteAssets},
		{"run_worker_first true", "GET", "/app.js", false, RouteOptions{HasWorker: true, RunWorkerFirst: rules.RunWorkerFirst{All: true}}, rules.RouteWorker},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site := spa(t)
			r := httptest.NewRequest(tt.method, tt.target, nil)
			if tt.navigate {
				r.Header.Set("Sec-Fetch-Mode", "navigate")
			}
			if got := site.Route(r, NewRequest(r), tt.opts); got != tt.want {
				t.Errorf("Route = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestCanServe(t *testing.T) {
	site, _, _ := build(t, siteSpec{files: []string{"/index.html", "/a.js"}, notFound: rules.NotFoundPage, contents: map[string]string{"/404.html": "nf"}})
	tests := []struct {
		target       string
		keepNotFound bool
		want         bool
	}{
		{"/a.js", false, true},
		{"/index.html", false, true},
		{"/missing", false, false},
		{"/missing", true, true},
	}
	for _, tt := range tests {
		p, s := ParseTarget(tt.target)
		if got := site.CanServe(Request{Pathname: p, Search: s}, tt.keepNotFound); got != tt.want {
			t.Errorf("CanServe(%s, %v) = %v, want %v", tt.target, tt.keepNotFound, got, tt.want)
		}
	}
}
