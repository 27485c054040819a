//go:build unix

// Package pgtest runs a real, throwaway PostgreSQL server for tests: one
// cluster per test binary, started on first use in a temporary directory
// (from initdb's output, made once per machine and copied), reachable only
// over a Unix socket, with durability turned off
// because nothing in it outlives the run. Each test gets a database of its
// own. The server is a child of the test process and, on Linux, dies with
// it: a test binary killed by a timeout or a panic leaves no server behind.
//
// Where the PostgreSQL binaries are missing the tests that need them skip
// with the reason, except under CI=true, where they fail: CI installs the
// server (.ci/run), so a missing one there is a broken machine, not a
// choice.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Main runs the tests of a package and stops the cluster, if one was
// started, when they are done. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// DSN returns a connection string to a new, empty database of the
// package's cluster, dropped when the test ends. It skips the test (fails
// it under CI=true) when no PostgreSQL server can be started.
func DSN(t testing.TB) string {
	t.Helper()
	c, err := cluster()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is needed under CI=true: %v", err)
		}
		t.Skipf("no PostgreSQL server for this test: %v", err)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	return c.dsn(name)
}

var (
	dbSeq   atomic.Int64
	once    sync.Once
	running *server
	initErr error
)

// server is a started cluster.
type server struct {
	dir    string // holds data/ and the socket
	runAs  *syscall.Credential
	socket string
	proc   *exec.Cmd
	exited chan struct{}
}

func cluster() (*server, error) {
	once.Do(func() { running, initErr = start() })
	return running, initErr
}

// Stop stops the package's cluster, if one was started, and removes it. A
// TestMain that does more than Main calls it after m.Run.
func Stop() {
	if running == nil {
		return
	}
	// SIGQUIT is PostgreSQL's immediate shutdown: nothing needs saving.
	running.proc.Process.Signal(syscall.SIGQUIT)
	select {
	case <-running.exited:
	case <-time.After(30 * time.Second):
		running.proc.Process.Kill()
		<-running.exited
	}
	os.RemoveAll(running.dir)
	running = nil
}

// binDir finds the directory holding initdb and postgres: PATH
// first, then Debian's versioned directories, newest version first.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("initdb is neither on PATH nor in /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql)")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func start() (*server, error) {
	if runtime.GOOS == "windows" {
		return nil, errors.New("not supported on windows")
	}
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	removeOrphans()
	dir, err := os.MkdirTemp("", "pgtest")
	if err != nil {
		return nil, err
	}
	// The owner file names the test process, so that a later run can
	// remove the directory should this one be killed.
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &server{dir: dir, socket: dir, exited: make(chan struct{})}
	// initdb refuses to run as root: as root (CI containers), the cluster
	// belongs to an unprivileged account instead.
	if os.Geteuid() == 0 {
		cred, err := unprivileged()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.runAs = cred
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	if err := s.initdb(bin, data); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	s.proc = s.command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=", "-c", "unix_socket_directories="+dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=400", "-c", "shared_buffers=64MB")
	s.proc.Stdout, s.proc.Stderr = logf, logf
	if err := s.proc.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	go func() { s.proc.Wait(); close(s.exited) }()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-s.exited:
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("postgres exited during start-up: %s", log)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.exec(ctx, "SELECT 1")
		cancel()
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.proc.Process.Kill()
			<-s.exited
			os.RemoveAll(dir)
			return nil, fmt.Errorf("postgres did not accept connections within 2 minutes: %w", err)
		}
	}
}

// removeOrphans removes the cluster directories of test processes that
// are gone (killed before Main could remove them; their server died with
// them).
func removeOrphans() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgtest*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) == nil || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue
		}
		os.RemoveAll(d)
	}
}

// unprivileged returns the credentials of the postgres account (which
// Debian's package creates) or, failing that, nobody.
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and no postgres or nobody account to run PostgreSQL as")
}

func (s *server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	dieWithParent(cmd.SysProcAttr)
	if s.runAs != nil {
		cmd.SysProcAttr.Credential = s.runAs
	}
	return cmd
}

// dsn is the connection string of database name.
func (s *server) dsn(name string) string {
	return fmt.Sprintf("postgres:///%s?host=%s&user=postgres&sslmode=disable", name, s.socket)
}

func (s *server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.dsn("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}
