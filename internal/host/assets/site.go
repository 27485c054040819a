// Package assets serves a deployment's static files with the semantics of
// Cloudflare's asset worker (docs/asset-serving.md): _redirects, WHATWG path
// handling, html_handling, not_found_handling, canonical 307s, ETags and
// 304s, and _headers, plus Range requests and precompressed variants.
//
// The host compiles each deployment once (Compile) into a Site, keeps the
// active Sites in memory and calls Site.Serve per request. The package knows
// nothing about SQL or project routing: blob bytes come through a
// BlobSource, behind a shared in-memory Cache.
package assets

import (
	"fmt"
	"log/slog"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/cfdeploy/cfdeploy/pkg/manifest"
	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// Asset is one file of a deployment.
type Asset struct {
	// Hash is the SHA-256 of the file, 64 lowercase hex characters. Its
	// first 32 characters are the ETag.
	Hash string
	// Size is the file's length in bytes.
	Size int64
	// ContentType is sent as is; "" sends no Content-Type at all, as
	// Cloudflare does for unknown extensions. Use manifest.ContentType.
	ContentType string
}

// Deployment is everything the pipeline needs of one deployment.
type Deployment struct {
	ID string
	// Assets maps asset paths ("/index.html") to assets. Paths are
	// byte-exact and must satisfy manifest.ValidatePath.
	Assets map[string]Asset
	// Files are more assets, listed with their paths: a caller that holds
	// a deployment's assets as rows passes them without building a map.
	// A path must not be both in Assets and Files, nor twice in Files.
	Files []File
	// Yield, when set, is called between chunks of assets while the path
	// table is built, so that the caller can pace the work; an error from
	// it ends Compile with that error.
	Yield func() error
	// Config is the html_handling and not_found_handling; empty fields take
	// their defaults.
	Config rules.Config
	// Redirects and Headers are the parsed _redirects and _headers, or nil.
	Redirects *rules.Redirects
	Headers   *rules.Headers
	// Limits bound what the rules add to a response.
	Limits Limits
	// Logger receives blob read failures and rules cut by Limits; nil
	// means slog.Default().
	Logger *slog.Logger
}

// Site is a compiled deployment, ready to serve: its path table, its rules
// compiled, and every per-asset header value computed once. A Site is
// immutable and safe for concurrent use.
type Site struct {
	id         string
	html       string
	notFound   string
	assets     map[string]*asset
	cache      *Cache
	static     map[string]*redirectRule
	dynamic    []*redirectRule
	headers    []*headerRule
	absHeaders bool // some _headers rule is an https:// URL
	// dynamicSet and headerSet are the patterns of dynamic and headers, in
	// the same order, matched against a request's path in one pass.
	dynamicSet, headerSet *rules.PatternSet
	// notFoundPages holds the directories with a 404.html, for the
	// 404-page fallback; nil when there is none.
	notFoundPages *dirNode
	limits        Limits
	warner        ruleWarner
	logger        *slog.Logger
}

// asset is an Asset with its response header values precomputed. The
// []string values are assigned directly into response header maps, so they
// have capacity 1: an append made by anyone later copies instead of writing
// into the shared array.
type asset struct {
	path        string
	hash        string
	contentType []string // nil: send no Content-Type
	etag        [numEncodings][]string
	// values holds the header values contentType and etag slice, so that
	// an asset costs two allocations (itself and its ETags' text) rather
	// than eight: a 100,000-file site is built on every deploy.
	values [numEncodings + 1]string
}

// File is an asset with its path, for Deployment.Files.
type File struct {
	Path string
	Asset
}

// yieldEvery is how many assets Compile adds between calls to Yield.
const yieldEvery = 4096

// Compile builds the Site of a deployment; call it once when a deployment
// becomes active, and share the Cache between all Sites of a host. It
// rejects what would make serving wrong: an unknown mode, an asset path or
// hash that is not valid.
func Compile(d Deployment, c *Cache) (*Site, error) {
	cfg := d.Config
	if err := cfg.Normalize(); err != nil {
		return nil, fmt.Errorf("compile deployment %s: %w", d.ID, err)
	}
	s := &Site{
		id:       d.ID,
		html:     cfg.HTMLHandling,
		notFound: cfg.NotFoundHandling,
		assets:   make(map[string]*asset, len(d.Assets)),
		cache:    c,
		static:   map[string]*redirectRule{},
		limits:   d.Limits.withDefaults(),
		logger:   d.Logger,
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	for p, a := range d.Assets {
		if err := s.add(d.ID, p, a); err != nil {
			return nil, err
		}
	}
	for i, f := range d.Files {
		if d.Yield != nil && i%yieldEvery == yieldEvery-1 {
			if err := d.Yield(); err != nil {
				return nil, err
			}
		}
		if err := s.add(d.ID, f.Path, f.Asset); err != nil {
			return nil, err
		}
	}
	if d.Redirects != nil {
		for _, r := range d.Redirects.Rules {
			rr, err := compileRedirect(r)
			if err != nil {
				continue // upstream drops a rule whose pattern does not compile
			}
			if r.Static {
				s.static[r.From] = rr
			} else {
				s.dynamic = append(s.dynamic, rr)
			}
		}
	}
	if d.Headers != nil {
		for _, r := range d.Headers.Rules {
			hr, err := compileHeaderRule(r)
			if err != nil {
				continue
			}
			s.headers = append(s.headers, hr)
			s.absHeaders = s.absHeaders || hr.abs
		}
	}
	s.dynamicSet = rules.NewPatternSet(patterns(s.dynamic, func(r *redirectRule) *rules.Pattern { return r.pattern }))
	s.headerSet = rules.NewPatternSet(patterns(s.headers, func(r *headerRule) *rules.Pattern { return r.pattern }))
	return s, nil
}

// add puts asset a at path p of the site being compiled.
func (s *Site) add(deployment, p string, a Asset) error {
	if err := manifest.ValidatePath(p); err != nil {
		return fmt.Errorf("compile deployment %s: %w", deployment, err)
	}
	if err := manifest.ValidateHash(a.Hash); err != nil {
		return fmt.Errorf("compile deployment %s: asset %s: %w", deployment, p, err)
	}
	ca := &asset{path: p, hash: a.Hash}
	v := &ca.values
	if a.ContentType != "" {
		v[numEncodings] = a.ContentType
		ca.contentType = v[numEncodings : numEncodings+1 : numEncodings+1]
	}
	// The three ETags, "h", "h-gzip" and "h-br" (h the first half of the
	// hash), are cut from one string.
	h32 := a.Hash[:32]
	tags := `"` + h32 + `""` + h32 + `-gzip""` + h32 + `-br"`
	n := len(h32) + 2
	v[encIdentity] = tags[:n]
	v[encGzip] = tags[n : 2*n+5]
	v[encBr] = tags[2*n+5:]
	for e := range numEncodings {
		ca.etag[e] = v[e : e+1 : e+1]
	}
	s.assets[p] = ca
	if dir, ok := strings.CutSuffix(p, "/404.html"); ok {
		s.notFoundPages = s.notFoundPages.add(dir, ca)
	}
	return nil
}

// ID returns the deployment ID the Site was compiled from.
func (s *Site) ID() string { return s.id }

// one returns a single-value header slice of capacity 1.
func one(v string) []string { return []string{v}[:1:1] }

// canonicalKey is the net/http form of a header name.
func canonicalKey(name string) string { return textproto.CanonicalMIMEHeaderKey(name) }

// formatLength is a Content-Length value.
func formatLength(n int64) string { return strconv.FormatInt(n, 10) }

// hostname returns the host of a Host header value, lower-cased, without
// port or IPv6 brackets' port.
func hostname(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i >= 0 {
			return strings.ToLower(host[:i+1])
		}
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.ToLower(host)
}
