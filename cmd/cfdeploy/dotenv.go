package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
)

// maxDotenvSecrets bounds how many secrets one 'secret put --from' stores.
const maxDotenvSecrets = 200

// dotenvEntry is one KEY=VALUE of a dotenv file.
type dotenvEntry struct{ Key, Value string }

// parseDotenv reads a dotenv file as wrangler's .dev.vars holds it:
// KEY=VALUE lines, an optional "export " before the key, blank lines and
// # comments; a value in double quotes may use \n, \t, \" and \\ escapes,
// one in single quotes is literal, and an unquoted value ends at " #".
// Errors name the line but never echo a value.
func parseDotenv(b []byte) ([]dotenvEntry, error) {
	var out []dotenvEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), maxSecretInput)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\"'") {
			return nil, fmt.Errorf("line %d: want KEY=VALUE", n)
		}
		v = strings.TrimSpace(v)
		switch {
		case strings.HasPrefix(v, `"`):
			end := closingQuote(v)
			if end < 0 {
				return nil, fmt.Errorf("line %d: %s's value opens a double quote it does not close", n, k)
			}
			v = strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\"`, `"`, `\\`, `\`).Replace(v[1:end])
		case strings.HasPrefix(v, "'"):
			end := strings.IndexByte(v[1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("line %d: %s's value opens a single quote it does not close", n, k)
			}
			v = v[1 : end+1]
		default:
			if i := strings.Index(v, " #"); i >= 0 {
				v = strings.TrimSpace(v[:i])
			}
		}
		out = append(out, dotenvEntry{k, v})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// closingQuote is the index of the double quote closing v's first, or -1.
func closingQuote(v string) int {
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// runSecretPutFrom stores every entry of a dotenv file as a secret.
func (g *global) runSecretPutFrom(ctx context.Context, projectID, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return withHint(fmt.Errorf("read %s: %w", path, err), "pass the dotenv file to import, e.g. --from .dev.vars")
	}
	if st.Size() > maxSecretInput {
		return fmt.Errorf("%s is over %d bytes", path, maxSecretInput)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	entries, err := parseDotenv(b)
	if err != nil {
		return withHint(fmt.Errorf("%s: %w", path, err), "fix the file; nothing was stored")
	}
	if len(entries) == 0 {
		return fmt.Errorf("%s holds no KEY=VALUE line; nothing was stored", path)
	}
	if len(entries) > maxDotenvSecrets {
		return fmt.Errorf("%s holds %d entries; at most %d are imported at once", path, len(entries), maxDotenvSecrets)
	}
	for _, e := range entries {
		if e.Value == "" {
			return withHint(fmt.Errorf("%s: %s is empty; nothing was stored", path, e.Key), "give it a value or remove the line")
		}
	}
	c, err := g.client(true)
	if err != nil {
		return err
	}
	if projectID, err = g.projectRef(ctx, c, projectID); err != nil {
		return err
	}
	names := make([]string, 0, len(entries))
	for i, e := range entries {
		if _, err := c.PutSecret(ctx, projectID, e.Key, e.Value); err != nil {
			if i > 0 {
				return fmt.Errorf("stored %s, then %s: %w", strings.Join(names, ", "), e.Key, err)
			}
			return err
		}
		names = append(names, e.Key)
	}
	if g.json {
		return g.printJSON(map[string]any{"stored": names})
	}
	g.chatter("Stored %d secret(s) from %s: %s; the live deployment sees them now.", len(names), path, strings.Join(names, ", "))
	return nil
}
