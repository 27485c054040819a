// Package alias names the addresses of previews and of projects with slugs:
// the short id of a deployment, the DNS-label slug of a branch, a project's
// slug, and the "<selector>--<project>" label that addresses one deployment
// or a branch's newest. Host and CLI both use it, so that the URL the CLI
// prints is the one the host routes.
package alias

import (
	"errors"
	"fmt"
	"strings"
)

// Sep joins a selector (a short deployment id or a branch slug) to a project
// id or slug within one DNS label. Neither side may contain it.
const Sep = "--"

// ShortIDLength is how many leading characters of a deployment id its
// short form keeps: the first group of the UUID, 32 bits.
const ShortIDLength = 8

// MaxBranchSlug bounds a branch slug so that "<slug>--<project-id>" (a
// 36-character id) fits in a DNS label of 63 bytes.
const MaxBranchSlug = 63 - len(Sep) - 36

// MaxProjectSlug keeps a slug shorter than any project id (a 36-character
// UUID), so that a slug can never be mistaken for an id.
const MaxProjectSlug = 32

// ShortID is a deployment's short id.
func ShortID(deploymentID string) string {
	if len(deploymentID) < ShortIDLength {
		return deploymentID
	}
	return strings.ToLower(deploymentID[:ShortIDLength])
}

// IsShortID reports whether s has the shape of a short deployment id.
func IsShortID(s string) bool {
	if len(s) != ShortIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// BranchSlug turns a branch name into its label form: lower-case letters
// and digits, every other run of characters one hyphen, no hyphen at
// either end, at most MaxBranchSlug bytes. "" means the name has no letter
// or digit.
func BranchSlug(branch string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(branch) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(c)
			if b.Len() >= MaxBranchSlug {
				break
			}
			continue
		}
		dash = true
	}
	return strings.TrimRight(b.String()[:min(b.Len(), MaxBranchSlug)], "-")
}

// ValidateProjectSlug says why s cannot be a project's slug, or nil: 1 to
// MaxProjectSlug lower-case letters, digits and single hyphens, starting
// with a letter and not ending with a hyphen.
func ValidateProjectSlug(s string) error {
	switch {
	case s == "":
		return errors.New("slug is empty")
	case len(s) > MaxProjectSlug:
		return fmt.Errorf("slug is longer than %d characters", MaxProjectSlug)
	case s[0] < 'a' || s[0] > 'z':
		return errors.New("slug must start with a lower-case letter")
	case strings.HasSuffix(s, "-"):
		return errors.New("slug must not end with a hyphen")
	case strings.Contains(s, Sep):
		return fmt.Errorf("slug must not contain %q, which separates a preview from its project in hostnames", Sep)
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return fmt.Errorf("slug may hold only lower-case letters, digits and hyphens, not %q", c)
		}
	}
	return nil
}

// Label is the hostname label of a preview: selector (a short id or a
// branch slug) joined to the project's id or slug.
func Label(selector, project string) string { return selector + Sep + project }

// Parse splits a label into its selector and project parts; selector is ""
// for a label that names a project only.
func Parse(label string) (selector, project string) {
	sel, proj, ok := strings.Cut(label, Sep)
	if !ok {
		return "", label
	}
	return sel, proj
}
