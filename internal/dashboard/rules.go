package dashboard

import (
	"strings"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// redirectRow is one _redirects rule as the deployment page lists it.
type redirectRow struct {
	Line     int
	From, To string
	Status   int
}

// headerRow is one _headers block.
type headerRow struct {
	Line  int
	Path  string
	Set   []rules.HeaderField
	Unset []string
}

// parseRules reads a deployment's _redirects and _headers texts as the
// host does when it serves them, with the warnings for the lines it skips.
func parseRules(cfg api.AssetConfig) ([]redirectRow, []headerRow, []api.Warning, []string) {
	var (
		redirects []redirectRow
		headers   []headerRow
		warnings  []api.Warning
		problems  []string
	)
	if strings.TrimSpace(cfg.Redirects) != "" {
		rs, ws, err := rules.ParseRedirects(cfg.Redirects, cfg.HTMLHandling)
		warnings = append(warnings, ws...)
		if err != nil {
			problems = append(problems, err.Error())
		}
		if rs != nil {
			for _, r := range rs.Rules {
				redirects = append(redirects, redirectRow{Line: r.Line, From: r.From, To: r.To, Status: r.Status})
			}
		}
	}
	if strings.TrimSpace(cfg.Headers) != "" {
		hs, ws, err := rules.ParseHeaders(cfg.Headers)
		warnings = append(warnings, ws...)
		if err != nil {
			problems = append(problems, err.Error())
		}
		if hs != nil {
			for _, h := range hs.Rules {
				headers = append(headers, headerRow{Line: h.Line, Path: h.Path, Set: h.Set, Unset: h.Unset})
			}
		}
	}
	return redirects, headers, warnings, problems
}

// contentType is the Content-Type the host sends for a file, or a note
// that it sends none.
func contentType(path string) string {
	if t := manifest.ContentType(path); t != "" {
		return t
	}
	return "(none)"
}
