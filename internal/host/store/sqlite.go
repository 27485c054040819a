package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// chunkSize is the size of one stored piece of a blob. Large files are read a
// chunk at a time, so serving one never loads it whole.
const chunkSize = 1 << 20

// SQLite is the embedded Store. It holds two pools over one database file: a
// single writer connection, because SQLite admits one writer at a time and
// queueing in Go is cheaper than spinning on SQLITE_BUSY, and a pool of
// read-only connections that WAL lets run beside the writer.
type SQLite struct {
	w    *sql.DB
	r    *sql.DB
	ckpt *checkpointer
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating if needed) the database at path and applies
// pending migrations before returning.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	// Pragmas in a fixed order: busy_timeout first so the others wait for a
	// lock rather than fail; WAL so readers never block the writer;
	// foreign_keys because the schema relies on cascades; NORMAL sync is
	// durable across process crashes in WAL mode, which is what we need.
	dsn := func(extra ...string) string {
		q := url.Values{}
		for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)"} {
			q.Add("_pragma", p)
		}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Add(extra[i], extra[i+1])
		}
		return "file:" + abs + "?" + q.Encode()
	}
	if err := createWithPageSize(ctx, abs); err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", dsn("_txlock", "immediate", "_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walBackstopPages),
		"_pragma", fmt.Sprintf("journal_size_limit(%d)", walSizeLimit)))
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", abs, err)
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn("_pragma", "query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0)*2)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	c, err := sql.Open("sqlite", dsn())
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	return &SQLite{w: w, r: r, ckpt: newCheckpointer(c)}, nil
}

// pageSize is the page size of new databases. Blobs of a few kilobytes are
// most of what is stored; at SQLite's default 4 KiB each one spills into
// overflow pages, and the WAL then writes nearly two pages per file, each
// with its own frame header and write calls.
const pageSize = 16384

// createWithPageSize gives a database that does not exist yet pageSize
// pages. The page size must be set before the first write and cannot change
// once the database is in WAL mode, and the driver applies DSN pragmas in its
// own order (journal_mode before page_size), hence this separate connection.
// An existing database is left as it is.
func createWithPageSize(ctx context.Context, abs string) error {
	db, err := sql.Open("sqlite", "file:"+abs+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open database %s: %w", abs, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA page_size = %d", pageSize)); err != nil {
		return fmt.Errorf("open database %s: %w", abs, fullError(err))
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA journal_mode = WAL"); err != nil {
		return fmt.Errorf("open database %s: %w", abs, fullError(err))
	}
	return nil
}

// Close stops the checkpointer and closes the pools, the writer last so
// that its close checkpoints whatever is left in the WAL.
func (s *SQLite) Close() error {
	return errors.Join(s.ckpt.close(), s.r.Close(), s.w.Close())
}

// IntegrityCheck runs PRAGMA integrity_check and returns its verdict ("ok").
func (s *SQLite) IntegrityCheck(ctx context.Context) (string, error) {
	var res string
	err := s.r.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res)
	return res, err
}

func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		num, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("migrate: bad migration name %s", base)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		err = withTx(ctx, db, func(tx *sql.Tx) error {
			var done int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", version).Scan(&done); err != nil {
				return err
			}
			if done > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations(version, applied_at) VALUES (?, ?)", version, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", base, err)
		}
	}
	return nil
}

// withTx runs fn in a transaction, rolling back when it fails and committing
// otherwise.
func withTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fullError(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return fullError(err)
	}
	return fullError(tx.Commit())
}

// fullError marks a write that failed for lack of space with ErrFull, so
// that callers can say what to do instead of reporting an internal error.
func fullError(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL || errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: %w", ErrFull, err)
	}
	return err
}

// domainError turns constraint violations into ErrConflict (a duplicate)
// or ErrNotFound (a missing parent row). The driver's text stays out of the
// error's message, which may reach an API client; DriverDetail keeps it for
// the log.
func domainError(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return &driverError{kind: ErrConflict, msg: "it already exists", cause: err}
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return &driverError{kind: ErrNotFound, msg: "what it refers to does not exist", cause: err}
		}
	}
	return err
}

// driverError is a domain error whose cause is the driver's.
type driverError struct {
	kind  error
	msg   string
	cause error
}

func (e *driverError) Error() string { return e.kind.Error() + ": " + e.msg }
func (e *driverError) Unwrap() error { return e.kind }

// DriverDetail is the database driver's own text, for the log only.
func (e *driverError) DriverDetail() string { return e.cause.Error() }

func nanos(t time.Time) int64     { return t.UTC().UnixNano() }
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
