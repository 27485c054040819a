package docs

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The names below are spelled in pieces so that this file does not match
// itself.
var (
	// outsideDocs are documents that lived beside the repository while it
	// was written and that no clone has.
	outsideDocs = []string{
		"../" + "shared",
		"CONT" + "RACT.md",
		"DES" + "IGN.md",
		"STY" + "LE.md",
		"spec/" + "asset-serving",
		"spec/" + "server-code",
	}
	// outsideCitation catches citations of them by name or section: the
	// spec or the design with a section sign (also across a comment line
	// break), and the contract by name.
	outsideCitation = regexp.MustCompile(`(?i:\bspec\b[\s/#*]*\x{00a7})|\bDES` + `IGN\s*\x{00a7}|\bCONT` + `RACT\b`)
	section         = "\u00a7"
)

// TestNoReferencesOutsideTheRepo fails when a tracked file (but the CI
// scripts) points its reader at a document the repository does not have.
// Cite docs/ pages instead (docs/asset-serving.md#html-handling), or say
// the rule in place. A section sign is allowed only next to an RFC.
func TestNoReferencesOutsideTheRepo(t *testing.T) {
	for _, f := range trackedFiles(t) {
		if strings.HasPrefix(f, ".ci/") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil || bytes.IndexByte(b, 0) >= 0 {
			continue // deleted in the work tree, or binary
		}
		text := string(b)
		for _, d := range outsideDocs {
			if i := strings.Index(text, d); i >= 0 {
				t.Errorf("%s:%d: refers to %s, which is not in the repository", f, lineOf(text, i), d)
			}
		}
		if isLegalText(f) {
			continue // third-party licences speak of contracts and sections of their own
		}
		for _, loc := range outsideCitation.FindAllStringIndex(text, -1) {
			t.Errorf("%s:%d: %q cites a document that is not in the repository", f, lineOf(text, loc[0]), text[loc[0]:loc[1]])
		}
		for n, line := range strings.Split(text, "\n") {
			if strings.Contains(line, section) && !strings.Contains(line, "RFC") {
				t.Errorf("%s:%d: section sign without an RFC: %s", f, n+1, strings.TrimSpace(line))
			}
		}
	}
}

// isLegalText reports whether f is a licence or notice file shipped with
// third-party code.
func isLegalText(f string) bool {
	base := strings.ToUpper(filepath.Base(f))
	return strings.Contains(base, "LICENSE") || strings.Contains(base, "LICENCE") ||
		strings.Contains(base, "COPYING") || strings.Contains(base, "NOTICE")
}

func lineOf(text string, i int) int { return strings.Count(text[:i], "\n") + 1 }
