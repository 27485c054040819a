// Package clidoc writes the reference of a cobra command tree as Markdown:
// every command, every flag with its default, and the environment variable
// and config-file key that set it too. The programs' tests render their own
// trees with it and keep docs/configuration.md in step, so the reference is
// generated from the flags users actually get and cannot drift from them.
package clidoc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Source is where else a flag's value may come from besides the command
// line. Empty fields mean "nowhere".
type Source struct {
	Env string // environment variable
	Key string // key in the program's config file
}

// Describe says where else flag of cmd may be set.
type Describe func(cmd *cobra.Command, flag *pflag.Flag) Source

// Commands renders root and every visible command under it, depth first in
// name order: a heading with the command line, its short description and a
// table of its own flags (persistent flags are listed once, on the command
// that defines them).
func Commands(root *cobra.Command, describe Describe) string {
	var b strings.Builder
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		writeCommand(&b, c, describe)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return b.String()
}

func writeCommand(b *strings.Builder, c *cobra.Command, describe Describe) {
	fmt.Fprintf(b, "### `%s`\n\n", c.CommandPath())
	if c.Runnable() {
		fmt.Fprintf(b, "`%s`", c.UseLine())
		if c.Short != "" {
			b.WriteString(": ")
		}
	}
	if c.Short != "" {
		b.WriteString(sentence(c.Short))
	}
	b.WriteString("\n\n")
	flags := ownFlags(c)
	if len(flags) == 0 {
		b.WriteString("No flags of its own.\n\n")
		return
	}
	rows := make([][]string, 0, len(flags))
	for _, f := range flags {
		src := describe(c, f)
		rows = append(rows, []string{flagName(f), code(defaultValue(f)), code(src.Env), code(src.Key), f.Usage})
	}
	b.WriteString(Table([]string{"flag", "default", "environment", "config key", "meaning"}, rows))
	b.WriteString("\n")
}

// ownFlags lists the visible flags c defines itself, persistent or not, in
// name order. It reads the flag sets as defined, without cobra's merging of
// inherited flags.
func ownFlags(c *cobra.Command) []*pflag.Flag {
	seen := map[string]bool{}
	var out []*pflag.Flag
	add := func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" || seen[f.Name] {
			return
		}
		seen[f.Name] = true
		out = append(out, f)
	}
	c.Flags().VisitAll(add)
	c.PersistentFlags().VisitAll(add)
	// Both sets are visited in name order; keep the whole list so.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Name < out[j-1].Name; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// flagName is how the flag is written, with the kind of value it takes.
func flagName(f *pflag.Flag) string {
	s := "--" + f.Name
	if f.Shorthand != "" {
		s = "-" + f.Shorthand + ", " + s
	}
	switch t := f.Value.Type(); t {
	case "bool":
	case "stringArray", "stringSlice":
		s += " string (repeatable)"
	default:
		s += " " + t
	}
	return "`" + s + "`"
}

func defaultValue(f *pflag.Flag) string {
	switch f.DefValue {
	case "[]":
		return ""
	}
	return f.DefValue
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}

// sentence ends s with a full stop.
func sentence(s string) string {
	if strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}

// Table renders a Markdown table; pipes inside cells are escaped.
func Table(header []string, rows [][]string) string {
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + strings.ReplaceAll(c, "|", `\|`) + " |")
		}
		b.WriteString("\n")
	}
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
	return b.String()
}

// Begin and End mark the generated part named name inside a document.
func Begin(name string) string { return "<!-- BEGIN GENERATED " + name + " -->\n" }
func End(name string) string   { return "<!-- END GENERATED " + name + " -->\n" }

// Splice replaces what lies between name's markers in doc with body.
func Splice(doc []byte, name, body string) ([]byte, error) {
	begin, end := []byte(Begin(name)), []byte(End(name))
	i := bytes.Index(doc, begin)
	j := bytes.Index(doc, end)
	if i < 0 || j < i {
		return nil, fmt.Errorf("no %q … %q markers", strings.TrimSpace(string(begin)), strings.TrimSpace(string(end)))
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(begin)])
	out.WriteString(body)
	out.Write(doc[j:])
	return out.Bytes(), nil
}

// ErrStale says the committed document differs from what the code
// generates now.
var ErrStale = errors.New("is out of date")

// Sync puts body between name's markers in the file at path. With write
// false it only compares, and returns an error wrapping ErrStale when the
// file differs; regenerate tells the reader the command that fixes it.
func Sync(path, name, body, regenerate string, write bool) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	want, err := Splice(doc, name, body)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if bytes.Equal(doc, want) {
		return nil
	}
	if write {
		return os.WriteFile(path, want, 0o644)
	}
	return fmt.Errorf("%s %w for %s: run %s and commit the result", path, ErrStale, name, regenerate)
}
