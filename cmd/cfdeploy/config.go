package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// fileConfig is cfdeploy.toml as written. Viper layers the scalar settings;
// this typed copy keeps what viper would lower-case ([env] names) or
// flatten.
type fileConfig struct {
	ProjectID string `toml:"project_id"`
	Name      string `toml:"name"`
	Dir       string `toml:"dir"`
	Assets    struct {
		HTMLHandling     string `toml:"html_handling"`
		NotFoundHandling string `toml:"not_found_handling"`
		RunWorkerFirst   any    `toml:"run_worker_first"`
	} `toml:"assets"`
	Server struct {
		Entrypoint         string   `toml:"entrypoint"`
		Modules            []string `toml:"modules"`
		NoBundle           bool     `toml:"no_bundle"`
		CompatibilityDate  string   `toml:"compatibility_date"`
		CompatibilityFlags []string `toml:"compatibility_flags"`
	} `toml:"server"`
	Env map[string]string `toml:"env"`
	// ProductionBranch is the branch whose deploys go live; deploys of any
	// other --branch are previews.
	ProductionBranch string `toml:"production_branch"`
}

// readFileConfig parses a cfdeploy.toml.
func readFileConfig(path string) (fileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return fileConfig{}, err
	}
	return decodeFileConfig(path, b)
}

// runWorkerFirstJSON turns the run_worker_first setting into its wire form:
// a boolean or a list of patterns. From a flag or the environment it is the
// text "true", "false" or "PATTERN[,PATTERN…]"; from the file a boolean or
// an array. nil means unset.
func runWorkerFirstJSON(v any) (json.RawMessage, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case bool:
		return json.Marshal(v)
	case string:
		v = strings.TrimSpace(v)
		if v == "" {
			return nil, nil
		}
		if b, err := strconv.ParseBool(v); err == nil {
			return json.Marshal(b)
		}
		var pats []string
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				pats = append(pats, p)
			}
		}
		return patternsJSON(pats)
	case []string:
		return patternsJSON(v)
	case []any:
		pats := make([]string, 0, len(v))
		for _, p := range v {
			s, ok := p.(string)
			if !ok {
				return nil, fmt.Errorf("run_worker_first: %v is not a string pattern", p)
			}
			pats = append(pats, s)
		}
		return patternsJSON(pats)
	}
	return nil, fmt.Errorf("run_worker_first must be true, false or a list of patterns, not %v", v)
}

func patternsJSON(pats []string) (json.RawMessage, error) {
	for _, p := range pats {
		if !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "!/") {
			return nil, fmt.Errorf("run_worker_first pattern %q must start with / or !/", p)
		}
	}
	if pats == nil {
		pats = []string{}
	}
	return json.Marshal(pats)
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b bytes.Buffer
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
