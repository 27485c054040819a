package assets

import (
	"strings"
	"testing"
)

// Long request paths are matched against _redirects and _headers through
// one index of the rules' literals (rules.PatternSet); the rules still
// match and capture as they do on short paths, greedy from the left.
func TestRulesOnLongPaths(t *testing.T) {
	site, _, _ := build(t, siteSpec{
		files:     []string{"/index.html"},
		redirects: "/:a-to-:b/x /r/:b/:a 301\n/*~~:c /s/:c 302\n",
		headers:   "/:a-to-:b/*\n  X-Pair: :a|:b\nhttps://:sub.site.test/:p~x~:q\n  X-Abs: :sub|:p|:q\n",
	})
	srv := serveSite(t, site)
	left := strings.Repeat("p-to-", 100) + "z"
	tests := []struct {
		name, target, host string
		status             int
		want               map[string]string
	}{
		{"inner literal", "/" + left + "-to-w/x", "", 301, map[string]string{
			"Location": "/r/w/" + left,
			"X-Pair":   left + "|w",
		}},
		{"literal after the splat", "/" + strings.Repeat("q~~", 200) + "end", "", 302, map[string]string{
			"Location": "/s/end",
			"X-Pair":   "",
		}},
		{"absolute rule", "/" + strings.Repeat("m~x~", 100) + "end", "api.site.test", 404, map[string]string{
			"X-Abs":    "api|" + strings.Repeat("m~x~", 99) + "m|end",
			"Location": "",
		}},
		{"literal only in another segment", "/" + strings.Repeat("p", 400) + "/-to-/x", "", 404, map[string]string{
			"Location": "",
			"X-Pair":   "",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.host != "" {
				headers = append(headers, "Host: "+tt.host)
			}
			r := do(t, srv, "GET", tt.target, headers...)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d (%s)", r.status, tt.status, r)
			}
			for k, want := range tt.want {
				if got := r.header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}
