package assets

import (
	"strconv"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// The file sets of the HTML handling tables
// (docs/asset-serving.md#html-handling); every column also has /index.html.
// Contents differ between files, so a redirect that needs identical content
// only happens where the tables say.
var matrixColumns = []struct {
	name  string
	files []string
}{
	{"foo.html", []string{"/index.html", "/foo.html"}},
	{"foo/index.html", []string{"/index.html", "/foo/index.html"}},
	{"both", []string{"/index.html", "/foo.html", "/foo/index.html"}},
	{"foo+foo.html", []string{"/index.html", "/foo", "/foo.html"}},
}

// matrix rows: request, then the expected outcome per column:
// "200 <asset>", "307 <location>" or "404".
var matrix = map[string][][5]string{
	rules.AutoTrailingSlash: {
		{"/", "200 /index.html", "200 /index.html", "200 /index.html", "200 /index.html"},
		{"/index", "307 /", "307 /", "307 /", "307 /"},
		{"/index.html", "307 /", "307 /", "307 /", "307 /"},
		{"/foo", "200 /foo.html", "307 /foo/", "200 /foo.html", "200 /foo"},
		{"/foo/", "307 /foo", "200 /foo/index.html", "200 /foo/index.html", "404"},
		{"/foo.html", "307 /foo", "307 /foo/", "307 /foo", "200 /foo.html"},
		{"/foo/index", "307 /foo", "307 /foo/", "307 /foo/", "404"},
		{"/foo/index.html", "307 /foo", "307 /foo/", "307 /foo/", "404"},
	},
	rules.ForceTrailingSlash: {
		{"/", "200 /index.html", "200 /index.html", "200 /index.html", "200 /index.html"},
		{"/index", "307 /", "307 /", "307 /", "307 /"},
		{"/index.html", "307 /", "307 /", "307 /", "307 /"},
		{"/foo", "307 /foo/", "307 /foo/", "307 /foo/", "200 /foo"},
		{"/foo/", "200 /foo.html", "200 /foo/index.html", "200 /foo/index.html", "200 /foo.html"},
		{"/foo.html", "307 /foo/", "307 /foo/", "200 /foo.html", "307 /foo/"},
		{"/foo/index", "307 /foo/", "307 /foo/", "307 /foo/", "307 /foo/"},
		{"/foo/index.html", "307 /foo/", "307 /foo/", "307 /foo/", "307 /foo/"},
	},
	rules.DropTrailingSlash: {
		{"/", "200 /index.html", "200 /index.html", "200 /index.html", "200 /index.html"},
		{"/index", "307 /", "307 /", "307 /", "307 /"},
		{"/index.html", "307 /", "307 /", "307 /", "307 /"},
		{"/foo", "200 /foo.html", "200 /foo/index.html", "200 /foo.html", "200 /foo"},
		{"/foo/", "307 /foo", "307 /foo", "307 /foo", "404"},
		{"/foo.html", "307 /foo", "307 /foo", "307 /foo", "200 /foo.html"},
		{"/foo/index", "307 /foo", "307 /foo", "307 /foo", "404"},
		{"/foo/index.html", "307 /foo", "307 /foo", "200 /foo/index.html", "404"},
	},
	rules.HTMLHandlingNone: {
		{"/", "404", "404", "404", "404"},
		{"/index", "404", "404", "404", "404"},
		{"/index.html", "200 /index.html", "200 /index.html", "200 /index.html", "200 /index.html"},
		{"/foo", "404", "404", "404", "200 /foo"},
		{"/foo/", "404", "404", "404", "404"},
		{"/foo.html", "200 /foo.html", "404", "200 /foo.html", "200 /foo.html"},
		{"/foo/index", "404", "404", "404", "404"},
		{"/foo/index.html", "404", "200 /foo/index.html", "200 /foo/index.html", "404"},
	},
}

// outcome summarises a response the way the matrix writes it.
func outcome(r response) string {
	switch r.status {
	case 200:
		return "200 " + strings.Trim(r.body, "<>")
	case 307:
		return "307 " + r.header.Get("Location")
	}
	if r.status == 404 && r.body == "" {
		return "404"
	}
	return r.String()
}

func TestHTMLHandlingMatrix(t *testing.T) {
	for mode, rows := range matrix {
		for col, column := range matrixColumns {
			site, _, _ := build(t, siteSpec{files: column.files, html: mode})
			srv := serveSite(t, site)
			for _, row := range rows {
				t.Run(mode+"/"+column.name+row[0], func(t *testing.T) {
					want := row[col+1]
					if got := outcome(do(t, srv, "GET", row[0])); got != want {
						t.Errorf("GET %s = %s, want %s", row[0], got, want)
					}
					// The query string follows every redirect, verbatim.
					if strings.HasPrefix(want, "307 ") {
						r := do(t, srv, "GET", row[0]+"?a=1&b=%2F")
						if loc := r.header.Get("Location"); loc != want[4:]+"?a=1&b=%2F" {
							t.Errorf("GET %s?… Location = %q, want the query kept", row[0], loc)
						}
					}
				})
			}
		}
	}
}

func TestHTMLHandlingDetails(t *testing.T) {
	tests := []struct {
		name     string
		html     string
		notFound string
		files    []string
		contents map[string]string
		target   string
		want     string
	}{
		{name: "auto serves an extensionless index file as is", files: []string{"/raw/index"}, target: "/raw/index", want: "200 /raw/index"},
		{name: "force with identical both.html and both/index.html redirects", html: rules.ForceTrailingSlash,
			contents: map[string]string{"/both.html": "same", "/both/index.html": "same"}, target: "/both.html", want: "307 /both/"},
		{name: "auto redirect goes to the SPA fallback only with the same content", notFound: rules.SinglePageApplication,
			contents: map[string]string{"/index.html": "app", "/page.html": "app"}, target: "/page.html", want: "307 /page"},
		{name: "drop serves nested index at its own path when both exist", html: rules.DropTrailingSlash,
			files: []string{"/foo.html", "/foo/index.html"}, target: "/foo/index.html", want: "200 /foo/index.html"},
		{name: "drop /index without index.html falls through", html: rules.DropTrailingSlash, files: []string{"/a.html"}, target: "/index", want: "404"},
		{name: "auto 404 page is an ordinary asset at /404", notFound: rules.NotFoundPage, files: []string{"/404.html"}, target: "/404", want: "200 /404.html"},
		{name: "auto 404 page path redirects", notFound: rules.NotFoundPage, files: []string{"/404.html"}, target: "/404.html", want: "307 /404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site, _, _ := build(t, siteSpec{files: tt.files, contents: tt.contents, html: tt.html, notFound: tt.notFound})
			srv := serveSite(t, site)
			r := do(t, srv, "GET", tt.target)
			got := outcome(r)
			if tt.contents != nil && r.status == 200 {
				got = "200 " + r.body
			}
			if got != tt.want {
				t.Errorf("GET %s = %s, want %s", tt.target, got, tt.want)
			}
		})
	}
}

