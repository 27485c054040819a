package rules

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// Limits of _redirects and _headers texts (docs/asset-serving.md#limits).
// Upstream skips what is over a limit with a warning; cfhost does the same
// and additionally reports it as an error so that the host can refuse the
// deployment with a 400.
const (
	MaxStaticRedirects  = 2000 // static _redirects rules
	MaxDynamicRedirects = 100  // dynamic _redirects rules; the 101st stops parsing
	MaxRuleLineLength   = 2000 // characters (UTF-16 code units, as upstream) per line
	MaxHeaderRules      = 100  // _headers blocks (upstream keeps 101, see ParseHeaders)
	MaxRulesFileBytes   = 4 << 20
)

// RedirectRule is one accepted line of a _redirects file, already normalised
// the way upstream stores it, so the host can keep it as JSON or simply
// re-parse the raw text when it activates a deployment.
type RedirectRule struct {
	// From is the normalised source path: no query, no fragment, dot segments
	// resolved, unsafe characters percent-encoded.
	From string `json:"from"`
	// To is the normalised target: a path with optional query and fragment,
	// or https://host/path….
	To     string `json:"to"`
	Status int    `json:"status"`
	Line   int    `json:"line"`
	// Static rules are matched by exact lookup before every dynamic rule. A
	// rule is static when From has no "*" or ":name" and no dynamic rule came
	// before it in the file.
	Static bool `json:"static,omitempty"`
}

// Redirects is a parsed _redirects file: the accepted rules in file order.
type Redirects struct {
	Rules []RedirectRule `json:"rules"`
}

var redirectStatuses = map[float64]int{200: 200, 301: 301, 302: 302, 303: 303, 307: 307, 308: 308}

// ParseRedirects parses the text of a _redirects file the way Cloudflare does
// at deploy time (docs/asset-serving.md#_redirects). Invalid lines are
// skipped, each with a warning naming its line; the result holds what
// Cloudflare would keep. htmlHandling is the deployment's html_handling mode;
// it decides whether a "/ → /index" rule is a redirect loop.
//
// The error is non-nil, with code api.CodeInvalid, when the text is larger
// than MaxRulesFileBytes or holds more static or dynamic rules than the
// limits: Cloudflare silently drops the excess, cfhost refuses it with a 400
// so nobody loses rules unnoticed. The returned rules are still the
// Cloudflare-compatible result, should a caller prefer to accept it. A rule
// over the limits of RuleCostProblem is an error too, naming its line (a
// limit of cfhost's own), and is left out of the result.
func ParseRedirects(text, htmlHandling string) (*Redirects, []api.Warning, error) {
	var (
		out       = &Redirects{}
		seen      = map[string]bool{}
		nStatic   int
		nDynamic  int
		canStatic = true
	)
	lines, total, warns, limitErr := ruleLines("_redirects", text)
	warn := func(n int, format string, args ...any) {
		warns = append(warns, api.Warning{File: "_redirects", Line: n, Message: fmt.Sprintf(format, args...)})
	}
	for _, l := range lines {
		n, line := l.n, l.text
		tokens := jsFields(cutInlineComment(line))
		if len(tokens) < 2 || len(tokens) > 3 {
			warn(n, "expected exactly 2 or 3 whitespace-separated tokens, got %d", len(tokens))
			continue
		}
		statusText := "302"
		if len(tokens) == 3 {
			statusText = tokens[2]
		}
		from, msg := validateURL(tokens[0], true, true, false, false)
		if msg != "" {
			warn(n, "%s", msg)
			continue
		}
		static := canStatic && !strings.Contains(from, "*") && !hasPlaceholder(from)
		if static {
			nStatic++
			if nStatic > MaxStaticRedirects {
				warn(n, "more than %d static rules; line skipped", MaxStaticRedirects)
				limitErr = api.Errorf(api.CodeInvalid, "_redirects has more than %d static rules", MaxStaticRedirects)
				continue
			}
		} else {
			nDynamic++
			canStatic = false
			if nDynamic > MaxDynamicRedirects {
				warn(n, "more than %d dynamic rules; the remaining %d lines are skipped", MaxDynamicRedirects, total-n+1)
				limitErr = api.Errorf(api.CodeInvalid, "_redirects has more than %d dynamic rules", MaxDynamicRedirects)
				break
			}
		}
		if msg := RuleCostProblem(from); msg != "" {
			// Cloudflare sets no limits here; matching a rule is work done on
			// every request, so cfhost refuses the deployment and says where.
			warn(n, "%s; rule ignored", msg)
			limitErr = api.Errorf(api.CodeInvalid, "line %d: %s", n, msg)
			continue
		}
		to, msg := validateURL(tokens[1], false, false, true, true)
		if msg != "" {
			warn(n, "%s", msg)
			continue
		}
		num, ok := jsNumber(statusText)
		status, permitted := redirectStatuses[num]
		if !ok || !permitted {
			warn(n, "valid status codes are 200, 301, 302 (default), 303, 307 and 308, got %s", statusText)
			continue
		}
		relative := !urlHasHost(to)
		toIndex := endsWithIndex(to)
		if relative && (strings.HasSuffix(from, "/*") && toIndex ||
			strings.HasSuffix(from, "/") && toIndex && htmlHandling != HTMLHandlingNone) {
			warn(n, "infinite loop: html handling would strip /index or .html from %s and trigger this rule again; rule ignored", to)
			continue
		}
		if seen[from] {
			warn(n, "duplicate rule for path %s ignored", from)
			continue
		}
		seen[from] = true
		if status == 200 && !relative {
			warn(n, "rewrites (200) can only point to relative paths, got %s", to)
			continue
		}
		if !static {
			if _, err := CompilePattern(from); err != nil {
				// Upstream keeps the rule but its regular expression fails to
				// compile at runtime, so it never matches. Say so.
				warn(n, "rule for %s can never match: %v", from, err)
			}
		}
		out.Rules = append(out.Rules, RedirectRule{From: from, To: to, Status: status, Line: n, Static: static})
	}
	return out, inLineOrder(warns), limitErr
}

// cutInlineComment drops an inline comment, which starts at the first white
// space followed by "#": a "#" inside a token, as in "/a /b#frag", is a
// fragment. Cutting before splitting into tokens matters for "/x/* #note",
// which must be one token, an invalid line, and not a rule whose target is
// "#note".
func cutInlineComment(line string) string {
	for i := 1; i < len(line); i++ {
		if line[i] != '#' {
			continue
		}
		if r, _ := utf8.DecodeLastRuneInString(line[:i]); jsIsSpace(r) {
			return line[:i]
		}
	}
	return line
}

// endsWithIndex mirrors upstream's /\/index(.html)?$/ test, whose "." is an
// unescaped regular-expression dot.
func endsWithIndex(s string) bool {
	if strings.HasSuffix(s, "/index") {
		return true
	}
	n := len(s)
	return n >= 11 && s[n-11:n-5] == "/index" && s[n-4:] == "html" &&
		s[n-5] != '\n' && s[n-5] != '\r'
}

// hasPlaceholder reports whether s contains ":name" with a letter after the
// colon, which makes a rule dynamic.
func hasPlaceholder(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == ':' && isASCIILetter(s[i+1]) {
			return true
		}
	}
	return false
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isWordByte(c byte) bool {
	return isASCIILetter(c) || '0' <= c && c <= '9' || c == '_'
}
