//go:build ignore

// contenttype_generate writes contenttype_table.go, the extension → media
// type table behind ContentType, from the npm package mime (Cloudflare's
// uploader uses mime@4's getType). Run it with `go generate ./pkg/manifest`;
// it needs npm and node.
//
// It installs the pinned mime version into a temporary directory, runs node
// to dump the package's two data files (types/standard.js, types/other.js)
// together with what mime.getType itself answers for every extension they
// mention, and builds the table with mime@4's rules:
//
//   - an extension listed with a leading "*" is an alternative for its type
//     and claims nothing;
//   - any other listing claims the extension for its type;
//   - two types claiming one extension is an error (mime@4's define throws
//     unless forced, and the built-in instance never forces).
//
// The result must equal getType for every extension, or nothing is written:
// the dump of getType is the reference, the rules only explain it.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
)

// dumpScript runs in node with mime installed under the working directory.
// It prints one JSON document: the package's version and copyright line, its
// two data files, and getType of "/x.<ext>" for every extension in them.
const dumpScript = `
import { readFileSync } from 'node:fs';
import mime from 'mime';
import standard from 'mime/types/standard.js';
import other from 'mime/types/other.js';

const pkg = JSON.parse(readFileSync('node_modules/mime/package.json', 'utf8'));
const license = readFileSync('node_modules/mime/LICENSE', 'utf8');
const copyright = license.split('\n').find((l) => l.startsWith('Copyright')) ?? '';
const getType = {};
for (const data of [standard, other]) {
  for (const exts of Object.values(data)) {
    for (const ext of exts) {
      const bare = ext.replace(/^\*/, '').toLowerCase();
      getType[bare] = mime.getType('/x.' + bare);
    }
  }
}
process.stdout.write(JSON.stringify({
  version: pkg.version, license: pkg.license, copyright, standard, other, getType,
}));
`

type dump struct {
	Version   string              `json:"version"`
	License   string              `json:"license"`
	Copyright string              `json:"copyright"`
	Standard  map[string][]string `json:"standard"`
	Other     map[string][]string `json:"other"`
	GetType   map[string]*string  `json:"getType"`
}

// keyRE is what ContentType's case folding assumes of every key.
var keyRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.+-]*$`)

func main() {
	log.SetFlags(0)
	log.SetPrefix("contenttype_generate: ")
	version := flag.String("mime", "", "exact version of the npm package mime to read, e.g. 4.1.2")
	out := flag.String("o", "contenttype_table.go", "output file")
	flag.Parse()
	if !regexp.MustCompile(`^4\.\d+\.\d+$`).MatchString(*version) {
		log.Fatalf("-mime %q: want an exact 4.x.y version", *version)
	}

	d, err := load(*version)
	if err != nil {
		log.Fatal(err)
	}
	table, err := build(d)
	if err != nil {
		log.Fatal(err)
	}
	src, err := render(d, table)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s: %d extensions from mime@%s", *out, len(table), d.Version)
}

// load installs mime@version into a temporary directory and runs dumpScript
// there.
func load(version string) (*dump, error) {
	dir, err := os.MkdirTemp("", "contenttype-mime-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	install := exec.Command("npm", "install", "--prefix", dir, "--no-save", "--no-package-lock",
		"--ignore-scripts", "--no-audit", "--no-fund", "mime@"+version)
	install.Stdout, install.Stderr = os.Stderr, os.Stderr
	if err := install.Run(); err != nil {
		return nil, fmt.Errorf("npm install mime@%s: %w", version, err)
	}

	node := exec.Command("node", "--input-type=module", "-e", dumpScript)
	node.Dir = dir
	node.Stderr = os.Stderr
	raw, err := node.Output()
	if err != nil {
		return nil, fmt.Errorf("run mime in node: %w", err)
	}
	var d dump
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("decode node output: %w", err)
	}
	if d.Version != version {
		return nil, fmt.Errorf("npm installed mime@%s, want %s", d.Version, version)
	}
	if len(d.GetType) == 0 {
		return nil, fmt.Errorf("mime@%s: no extensions in the data files", version)
	}
	return &d, nil
}

// build applies mime@4's define rules to the data files and checks the result
// against getType.
func build(d *dump) (map[string]string, error) {
	table := map[string]string{}
	for _, data := range []map[string][]string{d.Standard, d.Other} {
		for typ, exts := range data {
			typ = strings.ToLower(typ)
			for _, ext := range exts {
				ext = strings.ToLower(ext)
				if strings.HasPrefix(ext, "*") {
					continue
				}
				if prev, ok := table[ext]; ok && prev != typ {
					return nil, fmt.Errorf("extension %q claimed by both %s and %s", ext, prev, typ)
				}
				table[ext] = typ
			}
		}
	}

	var errs []string
	for ext, want := range d.GetType {
		got, ok := table[ext]
		switch {
		case want == nil && ok:
			errs = append(errs, fmt.Sprintf("%s: table has %s, getType has none", ext, got))
		case want != nil && got != *want:
			errs = append(errs, fmt.Sprintf("%s: table has %q, getType has %s", ext, got, *want))
		}
	}
	for ext := range table {
		if _, ok := d.GetType[ext]; !ok {
			errs = append(errs, fmt.Sprintf("%s: not checked against getType", ext))
		}
		if !keyRE.MatchString(ext) {
			errs = append(errs, fmt.Sprintf("%q: not a lower-case ASCII extension", ext))
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return nil, fmt.Errorf("table differs from mime@%s getType:\n%s", d.Version, strings.Join(errs, "\n"))
	}
	return table, nil
}

// render writes the table as a gofmt'ed Go file, sorted by extension.
func render(d *dump, table map[string]string) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by contenttype_generate.go from mime@%s; DO NOT EDIT.\n\n", d.Version)
	fmt.Fprintf(&b, "// The data below is the extension-to-type mapping of the npm package\n")
	fmt.Fprintf(&b, "// mime@%s (types/standard.js and types/other.js, as its getType applies\n", d.Version)
	fmt.Fprintf(&b, "// them), https://github.com/broofa/mime, %s License, %s.\n\n", d.License, d.Copyright)
	b.WriteString("package manifest\n\n")
	b.WriteString("// contentTypes maps a lower-case extension to the media type mime's getType\n")
	fmt.Fprintf(&b, "// returns for it (%d extensions).\n", len(table))
	b.WriteString("var contentTypes = map[string]string{\n")
	exts := make([]string, 0, len(table))
	for ext := range table {
		exts = append(exts, ext)
	}
	slices.Sort(exts)
	for _, ext := range exts {
		fmt.Fprintf(&b, "\t%q: %q,\n", ext, table[ext])
	}
	b.WriteString("}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("format output: %w", err)
	}
	return src, nil
}
