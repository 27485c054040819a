package assets

import (
	"strings"

	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// intentKind is what html_handling and not_found_handling decided.
type intentKind uint8

const (
	intentNone     intentKind = iota // nothing: a 404
	intentServe                      // serve asset at the current URL
	intentRedirect                   // 307 to the decoded path in to
)

// intent is the outcome of resolving a decoded path: HTML handling, then
// not-found handling (docs/asset-serving.md#html-handling).
type intent struct {
	kind   intentKind
	asset  *asset
	status int    // 200, or 404 for a 404-page fallback
	to     string // decoded redirect target
}

func serve(a *asset) intent { return intent{kind: intentServe, asset: a, status: 200} }

// lookup is E(p): the asset at path p, or nil. A key with a "." or ".."
// segment is refused before the table is consulted; no asset has one.
func (s *Site) lookup(p string) *asset {
	if !isSafeKey(p) {
		return nil
	}
	return s.assets[p]
}

// lookup2 is E(a+b) without allocating for paths of ordinary length.
func (s *Site) lookup2(a, b string) *asset {
	var buf [256]byte
	k := append(append(buf[:0], a...), b...)
	if !isSafeKey(k) {
		return nil
	}
	return s.assets[string(k)]
}

// resolve runs html_handling on the decoded path p, then not_found
// handling nf. try enables try-redirects; the inner resolution of a
// try-redirect runs with it off.
func (s *Site) resolve(p string, try bool, nf string) intent {
	var in intent
	switch s.html {
	case rules.AutoTrailingSlash:
		in = s.resolveAuto(p, try, nf)
	case rules.ForceTrailingSlash:
		in = s.resolveForce(p, try, nf)
	case rules.DropTrailingSlash:
		in = s.resolveDrop(p, try, nf)
	default:
		if a := s.lookup(p); a != nil {
			in = serve(a)
		}
	}
	if in.kind != intentNone {
		return in
	}
	return s.notFoundFallback(p, nf)
}

// tryRedirect is the conditional redirect of HTML handling
// (docs/asset-serving.md#html-handling): redirect to "to" when no asset sits
// at "to" itself and resolving "to" (without try-redirects) serves content
// identical to file's.
func (s *Site) tryRedirect(file *asset, to string, try bool, nf string) (intent, bool) {
	if !try || file == nil || s.lookup(to) != nil {
		return intent{}, false
	}
	in := s.resolve(to, false, nf)
	if in.kind == intentServe && in.asset.hash == file.hash {
		return intent{kind: intentRedirect, to: to}, true
	}
	return intent{}, false
}

func (s *Site) resolveAuto(p string, try bool, nf string) intent {
	exact := s.lookup(p)
	switch {
	case strings.HasSuffix(p, "/index"):
		if exact != nil {
			return serve(exact)
		}
		if in, ok := s.tryRedirect(s.lookup2(p, ".html"), p[:len(p)-len("index")], try, nf); ok {
			return in
		}
		base := p[:len(p)-len("/index")]
		if in, ok := s.tryRedirect(s.lookup2(base, ".html"), base, try, nf); ok {
			return in
		}
	case strings.HasSuffix(p, "/index.html"):
		if in, ok := s.tryRedirect(exact, p[:len(p)-len("index.html")], try, nf); ok {
			return in
		}
		base := p[:len(p)-len("/index.html")]
		if in, ok := s.tryRedirect(s.lookup2(base, ".html"), base, try, nf); ok {
			return in
		}
	case strings.HasSuffix(p, "/"):
		if a := s.lookup2(p, "index.html"); a != nil {
			return serve(a)
		}
		base := p[:len(p)-1]
		if in, ok := s.tryRedirect(s.lookup2(base, ".html"), base, try, nf); ok {
			return in
		}
	case strings.HasSuffix(p, ".html"):
		base := p[:len(p)-len(".html")]
		if in, ok := s.tryRedirect(exact, base, try, nf); ok {
			return in
		}
		if in, ok := s.tryRedirect(s.lookup2(base, "/index.html"), base+"/", try, nf); ok {
			return in
		}
	}
	if exact != nil {
		return serve(exact)
	}
	if a := s.lookup2(p, ".html"); a != nil {
		return serve(a)
	}
	if in, ok := s.tryRedirect(s.lookup2(p, "/index.html"), p+"/", try, nf); ok {
		return in
	}
	return intent{}
}

func (s *Site) resolveForce(p string, try bool, nf string) intent {
	exact := s.lookup(p)
	switch {
	case strings.HasSuffix(p, "/index"):
		if exact != nil {
			return serve(exact)
		}
		dir := p[:len(p)-len("index")]
		if in, ok := s.tryRedirect(s.lookup2(p, ".html"), dir, try, nf); ok {
			return in
		}
		if in, ok := s.tryRedirect(s.lookup2(p[:len(p)-len("/index")], ".html"), dir, try, nf); ok {
			return in
		}
	case strings.HasSuffix(p, "/index.html"):
		dir := p[:len(p)-len("index.html")]
		if in, ok := s.tryRedirect(exact, dir, try, nf); ok {
			return in
		}
		if in, ok := s.tryRedirect(s.lookup2(p[:len(p)-len("/index.html")], ".html"), dir, try, nf); ok {
			return in
		}
	case strings.HasSuffix(p, "/"):
		if a := s.lookup2(p, "index.html"); a != nil {
			return serve(a)
		}
		if a := s.lookup2(p[:len(p)-1], ".html"); a != nil {
			return serve(a)
		}
	case strings.HasSuffix(p, ".html"):
		base := p[:len(p)-len(".html")]
		if in, ok := s.tryRedirect(exact, base+"/", try, nf); ok {
			return in
		}
		if exact != nil {
			return serve(exact)
		}
		if in, ok := s.tryRedirect(s.lookup2(base, "/index.html"), base+"/", try, nf); ok {
			return in
		}
	}
	if exact != nil {
		return serve(exact)
	}
	if in, ok := s.tryRedirect(s.lookup2(p, ".html"), p+"/", try, nf); ok {
		return in
	}
	if in, ok := s.tryRedirect(s.lookup2(p, "/index.html"), p+"/", try, nf); ok {
		return in
	}
	return intent{}
}

func (s *Site) resolveDrop(p string, try bool, nf string) intent {
	exact := s.lookup(p)
	switch {
	case strings.HasSuffix(p, "/index"):
		if exact != nil {
			return serve(exact)
		}
		if p == "/index" {
			if in, ok := s.tryRedirect(s.lookup("/index.html"), "/", try, nf); ok {
				return in
			}
			break
		}
		base := p[:len(p)-len("/index")]
		if in, ok := s.tryRedirect(s.lookup2(base, ".html"), base, try, nf); ok {
			return in
		}
		if in, ok := s.tryRedirect(s.lookup2(p, ".html"), base, try, nf); ok {
			return in
		}
	case strings.HasSuffix(p, "/index.html"):
		if p == "/index.html" {
			if in, ok := s.tryRedirect(exact, "/", try, nf); ok {
				return in
			}
			break
		}
		base := p[:len(p)-len("/index.html")]
		if in, ok := s.tryRedirect(exact, base, try, nf); ok {
			return in
		}
		if exact != nil {
			return serve(exact)
		}
		if in, ok := s.tryRedirect(s.lookup2(base, ".html"), base, try, nf); ok {
			return in
		}
	case strings.HasSuffix(p, "/"):
		if p == "/" {
			if a := s.lookup("/index.html"); a != nil {
				return serve(a)
			}
			break
		}
		base := p[:len(p)-1]
		if in, ok := s.tryRedirect(s.lookup2(base, ".html"), base, try, nf); ok {
			return in
		}
		if in, ok := s.tryRedirect(s.lookup2(base, "/index.html"), base, try, nf); ok {
			return in
		}
	case strings.HasSuffix(p, ".html"):
		base := p[:len(p)-len(".html")]
		if in, ok := s.tryRedirect(exact, base, try, nf); ok {
			return in
		}
		if in, ok := s.tryRedirect(s.lookup2(base, "/index.html"), base, try, nf); ok {
			return in
		}
	}
	if exact != nil {
		return serve(exact)
	}
	if a := s.lookup2(p, ".html"); a != nil {
		return serve(a)
	}
	if a := s.lookup2(p, "/index.html"); a != nil {
		return serve(a)
	}
	return intent{}
}

// notFoundFallback is not_found_handling
// (docs/asset-serving.md#not-found-handling).
func (s *Site) notFoundFallback(p string, nf string) intent {
	switch nf {
	case rules.SinglePageApplication:
		if a := s.lookup("/index.html"); a != nil {
			return serve(a)
		}
	case rules.NotFoundPage:
		if a := s.notFoundPages.deepest(p); a != nil {
			return intent{kind: intentServe, asset: a, status: 404}
		}
	}
	return intent{}
}

// dirNode is a directory on the way to a 404.html: the 404-page fallback
// walks these down along the request path instead of trying every prefix
// of the path, so its cost is bounded by the deployment's own directories,
// not by how deep a request path goes.
type dirNode struct {
	sub  map[string]*dirNode // by segment name
	page *asset              // this directory's 404.html
}

// add records the 404.html of dir ("" for the root, else "/a/b") and
// returns the root, created when n is nil.
func (n *dirNode) add(dir string, page *asset) *dirNode {
	root := n
	if root == nil {
		root = &dirNode{}
	}
	n = root
	for rest := dir; rest != ""; {
		var seg string
		seg, rest, _ = strings.Cut(rest[1:], "/")
		if rest != "" {
			rest = "/" + rest
		}
		next := n.sub[seg]
		if next == nil {
			if n.sub == nil {
				n.sub = map[string]*dirNode{}
			}
			next = &dirNode{}
			n.sub[seg] = next
		}
		n = next
	}
	n.page = page
	return root
}

// deepest is the 404-page fallback
// (docs/asset-serving.md#not-found-handling): cut p at its last "/", again
// and again, and serve the first <dir>/404.html found. Those dirs are the
// prefixes of p that end before one of its "/" (and "" for the root), so the
// deepest 404.html on the way down p is the one to serve.
func (n *dirNode) deepest(p string) *asset {
	if n == nil || p == "" {
		return nil
	}
	best := n.page
	if p[0] != '/' {
		return best // no cut of p but "" can name an asset directory
	}
	rest := p[1:]
	for {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return best
		}
		if n = n.sub[rest[:i]]; n == nil {
			return best
		}
		if n.page != nil {
			best = n.page
		}
		rest = rest[i+1:]
	}
}
