package jsrt

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// Limits of a JS deployment's env variables, as Cloudflare Workers has
// them: a handler reads them as properties of env, so any name works.
const (
	MaxEnvVars     = 64
	MaxEnvNameLen  = 128
	MaxEnvValueLen = 5 << 10
)

// ValidateEnv checks the variables of a JS deployment: at most MaxEnvVars,
// names of 1 to MaxEnvNameLen characters, values of at most MaxEnvValueLen
// bytes. ASSETS is env's binding to the deployment's assets, so no
// variable may take its name.
func ValidateEnv(env map[string]string) error {
	if len(env) > MaxEnvVars {
		return fmt.Errorf("%d variables; JavaScript server code may have at most %d", len(env), MaxEnvVars)
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if n := utf8.RuneCountInString(k); n == 0 || n > MaxEnvNameLen {
			return fmt.Errorf("env name %q must be 1 to %d characters long", k, MaxEnvNameLen)
		}
		if k == "ASSETS" {
			return fmt.Errorf("env name ASSETS is reserved: it is the binding to the deployment's assets")
		}
		if len(env[k]) > MaxEnvValueLen {
			return fmt.Errorf("env %s: value of %d bytes is over the limit of %d", k, len(env[k]), MaxEnvValueLen)
		}
	}
	return nil
}
