package pagesfn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"unicode/utf16"
)

// Limits of _routes.json, as Cloudflare sets them.
const (
	// MaxRoutesRules bounds include and exclude rules together.
	MaxRoutesRules = 100
	// MaxRouteRuleLength bounds one rule, in characters.
	MaxRouteRuleLength = 100
)

// RoutesFile is the name of the routing file at the root of a Pages
// project's output directory.
const RoutesFile = "_routes.json"

// RoutesJSON is a _routes.json: which request paths invoke the server code
// (Include, and not Exclude) and which go straight to the assets. A rule is
// a path where "*" matches any run of characters, "/" included.
type RoutesJSON struct {
	Version     int      `json:"version"`
	Description string   `json:"description,omitempty"`
	Include     []string `json:"include"`
	Exclude     []string `json:"exclude"`
}

// ReadRoutesJSON reads and validates path; it returns nil and no error when
// the file does not exist.
func ReadRoutesJSON(path string) (*RoutesJSON, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rj, err := ParseRoutesJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rj, nil
}

// ParseRoutesJSON parses and validates a _routes.json text: an object with
// "version": 1, "include" (at least one rule) and "exclude" (may be empty
// or absent), no other keys but "description", at most MaxRoutesRules
// rules in all, each starting with "/" and at most MaxRouteRuleLength
// characters long. Every problem is listed in one error.
func ParseRoutesJSON(b []byte) (*RoutesJSON, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var rj RoutesJSON
	if err := dec.Decode(&rj); err != nil {
		return nil, fmt.Errorf("not a valid _routes.json object: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return nil, errors.New("not a valid _routes.json object: text after the object")
	}
	var problems []string
	if rj.Version != 1 {
		problems = append(problems, fmt.Sprintf("version must be 1, not %d", rj.Version))
	}
	if len(rj.Include) == 0 {
		problems = append(problems, `"include" must have at least one rule (["/*"] invokes the server code for every path)`)
	}
	if n := len(rj.Include) + len(rj.Exclude); n > MaxRoutesRules {
		problems = append(problems, fmt.Sprintf("%d rules in all, more than the limit of %d (include and exclude together)", n, MaxRoutesRules))
	}
	for _, list := range []struct {
		name  string
		rules []string
	}{{"include", rj.Include}, {"exclude", rj.Exclude}} {
		seen := map[string]bool{}
		for _, r := range list.rules {
			switch {
			case !strings.HasPrefix(r, "/"):
				problems = append(problems, fmt.Sprintf("%s rule %q must begin with '/'", list.name, r))
			case len(utf16.Encode([]rune(r))) > MaxRouteRuleLength:
				problems = append(problems, fmt.Sprintf("%s rule %q is longer than %d characters", list.name, r, MaxRouteRuleLength))
			case seen[r]:
				problems = append(problems, fmt.Sprintf("%s rule %q is listed twice", list.name, r))
			}
			seen[r] = true
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	if rj.Exclude == nil {
		rj.Exclude = []string{}
	}
	return &rj, nil
}

// RunWorkerFirst maps the rules onto cfhost's run_worker_first: the
// include rules, and each exclude rule negated ("!/static/*"), minus rules
// another rule of the same list already covers (which run_worker_first
// refuses as redundant, while _routes.json allows them). Matching is the
// same: an excluded path goes to the assets, an included one to the server
// code first. A path neither rule matches is left to the assets when one
// answers it; the generated router sends the rest to env.ASSETS as well,
// so it never runs a handler for a path _routes.json leaves out.
func (rj *RoutesJSON) RunWorkerFirst() json.RawMessage {
	rules := consolidate(rj.Include)
	for _, r := range consolidate(rj.Exclude) {
		rules = append(rules, "!"+r)
	}
	b, _ := json.Marshal(rules)
	return b
}

// consolidate drops the rules a "…*" rule of the same list covers, and
// duplicates, keeping the order of the rest.
func consolidate(rules []string) []string {
	out := []string{}
	for i, r := range rules {
		covered := slices.Contains(rules[:i], r)
		for _, other := range rules {
			if prefix, ok := strings.CutSuffix(other, "*"); ok && other != r && strings.HasPrefix(r, prefix) {
				covered = true
			}
		}
		if !covered {
			out = append(out, r)
		}
	}
	return out
}

// GenerateRoutesJSON writes the _routes.json a functions/ tree implies, as
// Cloudflare generates it when the project has none: each route's path up
// to its first parameter, which becomes "*" ("/users/:id" → "/users/*");
// a middleware directory with everything below it ("/api/*"); rules a
// wildcard rule covers are dropped, and past MaxRoutesRules the whole is
// ["/*"]. Nothing is excluded.
func GenerateRoutesJSON(routes []Route) *RoutesJSON {
	var rules []string
	for _, r := range routes {
		var b strings.Builder
		wild := false
		for _, s := range r.Segments {
			b.WriteByte('/')
			if s.Kind != Static {
				b.WriteByte('*')
				wild = true
				break
			}
			b.WriteString(s.Text)
		}
		rule := b.String()
		if r.Middleware && !wild {
			rule = strings.TrimSuffix(rule, "/") + "/*"
		}
		if rule == "" {
			rule = "/"
		}
		if !slices.Contains(rules, rule) {
			rules = append(rules, rule)
		}
	}
	rules = consolidate(rules)
	slices.SortFunc(rules, func(a, b string) int {
		// Longer (more specific) rules first, for people reading the file.
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	if len(rules) > MaxRoutesRules {
		rules = []string{"/*"}
	}
	return &RoutesJSON{Version: 1, Description: "Generated by cfdeploy from functions/", Include: rules, Exclude: []string{}}
}