func TestNotFoundHandling(t *testing.T) {
	files := []string{"/index.html", "/404.html", "/a/404.html", "/a/b/404.html", "/x.js"}
	tests := []struct {
		notFound string
		files    []string
		method   string
		target   string
		want     string // "<status> <body>" or "307 <location>"
	}{
		{rules.SinglePageApplication, files, "GET", "/app/route", "200 </index.html>"},
		{rules.SinglePageApplication, files, "GET", "/missing.png", "200 </index.html>"},
		{rules.SinglePageApplication, files, "POST", "/app/route", "405 "},
		{rules.SinglePageApplication, []string{"/x.js"}, "GET", "/app/route", "404 "},
		{rules.SinglePageApplication, files, "GET", "/route[1]", "307 /route%5B1%5D"},
		{rules.SinglePageApplication, files, "GET", "/route%5B1%5D", "200 </index.html>"},
		{rules.SinglePageApplication, files, "GET", "/x//y", "307 /x/y"},
		{rules.NotFoundPage, files, "GET", "/a/b/c", "404 </a/b/404.html>"},
		{rules.NotFoundPage, files, "GET", "/a/b/", "404 </a/b/404.html>"},
		{rules.NotFoundPage, files, "GET", "/a/c", "404 </a/404.html>"},
		{rules.NotFoundPage, files, "GET", "/blog", "404 </404.html>"},
		{rules.NotFoundPage, files, "GET", "/z/y/x", "404 </404.html>"},
		{rules.NotFoundPage, []string{"/a/404.html"}, "GET", "/b/c", "404 "},
		{rules.NotFoundPage, files, "HEAD", "/a/c", "404 "},
		{rules.NotFoundPage, files, "DELETE", "/a/c", "405 "},
		{rules.NotFoundNone, files, "GET", "/nothing", "404 "},
		{rules.NotFoundNone, files, "POST", "/nothing", "404 "},
	}
	for _, tt := range tests {
		t.Run(tt.notFound+" "+tt.method+" "+tt.target, func(t *testing.T) {
			site, _, _ := build(t, siteSpec{files: tt.files, notFound: tt.notFound})
			r := do(t, serveSite(t, site), tt.method, tt.target)
			got := r.body
			if r.status == 307 {
				got = r.header.Get("Location")
			}
			if got := strings.TrimSpace(strconv.Itoa(r.status) + " " + got); got != strings.TrimSpace(tt.want) {
				t.Errorf("%s %s = %s, want %s", tt.method, tt.target, got, tt.want)
			}
			if r.status == 405 && r.header.Get("Allow") != "" {
				t.Errorf("405 carries Allow: %q", r.header.Get("Allow"))
			}
		})
	}
}
