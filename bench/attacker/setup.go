package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// bigSitePaths is the size of the site the rebuild attack redeploys: the
// 100,000 paths of the original finding, all one small blob, so a redeploy
// costs the tenant one manifest and the host a whole site to build.
const bigSitePaths = 100_000

// bigSiteBlob is the content every path of the big site shares.
var bigSiteBlob = []byte("<p>same page</p>")

// project is one project setup deploys: its files, rules and server code.
type project struct {
	name   string
	files  map[string]string
	config *api.AssetConfig
	guest  bool
}

// projects are the victim and the attackers, in the order setup prints
// them. The rules are the shapes test/e2e/hostile_rules_test.go attacks
// with.
func projects() []project {
	page := victimPage()
	return []project{
		{name: "victim", files: map[string]string{"/index.html": page}, guest: true},
		{name: "plain", files: map[string]string{"/index.html": "home"}},
		{name: "amplify", files: map[string]string{"/index.html": "home"}, config: &api.AssetConfig{
			Headers:   "/*\n  X-Amp: " + strings.Repeat(":splat", 300) + "\n  X-Path: :splat\n",
			Redirects: "/r/* " + strings.Repeat("/:splat", 250) + " 302\n",
		}},
		{name: "maximal", files: map[string]string{"/index.html": "home"}, config: maximalRules()},
		{name: "trickle", files: map[string]string{"/static.txt": "static"}, guest: true},
		{name: "deep404", files: map[string]string{"/404.html": "root 404", "/a/404.html": "a 404", "/index.html": "home"},
			config: &api.AssetConfig{NotFoundHandling: "404-page"}},
		{name: "flood", files: map[string]string{"/static.txt": "static"}, guest: true},
	}
}

// victimPage is a 4 KiB HTML page, as bench/static.sh serves.
func victimPage() string {
	var b strings.Builder
	b.WriteString("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>victim</title></head><body>\n")
	for i := 1; b.Len() < 4096; i++ {
		fmt.Fprintf(&b, "<p>line %03d</p>\n", i)
	}
	return b.String()[:4096]
}

// maximalRules are 100 redirects and 100 header blocks of ten placeholders
// each, in the shapes that cost a matcher most.
func maximalRules() *api.AssetConfig {
	var redirects, headers strings.Builder
	for i := range 100 {
		tag := "~" + string(rune('A'+i/26)) + string(rune('A'+i%26))
		var rule string
		switch i % 4 {
		case 0:
			rule = "/:a:b:c:d:e:f:g:h:i:j" + tag
		case 1:
			rule = "/:a" + tag + ":b:c:d:e:f:g:h:i" + tag + ":j"
		case 2:
			rule = "/:a:b:c:d:e:f:g:h:i-" + tag + ":j"
		case 3:
			rule = "/:a:b:c:d:e:f:g:h:i" + strings.Repeat("-", rules.MaxRuleInnerLiteral-len(tag)) + tag + ":j"
		}
		fmt.Fprintf(&redirects, "%s /to 302\n", rule)
		fmt.Fprintf(&headers, "%s\n  X-Rule: %d\n", rule, i)
	}
	return &api.AssetConfig{Redirects: redirects.String(), Headers: headers.String()}
}

// setup creates and deploys every project and prints "name id" for each.
func setup(ctx context.Context, apiURL, token, guestPath, dir string, out io.Writer) error {
	c, err := client.New(apiURL, client.Options{Token: token})
	if err != nil {
		return err
	}
	wasm, err := os.ReadFile(guestPath)
	if err != nil {
		return err
	}
	sc := &api.ServerCode{Entrypoint: "guest.wasm", Modules: map[string]api.Module{
		"guest.wasm": {Content: base64.StdEncoding.EncodeToString(wasm), Type: "wasm"},
	}}
	for _, p := range projects() {
		created, err := c.CreateProject(ctx, p.name)
		if err != nil {
			return err
		}
		site := filepath.Join(dir, p.name)
		for path, content := range p.files {
			file := filepath.Join(site, filepath.FromSlash(path))
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
				return err
			}
		}
		opts := client.DeployOptions{ProjectID: created.ID, Dir: site, Config: p.config}
		if p.guest {
			opts.ServerCode = sc
		}
		if _, err := c.Deploy(ctx, opts); err != nil {
			return fmt.Errorf("deploy %s: %w", p.name, err)
		}
		fmt.Fprintln(out, p.name, created.ID)
	}
	big, err := c.CreateProject(ctx, "rebuild")
	if err != nil {
		return err
	}
	if err := deployBigSite(ctx, c, big.ID, filepath.Join(dir, "blob")); err != nil {
		return err
	}
	fmt.Fprintln(out, "rebuild", big.ID)
	return nil
}

// bigSite is the manifest of the rebuild attack's site.
func bigSite() api.Manifest {
	sum := sha256.Sum256(bigSiteBlob)
	hash := hex.EncodeToString(sum[:])
	m := make(api.Manifest, bigSitePaths)
	for i := range bigSitePaths {
		m[fmt.Sprintf("/p/%06d.html", i)] = api.ManifestEntry{Hash: hash, Size: int64(len(bigSiteBlob))}
	}
	return m
}

// deployBigSite deploys the big site once more. The first time it uploads
// the one blob (from blobFile, written here); after that the host already
// holds it, and a deploy is a manifest and a finalize.
func deployBigSite(ctx context.Context, c *client.Client, id, blobFile string) error {
	m := bigSite()
	sess, err := c.CreateUploadSession(ctx, id, m)
	if err != nil {
		return err
	}
	completion := sess.JWT
	for _, bucket := range sess.Buckets {
		if err := os.WriteFile(blobFile, bigSiteBlob, 0o644); err != nil {
			return err
		}
		var files []manifest.File
		for _, h := range bucket {
			files = append(files, manifest.File{Path: "/blob", OSPath: blobFile, Size: int64(len(bigSiteBlob)), Hash: h})
		}
		jwt, err := c.UploadBucket(ctx, id, sess.JWT, files, nil)
		if err != nil {
			return err
		}
		if jwt != "" {
			completion = jwt
		}
	}
	if _, err := c.Finalize(ctx, id, api.DeployRequest{CompletionJWT: completion}); err != nil {
		return err
	}
	return nil
}
