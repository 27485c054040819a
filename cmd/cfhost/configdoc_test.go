package main

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cfdeploy/cfdeploy/internal/clidoc"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite cfhost's part of docs/configuration.md")

// TestConfigurationDoc fails when docs/configuration.md no longer describes
// the flags cfhost has; `go generate ./cmd/cfhost` (this test with -update-docs)
// rewrites its part.
func TestConfigurationDoc(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "configuration.md")
	if err := clidoc.Sync(path, "cfhost", configurationDoc(), "go generate ./cmd/cfhost", *updateDocs); err != nil {
		t.Fatal(err)
	}
}

// configurationDoc is the reference of every cfhost command. The config
// keys and variables of `cfhost serve` come from its settings table, as
// loadSettings derives them.
func configurationDoc() string {
	var o serveOptions
	keys := map[string]string{}
	for _, s := range o.settings() {
		keys[s.flag] = s.key()
	}
	return clidoc.Commands(newRootCmd(), func(c *cobra.Command, f *pflag.Flag) clidoc.Source {
		if c.Name() != "serve" {
			return clidoc.Source{}
		}
		if f.Name == "config" {
			return clidoc.Source{Env: "CFHOST_CONFIG"}
		}
		k, ok := keys[f.Name]
		if !ok {
			return clidoc.Source{}
		}
		return clidoc.Source{Env: "CFHOST_" + strings.ToUpper(k), Key: k}
	})
}
