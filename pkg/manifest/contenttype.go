package manifest

import (
	"strings"
	"unicode/utf8"
)

// contentTypes, in contenttype_table.go, is mime@4's extension table, the one
// Cloudflare's uploader uses (docs/asset-serving.md#responses-etag-and-304).
// It is generated rather than written by hand so that every extension getType
// knows gets the same type here, and no other extension gets one.
//go:generate go run contenttype_generate.go -mime 4.1.2

// ContentType returns the Content-Type header value Cloudflare would serve an
// asset path with, or "" when it would send none (unknown or missing
// extension). It decides once, at deploy time, so serving never guesses and
// never sniffs. The type is mime@4's getType of the file's absolute path, as
// wrangler's uploader computes it; a text/ type gets "; charset=utf-8"
// appended, as the uploader does (mime's types carry no parameters).
//
// The extension is what follows the last "." of the last path segment (after
// the last "/" or "\"), compared case-insensitively; a segment whose only dot
// is its first character (".html", a dotfile) has no extension. A path
// without a "/" is treated as one with a leading "/", like the absolute path
// upstream looks up.
func ContentType(path string) string {
	name := path
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 || dot == len(name)-1 {
		return ""
	}
	t, ok := lookupType(name[dot+1:])
	if !ok {
		return ""
	}
	if strings.HasPrefix(t, "text/") {
		return t + "; charset=utf-8"
	}
	return t
}

// lookupType finds ext in contentTypes, lower-casing it as getType does with
// JavaScript's toLowerCase. The keys are lower-case ASCII, so only the runes
// whose lower case is ASCII matter: A-Z, and U+212A KELVIN SIGN, which becomes
// "k". Go's strings.ToLower would also turn U+0130 ("İ") into "i", where
// JavaScript gives "i̇" and so no match; any non-ASCII rune other than the
// Kelvin sign therefore means no type.
func lookupType(ext string) (string, bool) {
	if t, ok := contentTypes[ext]; ok {
		return t, true
	}
	folded := make([]byte, 0, len(ext))
	for _, r := range ext {
		switch {
		case 'A' <= r && r <= 'Z':
			folded = append(folded, byte(r-'A'+'a'))
		case r == '\u212A':
			folded = append(folded, 'k')
		case r >= utf8.RuneSelf:
			return "", false
		default:
			folded = append(folded, byte(r))
		}
	}
	t, ok := contentTypes[string(folded)]
	return t, ok
}
