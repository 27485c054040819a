//go:build unix

package pgtest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// initdbArgs are initdb's options after -D DIR.
var initdbArgs = []string{"-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"}

// initdb makes the cluster's data directory. initdb takes seconds (a
// bootstrap server runs a few thousand statements) and makes the same files
// every time, so the first cluster on a machine keeps a copy of them under
// the user cache directory, keyed by the server binaries and the options,
// and later clusters copy that instead. Any trouble with the copy falls back
// to initdb.
func (s *server) initdb(bin, data string) error {
	tmpl := templateDir(bin)
	if tmpl != "" {
		if err := copyTree(tmpl, data, s.runAs); err == nil {
			return nil
		}
		os.RemoveAll(data)
	}
	args := append([]string{"-D", data}, initdbArgs...)
	if out, err := s.command(filepath.Join(bin, "initdb"), args...).CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, out)
	}
	if tmpl != "" {
		keepTemplate(data, tmpl)
	}
	return nil
}

// templateDir is where the data directory initdb makes with these binaries
// and options is kept, or "" without a cache directory.
func templateDir(bin string) string {
	base, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	h := sha256.New()
	fmt.Fprintln(h, bin, strings.Join(initdbArgs, " "))
	for _, prog := range []string{"initdb", "postgres"} {
		info, err := os.Stat(filepath.Join(bin, prog))
		if err != nil {
			return ""
		}
		fmt.Fprintln(h, prog, info.Size(), info.ModTime().UnixNano())
	}
	return filepath.Join(base, "cfdeploy", "pgtest-template", hex.EncodeToString(h.Sum(nil))[:16])
}

// keepTemplate copies a fresh data directory to tmpl, whole or not at all
// (a rename publishes it; a cluster started meanwhile elsewhere may have
// published one first).
func keepTemplate(data, tmpl string) {
	if err := os.MkdirAll(filepath.Dir(tmpl), 0o755); err != nil {
		return
	}
	tmp := tmpl + ".tmp" + strconv.Itoa(os.Getpid())
	os.RemoveAll(tmp)
	if err := copyTree(data, tmp, nil); err != nil || os.Rename(tmp, tmpl) != nil {
		os.RemoveAll(tmp)
	}
}

// copyTree copies the directories and regular files under src to dst (which
// must not exist) with their permissions, owned by cred's user when cred is
// set. PostgreSQL checks both on its data directory.
func copyTree(src, dst string, cred *syscall.Credential) error {
	return filepath.WalkDir(src, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		info, err := de.Info()
		if err != nil {
			return err
		}
		switch {
		case de.IsDir():
			if err := os.Mkdir(to, 0o700); err != nil {
				return err
			}
		case de.Type().IsRegular():
			if err := copyFile(path, to); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: not a file or directory", path)
		}
		if err := os.Chmod(to, info.Mode().Perm()); err != nil {
			return err
		}
		if cred != nil {
			return os.Lchown(to, int(cred.Uid), int(cred.Gid))
		}
		return nil
	})
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
