// Command gen re-creates the committed JavaScript engine of package jsrt from
// its pinned npm package: it runs `npm pack`, checks the tarball against the
// pinned integrity, extracts the emscripten build's .wasm, records its
// version and sha256, and writes a Go table mapping the build's minified
// import and export names to what they mean, read from the emscripten glue.
// Only this command needs npm; building and testing use the committed files.
//
// Run it with `go generate ./internal/host/jsrt`.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"go/format"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// The pinned package: changing the version means changing the integrity too,
// after reviewing what the new build imports.
const (
	pkgName    = "@jitl/quickjs-ng-wasmfile-release-sync"
	pkgVersion = "0.32.0"
	// pkgIntegrity is npm's sha512 of the tarball.
	pkgIntegrity = "sha512-XAX2jjZWWh3M0YaRqi82xMKNW/gkF6mo3MpW3UY2cmVxnQai1JuboVsJQVoLU629iEL4XWvHtO4h5lo7NRnAcg=="
	// engineVersion is the QuickJS-ng release inside that package.
	engineVersion = "quickjs-ng 0.12.1"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	tmp, err := os.MkdirTemp("", "jsrt-gen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("npm", "pack", "--silent", pkgName+"@"+pkgVersion)
	cmd.Dir = tmp
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("npm pack: %w", err)
	}
	tgz, err := os.ReadFile(filepath.Join(tmp, strings.TrimSpace(string(out))))
	if err != nil {
		return fmt.Errorf("read tarball: %w", err)
	}
	sum := sha512.Sum512(tgz)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != pkgIntegrity {
		return fmt.Errorf("tarball integrity %s, want the pinned %s", got, pkgIntegrity)
	}
	files, err := untar(tgz, "package/dist/emscripten-module.wasm", "package/dist/emscripten-module.mjs", "package/LICENSE")
	if err != nil {
		return err
	}
	wasm, glue := files["package/dist/emscripten-module.wasm"], files["package/dist/emscripten-module.mjs"]
	imports, err := parseImports(string(glue))
	if err != nil {
		return err
	}
	exports, err := parseExports(string(glue))
	if err != nil {
		return err
	}
	wsum := sha256.Sum256(wasm)
	if err := os.WriteFile("engine.wasm", wasm, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile("engine.LICENSE", files["package/LICENSE"], 0o644); err != nil {
		return err
	}
	version := fmt.Sprintf("%s@%s\n%s\nsha256 %s\n", pkgName, pkgVersion, engineVersion, hex.EncodeToString(wsum[:]))
	if err := os.WriteFile("engine.version", []byte(version), 0o644); err != nil {
		return err
	}
	src, err := table(imports, exports, hex.EncodeToString(wsum[:]))
	if err != nil {
		return err
	}
	return os.WriteFile("names_gen.go", src, 0o644)
}

func untar(tgz []byte, want ...string) (map[string][]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, fmt.Errorf("open tarball: %w", err)
	}
	tr := tar.NewReader(zr)
	got := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read tarball: %w", err)
		}
		for _, w := range want {
			if h.Name == w {
				b, err := io.ReadAll(io.LimitReader(tr, 8<<20))
				if err != nil {
					return nil, fmt.Errorf("read %s: %w", w, err)
				}
				got[w] = b
			}
		}
	}
	for _, w := range want {
		if got[w] == nil {
			return nil, fmt.Errorf("tarball has no %s", w)
		}
	}
	return got, nil
}

// importMeanings recognises each field of the glue's import object by a
// fragment of its body that only that import's implementation contains.
var importMeanings = []struct{ meaning, fragment string }{
	{"assert_fail", "Assertion failed"},
	{"abort", `()=>N("")`},
	{"keepalive_clear", "=!1;S=0"},
	{"localtime_js", "getTimezoneOffset()==Math.min"},
	{"setitimer_js", "clearTimeout("},
	{"tzset_js", "`UTC${"},
	{"clock_time_get", "return 28;"},
	{"date_now", "()=>Date.now()"},
	{"resize_heap", "2147483648<a"},
	{"environ_get", "for(f of sa())"},
	{"environ_sizes_get", ".length;a=0;for"},
	{"fd_close", "()=>52"},
	{"fd_seek", "return 70"},
	{"fd_write", "M[e>>2]=f;return 0"},
	{"call_function", "callbacks.callFunction"},
	{"should_interrupt", "callbacks.shouldInterrupt"},
	{"load_module_source", "callbacks.loadModuleSource"},
	{"normalize_module", "callbacks.normalizeModule"},
	{"free_host_ref", "callbacks.freeHostRef"},
}

