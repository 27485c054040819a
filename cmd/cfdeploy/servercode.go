package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cfdeploy/cfdeploy/internal/jsbundle"
	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// loadedServerCode is a deploy's server code as read from disk: what is
// sent, whether it was bundled, and the files it came from (which dev
// watches).
type loadedServerCode struct {
	Code    *api.ServerCode
	Bundled bool
	Inputs  []string
}

// serverCode reads the deploy's server code, with its compatibility date
// and flags, or returns nil when there is none. A .wasm entrypoint is a
// WASI guest sent with its modules as they are; JavaScript and TypeScript
// are bundled with esbuild unless --no-bundle.
func (o deployOptions) serverCode() (*loadedServerCode, error) {
	modules, err := expandModuleGlobs(o.Modules)
	if err != nil {
		return nil, err
	}
	var l loadedServerCode
	switch {
	case o.Server != "" && jsbundle.IsJS(o.Server):
		res, err := jsbundle.Load(jsbundle.Options{Entrypoint: o.Server, Modules: modules, NoBundle: o.NoBundle})
		if err != nil {
			var be *jsbundle.BuildError
			if errors.As(err, &be) {
				return nil, withHint(err, "fix the code at the place named above, then deploy again")
			}
			return nil, err
		}
		l.Code = &api.ServerCode{Entrypoint: res.Entrypoint, Modules: make(map[string]api.Module, len(res.Modules))}
		for _, m := range res.Modules {
			l.Code.Modules[m.Name] = api.Module{Content: base64.StdEncoding.EncodeToString(m.Content), Type: m.Type}
		}
		l.Bundled, l.Inputs = res.Bundled, res.Inputs
	default:
		sc, err := client.LoadServerCode(o.Server, modules)
		if err != nil || sc == nil {
			return nil, err
		}
		l.Code = sc
		l.Inputs = append([]string{o.Server}, modules...)
	}
	l.Code.CompatibilityDate = o.CompatibilityDate
	l.Code.CompatibilityFlags = o.CompatibilityFlags
	return &l, nil
}

// code is the server code to send, nil for none.
func (l *loadedServerCode) code() *api.ServerCode {
	if l == nil {
		return nil
	}
	return l.Code
}

// serverModule is one module in a dry run's report.
type serverModule struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Bytes int    `json:"bytes"`
}

// modules lists what would be sent, the entrypoint first, the others by
// name.
func (l *loadedServerCode) modules() []serverModule {
	if l == nil {
		return nil
	}
	out := make([]serverModule, 0, len(l.Code.Modules))
	for name, m := range l.Code.Modules {
		b, _ := base64.StdEncoding.DecodeString(m.Content)
		out = append(out, serverModule{Name: name, Type: m.Type, Bytes: len(b)})
	}
	slices.SortFunc(out, func(a, b serverModule) int {
		switch {
		case a.Name == l.Code.Entrypoint:
			return -1
		case b.Name == l.Code.Entrypoint:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// expandModuleGlobs turns the modules setting into files: a plain path is
// kept (it must exist when read), a pattern with *, ? or [ ] is matched
// against the files below its fixed leading directories, where ** matches
// any number of directories. A pattern that matches nothing is an error,
// so a typo does not drop a module silently. node_modules and dot
// directories are only searched when the pattern names them.
func expandModuleGlobs(patterns []string) ([]string, error) {
	var out []string
	for _, pat := range patterns {
		if !hasGlobMeta(pat) {
			out = append(out, pat)
			continue
		}
		slashed := filepath.ToSlash(pat)
		parts := strings.Split(slashed, "/")
		fixed := 0
		for fixed < len(parts)-1 && !hasGlobMeta(parts[fixed]) {
			fixed++
		}
		root := strings.Join(parts[:fixed], "/")
		if root == "" && strings.HasPrefix(slashed, "/") {
			root = "/"
		} else if root == "" {
			root = "."
		}
		rest := parts[fixed:]
		for _, p := range rest {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("server module pattern %q: %w", pat, err)
			}
		}
		var found []string
		err := filepath.WalkDir(filepath.FromSlash(root), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(filepath.FromSlash(root), p)
			rel = filepath.ToSlash(rel)
			if d.IsDir() {
				if rel != "." && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && !strings.Contains(pat, d.Name()) {
					return filepath.SkipDir
				}
				return nil
			}
			if matchSegments(rest, strings.Split(rel, "/")) {
				found = append(found, p)
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("server module pattern %q: %w", pat, err)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("server module pattern %q matches no file", pat)
		}
		out = append(out, found...)
	}
	return out, nil
}

func hasGlobMeta(s string) bool { return strings.ContainsAny(s, "*?[") }

// matchSegments matches path segments against pattern segments, "**"
// standing for zero or more segments.
func matchSegments(pat, segs []string) bool {
	if len(pat) == 0 {
		return len(segs) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(segs); i++ {
			if matchSegments(pat[1:], segs[i:]) {
				return true
			}
		}
		return false
	}
	if len(segs) == 0 {
		return false
	}
	if ok, _ := path.Match(pat[0], segs[0]); !ok {
		return false
	}
	return matchSegments(pat[1:], segs[1:])
}
