// Package manifest is what a client needs to turn a directory into a
// deployment's file list: which files are left out (.assetsignore and the
// private-file defaults), valid asset paths and limits, content types, and
// walking and hashing the tree. The rules a deployment's files configure
// (_redirects, _headers, run_worker_first, html and not-found handling)
// are package rules.
package manifest

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxPathLength is the longest asset path accepted, in bytes.
const MaxPathLength = 1024

// Limits bound what one deployment may hold. Host and client check the same
// numbers so that a too-large file is reported before anything is uploaded.
type Limits struct {
	MaxFileSize  int64 // bytes per file
	MaxFiles     int   // files per deployment
	MaxBodyBytes int64 // bytes per API request body
}

// DefaultLimits are the default limits of docs/asset-serving.md#limits.
var DefaultLimits = Limits{
	MaxFileSize:  25 << 20,
	MaxFiles:     100_000,
	MaxBodyBytes: 64 << 20,
}

// ValidatePath reports why p is not an acceptable asset path, or nil.
// An asset path starts with "/", has no empty, "." or ".." segments, no NUL
// or control characters, is valid UTF-8 and at most MaxPathLength bytes.
// The checks keep every stored path inside the deployment and unambiguous.
func ValidatePath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("path is empty")
	case len(p) > MaxPathLength:
		return fmt.Errorf("path %.40q… is longer than %d bytes", p, MaxPathLength)
	case !utf8.ValidString(p):
		return fmt.Errorf("path %q is not valid UTF-8", p)
	case p[0] != '/':
		return fmt.Errorf("path %q must start with /", p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("path %q contains a control character", p)
		}
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		switch seg {
		case "":
			return fmt.Errorf("path %q has an empty segment", p)
		case ".", "..":
			return fmt.Errorf("path %q has a %q segment", p, seg)
		}
	}
	return nil
}

// ValidateHash reports whether h is a SHA-256 in 64 lowercase hex characters.
func ValidateHash(h string) error {
	if len(h) != 64 {
		return fmt.Errorf("hash %.70q is not 64 hex characters", h)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("hash %q is not lowercase hex", h)
		}
	}
	return nil
}
