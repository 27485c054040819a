package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// BackupSQLite writes a consistent copy of the database at dbPath to dest,
// while a server may be reading and writing it.
//
// VACUUM INTO reads the database inside one read transaction, so the copy
// is the state of one moment (WAL lets the server go on writing meanwhile),
// and writes it compacted, without the WAL. It runs on a read-only
// connection: a backup never changes the database it copies. dest must not
// exist; the copy is checked before BackupSQLite returns.
func BackupSQLite(ctx context.Context, dbPath, dest string) error {
	src, err := filepath.Abs(dbPath)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup: no database at %s: %w", src, err)
	}
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("backup: %s already exists; choose a new file name", dest)
	}
	db, err := sql.Open("sqlite", "file:"+src+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		os.Remove(dest)
		return fmt.Errorf("backup %s: %w", src, fullError(err))
	}
	if err := checkDatabaseFile(ctx, dest); err != nil {
		return fmt.Errorf("backup: the copy %s does not check out: %w", dest, err)
	}
	return nil
}

// RestoreSQLite replaces the database at dbPath with the backup at src.
// The caller makes sure no server uses dbPath. src is checked first
// (integrity, and a schema this binary knows); the database it replaces is
// kept beside it as cfhost.db.before-restore-<time>, so a restore never
// loses data. It returns that file's path ("" when there was none).
func RestoreSQLite(ctx context.Context, src, dbPath string) (kept string, err error) {
	if err := checkDatabaseFile(ctx, src); err != nil {
		return "", fmt.Errorf("restore: %s is not a usable cfhost backup: %w", src, err)
	}
	dir := filepath.Dir(dbPath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".restore-*")
	if err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := copyInto(tmp, src); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	// The old database's WAL holds commits the old file lacks: checkpoint
	// it into the file before keeping the file aside.
	if _, err := os.Stat(dbPath); err == nil {
		if err := checkpointAndClose(ctx, dbPath); err != nil {
			return "", fmt.Errorf("restore: fold the current database's WAL into it first: %w", err)
		}
		kept = dbPath + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(dbPath, kept); err != nil {
			return "", fmt.Errorf("restore: keep the current database: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("restore: %w", err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(dbPath + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return kept, fmt.Errorf("restore: %w", err)
		}
	}
	if err := os.Rename(tmp.Name(), dbPath); err != nil {
		return kept, fmt.Errorf("restore: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return kept, nil
}

func copyInto(dst *os.File, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if _, err := io.Copy(dst, in); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// checkpointAndClose folds a database's WAL into its main file.
func checkpointAndClose(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return fullError(err)
}

// checkDatabaseFile opens path read-only and checks that it is a sound
// SQLite database with a cfhost schema no newer than this binary's.
func checkDatabaseFile(ctx context.Context, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+abs+"?mode=ro&_pragma="+url.QueryEscape("busy_timeout(10000)"))
	if err != nil {
		return err
	}
	defer db.Close()
	var verdict string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&verdict); err != nil {
		return fmt.Errorf("not a database: %w", fullError(err))
	}
	if verdict != "ok" {
		return fmt.Errorf("integrity check: %s", verdict)
	}
	var version int
	if err := db.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&version); err != nil {
		return fmt.Errorf("not a cfhost database (no schema_migrations): %w", fullError(err))
	}
	if latest := latestMigration(); version > latest {
		return fmt.Errorf("its schema (version %d) is newer than this cfhost knows (%d): use a newer cfhost", version, latest)
	}
	var projects int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM projects").Scan(&projects); err != nil {
		return fmt.Errorf("not a cfhost database: %w", fullError(err))
	}
	return nil
}

// latestMigration is the highest schema version this binary carries.
func latestMigration() int {
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	latest := 0
	for _, name := range names {
		num, _, _ := strings.Cut(filepath.Base(name), "_")
		if v, err := strconv.Atoi(num); err == nil && v > latest {
			latest = v
		}
	}
	return latest
}
