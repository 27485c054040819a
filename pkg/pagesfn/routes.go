package pagesfn

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// SegmentKind is what one segment of a route's path matches.
type SegmentKind int

// The kinds of route segments.
const (
	// Static matches its text (letters in either case, as Cloudflare's
	// matcher does).
	Static SegmentKind = iota
	// Param ([name] in a file or directory name) matches one non-empty
	// segment.
	Param
	// Rest ([[name]] as a file name) matches zero or more segments.
	Rest
)

// Segment is one slash-separated part of a route's path.
type Segment struct {
	Kind SegmentKind
	// Text is the static text, or the parameter's name.
	Text string
}

// Methods maps the handler exports a functions file may have to the
// request method each answers ("" for every method).
var Methods = map[string]string{
	"onRequest":        "",
	"onRequestGet":     "GET",
	"onRequestPost":    "POST",
	"onRequestPut":     "PUT",
	"onRequestPatch":   "PATCH",
	"onRequestDelete":  "DELETE",
	"onRequestHead":    "HEAD",
	"onRequestOptions": "OPTIONS",
}

// Route is one handler export of one file of functions/.
type Route struct {
	// File is the file's path below functions/, slash-separated
	// ("api/[id].ts").
	File string
	// Export is the handler's export name ("onRequestGet").
	Export string
	// Method is the request method it answers; "" answers every method.
	Method string
	// Middleware is true for a _middleware file's export: it runs for its
	// directory and everything below it, outermost first.
	Middleware bool
	// Segments is the route's path.
	Segments []Segment
	// index is true for an index file, which wins over a file of the same
	// route ("foo/index.ts" over "foo.ts").
	index bool
}

// Path is the route written as Cloudflare's tools write it: "/users/:id",
// "/docs/:path*", "/" for the root.
func (r Route) Path() string {
	if len(r.Segments) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, s := range r.Segments {
		b.WriteByte('/')
		switch s.Kind {
		case Static:
			b.WriteString(s.Text)
		case Param:
			b.WriteString(":" + s.Text)
		case Rest:
			b.WriteString(":" + s.Text + "*")
		}
	}
	return b.String()
}

// sourceExts are the file types of functions/ that can hold handlers.
var sourceExts = []string{".js", ".mjs", ".ts", ".mts", ".jsx", ".tsx"}

// isSource reports whether name is a file functions/ routes.
func isSource(name string) bool {
	return slices.Contains(sourceExts, strings.ToLower(path.Ext(name)))
}

// routeOf reads the route of a file of functions/ from its path
// ("api/[id].ts"), without the export: its segments, whether it is a
// middleware file and whether it is an index file.
func routeOf(file string) (Route, error) {
	r := Route{File: file}
	parts := strings.Split(file, "/")
	base := parts[len(parts)-1]
	stem := strings.TrimSuffix(base, path.Ext(base))
	dirs := parts[:len(parts)-1]
	for _, d := range dirs {
		s, err := segmentOf(d, false)
		if err != nil {
			return r, fmt.Errorf("functions/%s: directory %q: %w", file, d, err)
		}
		r.Segments = append(r.Segments, s)
	}
	switch stem {
	case "_middleware":
		r.Middleware = true
	case "index":
		r.index = true
	default:
		s, err := segmentOf(stem, true)
		if err != nil {
			return r, fmt.Errorf("functions/%s: %w", file, err)
		}
		r.Segments = append(r.Segments, s)
	}
	return r, nil
}

// segmentOf reads one directory or file name: [name] is a parameter,
// [[name]] (files only) the rest of the path, anything else static text.
// Brackets inside a name ("post-[id]") are refused rather than guessed at.
func segmentOf(name string, file bool) (Segment, error) {
	if inner, ok := strings.CutPrefix(name, "[["); ok {
		inner, ok = strings.CutSuffix(inner, "]]")
		if !ok || !validParam(inner) {
			return Segment{}, fmt.Errorf("%q: a catch-all is [[name]] with a name of letters, digits and _", name)
		}
		if !file {
			return Segment{}, fmt.Errorf("%q: a catch-all [[name]] can only be a file name, as it takes the rest of the path", name)
		}
		return Segment{Kind: Rest, Text: inner}, nil
	}
	if inner, ok := strings.CutPrefix(name, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		if !ok || !validParam(inner) {
			return Segment{}, fmt.Errorf("%q: a parameter is [name] with a name of letters, digits and _", name)
		}
		return Segment{Kind: Param, Text: inner}, nil
	}
	if strings.ContainsAny(name, "[]") {
		return Segment{}, fmt.Errorf("%q: brackets must enclose the whole name ([id].ts, not post-[id].ts)", name)
	}
	return Segment{Kind: Static, Text: name}, nil
}

func validParam(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// compareRoutes orders handler routes the way Cloudflare picks among them,
// the first match winning: more segments first; then, segment by segment,
// static before a parameter before a catch-all; then a route for one
// method before one for every method; then by path, so the order never
// depends on the directory listing; for the same path, an index file
// before the file ("foo/index.ts" before "foo.ts", as Cloudflare
// documents).
func compareRoutes(a, b Route) int {
	if len(a.Segments) != len(b.Segments) {
		return len(b.Segments) - len(a.Segments)
	}
	for i := range a.Segments {
		if ka, kb := a.Segments[i].Kind, b.Segments[i].Kind; ka != kb {
			return int(ka) - int(kb)
		}
	}
	if (a.Method != "") != (b.Method != "") {
		if a.Method != "" {
			return -1
		}
		return 1
	}
	if c := strings.Compare(a.Path(), b.Path()); c != 0 {
		return c
	}
	if a.index != b.index {
		if a.index {
			return -1
		}
		return 1
	}
	if c := strings.Compare(a.Method, b.Method); c != 0 {
		return c
	}
	return strings.Compare(a.File, b.File)
}

// compareMiddleware orders middleware outermost first: fewer segments
// first; at one directory, the every-method export before a method's.
func compareMiddleware(a, b Route) int {
	if len(a.Segments) != len(b.Segments) {
		return len(a.Segments) - len(b.Segments)
	}
	if (a.Method != "") != (b.Method != "") {
		if a.Method == "" {
			return -1
		}
		return 1
	}
	if c := strings.Compare(a.Path(), b.Path()); c != 0 {
		return c
	}
	if c := strings.Compare(a.Method, b.Method); c != 0 {
		return c
	}
	return strings.Compare(a.File, b.File)
}

// SortRoutes puts handler routes in matching order (see compareRoutes)
// and middleware outermost first.
func SortRoutes(routes []Route) (handlers, middleware []Route) {
	for _, r := range routes {
		if r.Middleware {
			middleware = append(middleware, r)
		} else {
			handlers = append(handlers, r)
		}
	}
	slices.SortStableFunc(handlers, compareRoutes)
	slices.SortStableFunc(middleware, compareMiddleware)
	return handlers, middleware
}
