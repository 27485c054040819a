package rules

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

func TestParseRunWorkerFirst(t *testing.T) {
	tests := []struct {
		raw     string
		wantErr string // substring; "" for success
		json    string // what it marshals back to
	}{
		{"", "", "false"},
		{"null", "", "false"},
		{"true", "", "true"},
		{"false", "", "false"},
		{`["/api/*", "!/api/docs/*"]`, "", `["/api/*","!/api/docs/*"]`},
		{`[]`, "no rules", ""},
		{`"yes"`, "true, false or a list", ""},
		{`[1]`, "true, false or a list", ""},
		{`["api/*"]`, "must begin with '/' or '!/'", ""},
		{`["/a", "!api"]`, "negative rules must begin with '!/'", ""},
		{`["!/a"]`, "only negative rules", ""},
		{`["/a", "/a"]`, "duplicate", ""},
		{`["/api/*", "/api/users"]`, "made redundant", ""},
		{`["/x", "!/api/*", "!/api/docs"]`, "made redundant", ""},
		{`["/api/*", "!/api/users"]`, "", `["/api/*","!/api/users"]`},
		{`["/` + strings.Repeat("a", MaxRunWorkerFirstRuleLength) + `"]`, "at most 100 characters", ""},
		// Characters as JavaScript counts them (UTF-16 code units), not bytes.
		{`["/` + strings.Repeat("\u00e9", MaxRunWorkerFirstRuleLength-1) + `"]`, "", `["/` + strings.Repeat("\u00e9", MaxRunWorkerFirstRuleLength-1) + `"]`},
		{`["/` + strings.Repeat("\u00e9", MaxRunWorkerFirstRuleLength) + `"]`, "at most 100 characters", ""},
		{`["!/` + strings.Repeat("\u00e9", MaxRunWorkerFirstRuleLength-2) + `", "/a"]`, "", `["!/` + strings.Repeat("\u00e9", MaxRunWorkerFirstRuleLength-2) + `","/a"]`},
		{`["/` + strings.Repeat("\U0001F600", MaxRunWorkerFirstRuleLength/2) + `"]`, "at most 100 characters", ""},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			rw, err := ParseRunWorkerFirst(json.RawMessage(tt.raw))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || api.ErrorCode(err) != api.CodeInvalid {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(rw)
			if string(b) != tt.json {
				t.Errorf("marshals to %s, want %s", b, tt.json)
			}
			var back RunWorkerFirst
			if err := json.Unmarshal(b, &back); err != nil || back.Match("/api/x") != rw.Match("/api/x") {
				t.Errorf("round trip: %v", err)
			}
		})
	}
	many := make([]string, MaxRunWorkerFirstRules+1)
	for i := range many {
		many[i] = "/r" + strings.Repeat("x", i)
	}
	if _, err := NewRunWorkerFirst(many); err == nil {
		t.Errorf("accepted %d rules", len(many))
	}
}

func TestRunWorkerFirstMatch(t *testing.T) {
	rw, err := NewRunWorkerFirst([]string{"/api/*", "!/api/docs/*", "/*.php", "/exact", "/a*b*c"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want Route
	}{
		{"/api/x", RouteWorker},
		{"/api/", RouteWorker},
		{"/api", RouteUndecided},
		{"/api/docs/x", RouteAssets},
		{"/a/b/index.php", RouteWorker},
		{"/exact", RouteWorker},
		{"/exact/", RouteUndecided},
		{"/EXACT", RouteUndecided},
		{"/aXbYc", RouteWorker},
		{"/abc", RouteWorker},
		{"/acb", RouteUndecided},
	}
	for _, tt := range tests {
		if got := rw.Match(tt.path); got != tt.want {
			t.Errorf("Match(%q) = %s, want %s", tt.path, got, tt.want)
		}
	}
	if (RunWorkerFirst{All: true}).Match("/anything") != RouteWorker || (RunWorkerFirst{}).Match("/x") != RouteUndecided {
		t.Errorf("true/false settings")
	}
}

func TestNavigationPrefersAssets(t *testing.T) {
	tests := []struct {
		date  string
		flags []string
		want  bool
	}{
		{"2021-11-02", nil, false},
		{"2025-03-31", nil, false},
		{"2025-04-01", nil, true},
		{"2026-01-01", []string{"assets_navigation_has_no_effect"}, false},
		{"2021-11-02", []string{"assets_navigation_prefers_asset_serving"}, true},
	}
	for _, tt := range tests {
		if got := NavigationPrefersAssets(tt.date, tt.flags); got != tt.want {
			t.Errorf("NavigationPrefersAssets(%s, %v) = %v", tt.date, tt.flags, got)
		}
	}
}
