package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// hashOptions are the inputs of hash.
type hashOptions struct {
	Dir      string
	NoCache  bool
	Manifest bool
}

// hashOutput is the --json document of hash.
type hashOutput struct {
	Files     int          `json:"files"`
	Bytes     int64        `json:"bytes"`
	Cached    int          `json:"cached"`
	BytesRead int64        `json:"bytesRead"`
	Seconds   float64      `json:"seconds"`
	Manifest  api.Manifest `json:"manifest,omitempty"`
}

func newHashCmd(g *global) *cobra.Command {
	var o hashOptions
	cmd := &cobra.Command{
		Use:   "hash [DIR]",
		Short: "Walk and hash DIR as deploy would, without a host",
		Long: `Walk and hash DIR exactly as deploy does (ignores, limits, the local hash
cache) and print a summary, or the manifest with --manifest. Useful to see
what would be deployed, and to measure the hash phase on its own.`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Dir = args[0]
			} else {
				o.Dir = g.resolve(g.v.GetString("dir"), g.fromFile(cmd, "dir", ""))
			}
			if o.Dir == "" {
				return usageError{fmt.Errorf("no directory: pass DIR or set dir in cfdeploy.toml")}
			}
			return g.runHash(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.NoCache, "no-cache", false, "read every file; neither use nor update the hash cache")
	cmd.Flags().BoolVar(&o.Manifest, "manifest", false, "print the manifest (path → hash and size)")
	return cmd
}

func (g *global) runHash(ctx context.Context, o hashOptions) error {
	start := time.Now()
	// The hash cache is read and parsed while the directory is walked.
	type opened struct {
		cache *manifest.Cache
		err   error
	}
	cachec := make(chan opened, 1)
	if o.NoCache {
		cachec <- opened{}
	} else {
		go func() {
			c, err := manifest.OpenCache(g.cachePath(o.Dir))
			cachec <- opened{c, err}
		}()
	}
	ig, err := manifest.LoadIgnorer(o.Dir)
	if err != nil {
		return err
	}
	tree, err := manifest.Walk(o.Dir, ig)
	if err != nil {
		return err
	}
	if err := manifest.Validate(tree.Files, manifest.DefaultLimits); err != nil {
		return err
	}
	oc := <-cachec
	if oc.err != nil {
		g.chatter("warning: %v", oc.err)
	}
	cache := oc.cache
	st, err := manifest.HashFiles(ctx, tree.Files, manifest.HashOptions{Cache: cache})
	if err != nil {
		return err
	}
	if err := cache.Save(); err != nil {
		g.chatter("warning: %v", err)
	}
	out := hashOutput{Files: st.Files, Bytes: st.Bytes, Cached: st.Cached, BytesRead: st.BytesRead, Seconds: time.Since(start).Seconds()}
	if o.Manifest {
		out.Manifest = make(api.Manifest, len(tree.Files))
		for _, f := range tree.Files {
			out.Manifest[f.Path] = api.ManifestEntry{Hash: f.Hash, Size: f.Size}
		}
	}
	if g.json || o.Manifest {
		return g.printJSON(out)
	}
	fmt.Fprintf(g.io.Out, "%d files, %s, %d from cache, %s read, %.3fs\n", st.Files, manifest.FormatBytes(st.Bytes), st.Cached, manifest.FormatBytes(st.BytesRead), out.Seconds)
	return nil
}