// parseImports finds the import object (`var c={a:NAME}` names it), splits
// it into its top-level fields and names each by importMeanings. The field
// whose value is the memory variable is the memory; the one naming the
// exit function is proc_exit.
func parseImports(glue string) (map[string]string, error) {
	m := regexp.MustCompile(`var c=\{a:([A-Za-z_$][\w$]*)\}`).FindStringSubmatch(glue)
	if m == nil {
		return nil, errors.New("glue: no import object")
	}
	start := strings.Index(glue, m[1]+"={")
	if start < 0 {
		return nil, fmt.Errorf("glue: import object %s not defined", m[1])
	}
	body, err := braced(glue[start+len(m[1])+1:])
	if err != nil {
		return nil, err
	}
	fields := splitTop(body)
	memVar := regexp.MustCompile(`d\.wasmMemory\?([A-Za-z_$][\w$]*)=d\.wasmMemory`).FindStringSubmatch(glue)
	exitVar := regexp.MustCompile(`([A-Za-z_$][\w$]*)=a=>\{G=a;`).FindStringSubmatch(glue)
	if memVar == nil || exitVar == nil {
		return nil, errors.New("glue: cannot find the memory or exit function")
	}
	out := map[string]string{}
	seen := map[string]bool{}
	for _, f := range fields {
		name, val, ok := strings.Cut(f, ":")
		if !ok {
			return nil, fmt.Errorf("glue: import field %q", f)
		}
		meaning := ""
		switch val {
		case memVar[1]:
			meaning = "memory"
		case exitVar[1]:
			meaning = "proc_exit"
		}
		for _, im := range importMeanings {
			if strings.Contains(val, im.fragment) {
				if meaning != "" {
					return nil, fmt.Errorf("glue: import %s is both %s and %s", name, meaning, im.meaning)
				}
				meaning = im.meaning
			}
		}
		if meaning == "" {
			return nil, fmt.Errorf("glue: import %s (%.60s) not recognised", name, val)
		}
		if seen[meaning] {
			return nil, fmt.Errorf("glue: two imports are %s", meaning)
		}
		seen[meaning] = true
		out[meaning] = name
	}
	if len(out) != len(importMeanings)+2 {
		return nil, fmt.Errorf("glue: %d imports recognised, want %d", len(out), len(importMeanings)+2)
	}
	return out, nil
}

// parseExports maps `d._QTS_X=b.y` (and malloc/free) to their export names,
// and the constructor the glue calls as `Z.v()`.
func parseExports(glue string) (map[string]string, error) {
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`d\._(\w+)=b\.([\w$]+)`).FindAllStringSubmatch(glue, -1) {
		out[m[1]] = m[2]
	}
	ctor := regexp.MustCompile(`ca=!0;Z\.([\w$]+)\(\)`).FindStringSubmatch(glue)
	if ctor == nil {
		return nil, errors.New("glue: no constructor call")
	}
	out["__wasm_call_ctors"] = ctor[1]
	for _, need := range []string{"malloc", "free", "QTS_NewRuntime", "QTS_Eval", "QTS_Call"} {
		if out[need] == "" {
			return nil, fmt.Errorf("glue: no export for %s", need)
		}
	}
	return out, nil
}

// braced returns the text inside the {...} that s starts with, skipping
// strings and template literals.
func braced(s string) (string, error) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\'', '`':
			j, err := skipString(s, i)
			if err != nil {
				return "", err
			}
			i = j
		case '{', '(', '[':
			depth++
		case '}', ')', ']':
			depth--
			if depth == 0 {
				return s[1:i], nil
			}
		}
	}
	return "", errors.New("glue: unbalanced braces")
}

// skipString returns the index of the quote closing the string at s[i].
func skipString(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			return j, nil
		case '$':
			if q == '`' && j+1 < len(s) && s[j+1] == '{' {
				inner, err := braced(s[j+1:])
				if err != nil {
					return 0, err
				}
				j += len(inner) + 2
			}
		}
	}
	return 0, errors.New("glue: unterminated string")
}

// splitTop splits an object literal's body at its top-level commas.
func splitTop(body string) []string {
	var parts []string
	depth, last := 0, 0
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '"', '\'', '`':
			j, err := skipString(body, i)
			if err == nil {
				i = j
			}
		case '{', '(', '[':
			depth++
		case '}', ')', ']':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, body[last:i])
				last = i + 1
			}
		}
	}
	return append(parts, body[last:])
}

func table(imports, exports map[string]string, sum string) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by gen from %s@%s; DO NOT EDIT.\n\npackage jsrt\n\n", pkgName, pkgVersion)
	fmt.Fprintf(&b, "// engineSHA256 is the sha256 of engine.wasm as generated.\nconst engineSHA256 = %q\n\n", sum)
	b.WriteString("// importModule is the module every import of the engine comes from.\nconst importModule = \"a\"\n\n")
	b.WriteString("// importNames maps what an import does to its minified field name.\nvar importNames = map[string]string{\n")
	writeSorted(&b, imports)
	b.WriteString("}\n\n// exportNames maps a C function of the engine to its minified export name.\nvar exportNames = map[string]string{\n")
	writeSorted(&b, exports)
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}

func writeSorted(b *bytes.Buffer, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "\t%q: %q,\n", k, m[k])
	}
}
