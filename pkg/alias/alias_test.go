package alias

import (
	"strings"
	"testing"
)

func TestBranchSlug(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"main", "main"},
		{"feature/Login-Page", "feature-login-page"},
		{"--x__y--", "x-y"},
		{"///", ""},
		{"ünïcode", "n-code"},
		{strings.Repeat("ab", 40), strings.Repeat("ab", 40)[:MaxBranchSlug]},
		{strings.Repeat("a", MaxBranchSlug-1) + "/b", strings.Repeat("a", MaxBranchSlug-1)},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got := BranchSlug(tc.in)
			if got != tc.want {
				t.Errorf("BranchSlug(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if strings.Contains(got, Sep) || len(got) > MaxBranchSlug {
				t.Errorf("BranchSlug(%q) = %q is not a valid selector", tc.in, got)
			}
		})
	}
}

func TestValidateProjectSlug(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"blog", true}, {"my-blog-2", true}, {"", false}, {"2blog", false}, {"Blog", false},
		{"my--blog", false}, {"blog-", false}, {"my_blog", false}, {strings.Repeat("a", 33), false},
		{"a.b", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if err := ValidateProjectSlug(tc.in); (err == nil) != tc.ok {
				t.Errorf("ValidateProjectSlug(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
		})
	}
}

func TestParseLabel(t *testing.T) {
	for _, tc := range []struct{ in, sel, proj string }{
		{"blog", "", "blog"},
		{"1a2b3c4d--blog", "1a2b3c4d", "blog"},
		{"feature-x--7c08e1a0-0000-4000-8000-000000000000", "feature-x", "7c08e1a0-0000-4000-8000-000000000000"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			sel, proj := Parse(tc.in)
			if sel != tc.sel || proj != tc.proj {
				t.Errorf("Parse(%q) = %q, %q, want %q, %q", tc.in, sel, proj, tc.sel, tc.proj)
			}
		})
	}
}
