package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// Limits of a run_worker_first pattern list
// (docs/asset-serving.md#run-worker-first).
const (
	MaxRunWorkerFirstRules      = 100
	MaxRunWorkerFirstRuleLength = 100
)

// Route is the router's decision for a request before any asset lookup.
type Route string

// The decisions of RunWorkerFirst.Match.
const (
	// RouteWorker sends the request to server code, bypassing _redirects
	// and assets.
	RouteWorker Route = "worker"
	// RouteAssets sends the request to the asset pipeline, with its real
	// not_found_handling (a negative "!/…" rule matched).
	RouteAssets Route = "assets"
	// RouteUndecided leaves it to the asset pipeline's dry run.
	RouteUndecided Route = "undecided"
)

// RunWorkerFirst is a deployment's validated run_worker_first setting:
// false (the zero value), true, or a list of patterns. It marshals back to
// the JSON it was parsed from.
type RunWorkerFirst struct {
	// All is true for run_worker_first: true.
	All bool
	// Rules are the patterns as written ("/api/*", "!/api/docs/*").
	Rules []string

	positive, negative []glob
}

// ParseRunWorkerFirst reads run_worker_first from a deploy request: absent,
// null, true, false or a list of patterns, and validates a list as upstream
// does at deploy time (docs/asset-serving.md#run-worker-first): 1 to 100
// rules of at most 100 characters, each starting with "/" or "!/", no
// duplicates, none made redundant by a "…*" rule of the same polarity, at
// least one positive rule. Every problem is listed in one error with code
// api.CodeInvalid.
func ParseRunWorkerFirst(raw json.RawMessage) (RunWorkerFirst, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return RunWorkerFirst{}, nil
	}
	var all bool
	if err := json.Unmarshal(raw, &all); err == nil {
		return RunWorkerFirst{All: all}, nil
	}
	var rules []string
	if err := json.Unmarshal(raw, &rules); err != nil {
		return RunWorkerFirst{}, api.Errorf(api.CodeInvalid, "run_worker_first must be true, false or a list of path patterns")
	}
	return NewRunWorkerFirst(rules)
}

// NewRunWorkerFirst validates and compiles a pattern list; see
// ParseRunWorkerFirst.
func NewRunWorkerFirst(rules []string) (RunWorkerFirst, error) {
	switch {
	case len(rules) == 0:
		return RunWorkerFirst{}, api.Errorf(api.CodeInvalid, "run_worker_first has no rules; give at least one")
	case len(rules) > MaxRunWorkerFirstRules:
		return RunWorkerFirst{}, api.Errorf(api.CodeInvalid, "run_worker_first has %d rules, more than the limit of %d", len(rules), MaxRunWorkerFirstRules)
	}
	var problems, pos, neg []string
	for _, r := range rules {
		switch {
		case strings.HasPrefix(r, "!/"):
			neg = append(neg, r)
		case strings.HasPrefix(r, "/"):
			pos = append(pos, r)
		case strings.HasPrefix(r, "!"):
			problems = append(problems, fmt.Sprintf("%q: negative rules must begin with '!/'", r))
		default:
			problems = append(problems, fmt.Sprintf("%q: rules must begin with '/' or '!/'", r))
		}
	}
	if len(pos) == 0 && len(problems) == 0 {
		problems = append(problems, "only negative rules were given; give at least one positive rule")
	}
	problems = append(problems, routingRuleProblems(pos)...)
	problems = append(problems, routingRuleProblems(neg)...)
	if len(problems) > 0 {
		return RunWorkerFirst{}, api.Errorf(api.CodeInvalid, "invalid run_worker_first: %s", strings.Join(problems, "; "))
	}
	rw := RunWorkerFirst{Rules: append([]string(nil), rules...)}
	for _, r := range pos {
		rw.positive = append(rw.positive, newGlob(r))
	}
	for _, r := range neg {
		rw.negative = append(rw.negative, newGlob(r[1:]))
	}
	return rw, nil
}

// routingRuleProblems checks one polarity's rules for length, duplicates
// and redundancy.
func routingRuleProblems(rules []string) []string {
	var problems []string
	seen := map[string]bool{}
	for _, r := range rules {
		// Characters as JavaScript counts them, like the _redirects and
		// _headers line limit, not bytes: "/café" is 5 long.
		if utf16Len(r) > MaxRunWorkerFirstRuleLength {
			problems = append(problems, fmt.Sprintf("%q: rules must be at most %d characters long", r, MaxRunWorkerFirstRuleLength))
		}
		if seen[r] {
			problems = append(problems, fmt.Sprintf("%q: duplicate rule", r))
		}
		seen[r] = true
		if prefix, ok := strings.CutSuffix(r, "*"); ok {
			for _, other := range rules {
				if other != r && strings.HasPrefix(other, prefix) {
					problems = append(problems, fmt.Sprintf("%q: made redundant by %q", other, r))
				}
			}
		}
	}
	return problems
}

// StaticRouting reports whether the setting is a pattern list. With one, the
// router's dry run keeps the real not_found_handling
// (docs/asset-serving.md#run-worker-first, step 3).
func (rw RunWorkerFirst) StaticRouting() bool { return len(rw.Rules) > 0 }

// Match decides a request by its raw pathname (query excluded): negative
// rules first (RouteAssets), then positive rules and run_worker_first: true
// (RouteWorker), otherwise RouteUndecided.
func (rw RunWorkerFirst) Match(pathname string) Route {
	for _, g := range rw.negative {
		if g.match(pathname) {
			return RouteAssets
		}
	}
	for _, g := range rw.positive {
		if g.match(pathname) {
			return RouteWorker
		}
	}
	if rw.All {
		return RouteWorker
	}
	return RouteUndecided
}

// MarshalJSON writes true, false or the pattern list.
func (rw RunWorkerFirst) MarshalJSON() ([]byte, error) {
	if len(rw.Rules) > 0 {
		return json.Marshal(rw.Rules)
	}
	return json.Marshal(rw.All)
}

// UnmarshalJSON parses and validates like ParseRunWorkerFirst.
func (rw *RunWorkerFirst) UnmarshalJSON(b []byte) error {
	v, err := ParseRunWorkerFirst(b)
	if err != nil {
		return err
	}
	*rw = v
	return nil
}

// glob is a run_worker_first pattern: "*" matches any run of characters,
// "/" included; everything else is literal; anchored at both ends.
type glob struct{ parts []string }

func newGlob(pattern string) glob { return glob{parts: strings.Split(pattern, "*")} }

func (g glob) match(s string) bool {
	first, last := g.parts[0], g.parts[len(g.parts)-1]
	if len(g.parts) == 1 {
		return s == first
	}
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	mid := s[len(first) : len(s)-len(last)]
	for _, p := range g.parts[1 : len(g.parts)-1] {
		i := strings.Index(mid, p)
		if i < 0 {
			return false
		}
		mid = mid[i+len(p):]
	}
	return true
}

// NavigationPrefersAssets reports whether the compatibility flag
// assets_navigation_prefers_asset_serving is in effect
// (docs/asset-serving.md#run-worker-first): set explicitly, or implied by a
// compatibility date of 2025-04-01 or later unless
// assets_navigation_has_no_effect is set. With it, a navigation request
// (Sec-Fetch-Mode: navigate) gets the SPA or 404 page even when server code
// exists.
func NavigationPrefersAssets(compatibilityDate string, flags []string) bool {
	on := compatibilityDate >= "2025-04-01"
	for _, f := range flags {
		switch f {
		case "assets_navigation_prefers_asset_serving":
			return true
		case "assets_navigation_has_no_effect":
			on = false
		}
	}
	return on
}
