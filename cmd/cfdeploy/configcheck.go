package main

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// decodeFileConfig parses cfdeploy.toml strictly: a key the file format
// does not have is an error naming the line and the closest known key (a
// typo such as "directory" or "not_found" was silently ignored), and
// syntax or type errors carry the line and say what was expected in TOML
// terms, never in Go's.
func decodeFileConfig(path string, b []byte) (fileConfig, error) {
	var fc fileConfig
	dec := toml.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(&fc)
	if err == nil {
		return fc, nil
	}
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		known := fileConfigKeys()
		msgs := make([]string, 0, len(strict.Errors))
		for _, e := range strict.Errors {
			row, _ := e.Position()
			key := strings.Join(e.Key(), ".")
			msg := fmt.Sprintf("%s:%d: unknown key %q", path, row, key)
			if s := suggestKey(key, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			msgs = append(msgs, msg)
		}
		return fc, errors.New(strings.Join(msgs, "\n"))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if kind, want, ok := typeMismatch(msg); ok {
			key := lineKey(b, row)
			if want == "a table of strings" && strings.Contains(key, ".") {
				want = "a string" // a value inside the table
			}
			msg = fmt.Sprintf("%s must be %s, not a TOML %s", key, want, kind)
		}
		return fc, fmt.Errorf("%s:%d:%d: %s", path, row, col, msg)
	}
	msg := strings.TrimPrefix(err.Error(), "toml: ")
	if kind, want, ok := typeMismatch(msg); ok {
		msg = fmt.Sprintf("a TOML %s where %s is wanted", kind, want)
	}
	return fc, fmt.Errorf("%s: %s", path, msg)
}

// mismatchRE matches go-toml's type errors, which name Go types.
var mismatchRE = regexp.MustCompile(`cannot decode TOML (\w+) into .* of type (\S+)$`)

// typeMismatch turns a go-toml type error into the TOML kind found and a
// description of the kind wanted.
func typeMismatch(msg string) (kind, want string, ok bool) {
	m := mismatchRE.FindStringSubmatch(msg)
	if m == nil {
		return "", "", false
	}
	switch m[2] {
	case "string":
		want = "a string"
	case "[]string":
		want = "a list of strings"
	case "map[string]string":
		want = "a table of strings"
	case "bool":
		want = "true or false"
	default:
		want = "another kind of value"
	}
	return m[1], want, true
}

// lineKey names the key set on line row (1-based) of a TOML text, with
// the table it is in: "dir", "env.GREETING".
func lineKey(b []byte, row int) string {
	lines := strings.Split(string(b), "\n")
	if row < 1 || row > len(lines) {
		return "the value"
	}
	key, _, _ := strings.Cut(lines[row-1], "=")
	key = strings.TrimSpace(key)
	for i := row - 2; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") {
			key = strings.Trim(l, "[] ") + "." + key
			break
		}
	}
	return key
}

// fileConfigKeys lists the dotted keys of fileConfig, from its toml tags.
func fileConfigKeys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" || name == "-" {
				continue
			}
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, prefix+name+".")
				continue
			}
			keys = append(keys, prefix+name)
		}
	}
	walk(reflect.TypeFor[fileConfig](), "")
	return keys
}

// suggestKey returns the known key closest to an unknown one: the same
// last part in another table, a last part that one is a prefix of the
// other ("not_found" for "not_found_handling", "directory" for "dir"), or
// one at most two edits away.
func suggestKey(key string, known []string) string {
	table, last := splitKey(key)
	best, bestDist := "", 3
	for _, k := range known {
		kt, kl := splitKey(k)
		switch {
		case kl == last:
			return k
		case kt == table && len(last) >= 3 && len(kl) >= 3 && (strings.HasPrefix(kl, last) || strings.HasPrefix(last, kl)):
			return k
		}
		if d := editDistance(key, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

func splitKey(k string) (table, last string) {
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		return k[:i], k[i+1:]
	}
	return "", k
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
