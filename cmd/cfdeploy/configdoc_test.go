package main

import (
	"flag"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/cfdeploy/cfdeploy/internal/clidoc"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite cfdeploy's part of docs/configuration.md")

// TestConfigurationDoc fails when docs/configuration.md no longer describes
// the flags and cfdeploy.toml keys cfdeploy has; `go generate ./cmd/cfdeploy`
// (this test with -update-docs) rewrites its part.
func TestConfigurationDoc(t *testing.T) {
	t.Parallel()
	doc, err := configurationDoc()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "docs", "configuration.md")
	if err := clidoc.Sync(path, "cfdeploy", doc, "go generate ./cmd/cfdeploy", *updateDocs); err != nil {
		t.Fatal(err)
	}
}

// flagKeys are the flags whose value viper also takes from a
// cfdeploy.toml key and a CFDEPLOY_ variable: the keys the commands bind
// (root.go's load, deploy.go's deployOptions, deployments.go's projectID).
// Every visible flag must be here or in flagOnly, so a new flag makes this
// test fail until someone says where it may be set.
var flagKeys = map[string]string{
	"host":               "host",
	"token":              "token",
	"base-domain":        "base_domain",
	"project":            "project_id",
	"html-handling":      "assets.html_handling",
	"not-found-handling": "assets.not_found_handling",
	"run-worker-first":   "assets.run_worker_first",
	"server":             "server.entrypoint",
	"compatibility-date": "server.compatibility_date",
	"no-bundle":          "server.no_bundle",
	"concurrency":        "concurrency",
}

// flagOnly are flags set on the command line only, with the environment
// variable of those that have one.
var flagOnly = map[string]string{
	"config":             "CFDEPLOY_CONFIG",
	"json":               "",
	"module":             "",
	"env":                "",
	"dry-run":            "",
	"allow-empty":        "",
	"strict":             "",
	"no-server":          "",
	"port":               "",
	"debounce":           "",
	"name":               "",
	"dir":                "",
	"force":              "",
	"yes":                "",
	"no-cache":           "",
	"no-follow":          "",
	"manifest":           "",
	"preview":            "",
	"branch":             "",
	"slug":               "",
	"compatibility-flag": "",
	"env-name":           "",
	"from":               "",
}

// fileOnlyKeys are cfdeploy.toml keys no flag binds: what they mean and
// whether viper reads them (so a CFDEPLOY_ variable sets them too) or the
// typed fileConfig alone does.
var fileOnlyKeys = map[string]struct {
	meaning string
	env     bool
}{
	"name":                       {"project name, written by `cfdeploy init`; a deploy renames the project to match", true},
	"production_branch":          {"branch whose deploys go live: `deploy --branch` with another branch deploys a preview", true},
	"dir":                        {"site directory to deploy, relative to cfdeploy.toml (an argument DIR overrides it)", true},
	"server.modules":             {"extra server module files or globs (`**` for any directories), relative to cfdeploy.toml (`--module` replaces the list); a JavaScript Worker's modules are named by their path from the entrypoint's directory", false},
	"env":                        {"table of `KEY = \"value\"` pairs passed to server code (`--env` adds and overrides)", false},
	"server.compatibility_flags": {"compatibility flags sent with the server code (`--compatibility-flag` replaces the list)", false},
}

// envFor is the variable viper reads for key (root.go's replacer).
func envFor(key string) string {
	return "CFDEPLOY_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// configurationDoc is the reference of every cfdeploy command and of
// cfdeploy.toml.
func configurationDoc() (string, error) {
	root := newRootCmd(&global{io: &IOStreams{}, v: viper.New()})
	var problems []string
	usage := map[string]string{}
	cmds := clidoc.Commands(root, func(c *cobra.Command, f *pflag.Flag) clidoc.Source {
		if k, ok := flagKeys[f.Name]; ok {
			usage[f.Name] = f.Usage
			return clidoc.Source{Env: envFor(k), Key: k}
		}
		env, ok := flagOnly[f.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("--%s of %q is neither in flagKeys nor in flagOnly", f.Name, c.CommandPath()))
		}
		return clidoc.Source{Env: env}
	})

	keyFlag := map[string]string{}
	for f, k := range flagKeys {
		keyFlag[k] = f
	}
	keys := map[string]bool{}
	for k := range keyFlag {
		keys[k] = true
	}
	for _, k := range tomlKeys(reflect.TypeOf(fileConfig{}), "") {
		keys[k] = true
		if _, ok := keyFlag[k]; !ok {
			if _, ok := fileOnlyKeys[k]; !ok {
				problems = append(problems, fmt.Sprintf("cfdeploy.toml key %s is neither bound to a flag (flagKeys) nor described in fileOnlyKeys", k))
			}
		}
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var rows [][]string
	for _, k := range sorted {
		if f, ok := keyFlag[k]; ok {
			rows = append(rows, []string{"`" + k + "`", "`--" + f + "`", "`" + envFor(k) + "`", usage[f]})
			continue
		}
		d := fileOnlyKeys[k]
		env := ""
		if d.env {
			env = "`" + envFor(k) + "`"
		}
		rows = append(rows, []string{"`" + k + "`", "", env, d.meaning})
	}
	if len(problems) > 0 {
		return "", fmt.Errorf("docs/configuration.md cannot say where these are set:\n%s", strings.Join(problems, "\n"))
	}
	var b strings.Builder
	b.WriteString(cmds)
	b.WriteString("### `cfdeploy.toml`\n\nEvery key, with the flag and variable that override it.\n\n")
	b.WriteString(clidoc.Table([]string{"key", "flag", "environment", "meaning"}, rows))
	return b.String(), nil
}

// tomlKeys lists the dotted keys of a struct with toml tags, descending
// into tables.
func tomlKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			out = append(out, tomlKeys(f.Type, prefix+name+".")...)
			continue
		}
		out = append(out, prefix+name)
	}
	return out
}
