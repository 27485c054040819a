package client

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// WarningsError refuses a deploy in strict mode (DeployOptions.Strict)
// because its configuration has warnings: lines the host would skip.
type WarningsError struct {
	Warnings []api.Warning
}

func (e *WarningsError) Error() string {
	if len(e.Warnings) == 1 {
		w := e.Warnings[0]
		return fmt.Sprintf("%s line %d: %s (strict mode: nothing was deployed)", w.File, w.Line, w.Message)
	}
	return fmt.Sprintf("%d warnings in _redirects/_headers (strict mode: nothing was deployed)", len(e.Warnings))
}

// CheckConfig parses the configuration a deploy sends with the host's own
// parsers (pkg/rules), so that what the host would skip or refuse is
// known before anything is uploaded. It returns every warning the host
// would give, plus one for a _redirects source without a leading slash
// (the host reads "a /b" as "/a /b", as Cloudflare does, which is rarely
// what was meant), and an error for what the host would refuse.
func CheckConfig(cfg *api.AssetConfig, runWorkerFirst json.RawMessage) ([]api.Warning, error) {
	var warns []api.Warning
	if cfg != nil {
		mc := rules.Config{HTMLHandling: cfg.HTMLHandling, NotFoundHandling: cfg.NotFoundHandling}
		if err := mc.Normalize(); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if cfg.Redirects != "" {
			_, ws, err := rules.ParseRedirects(cfg.Redirects, mc.HTMLHandling)
			if err != nil {
				return nil, fmt.Errorf("_redirects: %w", err)
			}
			warns = append(warns, ws...)
			warns = append(warns, redirectSourceWarnings(cfg.Redirects, ws)...)
		}
		if cfg.Headers != "" {
			_, ws, err := rules.ParseHeaders(cfg.Headers)
			if err != nil {
				return nil, fmt.Errorf("_headers: %w", err)
			}
			warns = append(warns, ws...)
		}
	}
	if _, err := rules.ParseRunWorkerFirst(runWorkerFirst); err != nil {
		return nil, fmt.Errorf("run_worker_first: %w", err)
	}
	return warns, nil
}

// redirectSourceWarnings flags rules whose source lacks the leading "/";
// lines that already have a warning are left alone.
func redirectSourceWarnings(text string, have []api.Warning) []api.Warning {
	warned := map[int]bool{}
	for _, w := range have {
		warned[w.Line] = true
	}
	var out []api.Warning
	for i, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || warned[i+1] {
			continue
		}
		from := fields[0]
		if strings.HasPrefix(from, "/") || strings.HasPrefix(from, "#") || strings.HasPrefix(from, "https://") {
			continue
		}
		out = append(out, api.Warning{File: "_redirects", Line: i + 1,
			Message: fmt.Sprintf("%q does not start with /: it is read as the path /%s", from, from)})
	}
	return out
}
