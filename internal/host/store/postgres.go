package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed pgmigrations/*.sql
var pgMigrations embed.FS

// Postgres is the Store on a PostgreSQL server, which several cfhost
// processes (replicas) can share: everything a replica needs to take any
// step of any request lives in the database, blobs included.
type Postgres struct {
	pool *pgxpool.Pool
	// switchDelay is how long after its commit a new live deployment
	// takes over (see SetSwitchDelay).
	switchDelay time.Duration
}

// SetSwitchDelay sets how long after its commit a production deploy,
// rollback or promote goes live: until then every replica keeps serving
// the deployment that was live, from then on every one the new one, on
// its own clock. It must exceed the time a change notification takes to
// reach every replica. Zero switches at the commit. Call it before use.
func (s *Postgres) SetSwitchDelay(d time.Duration) { s.switchDelay = d }

// liveSwitch is the assignment of a projects UPDATE that makes $1 live at
// $2 (unix nanoseconds) when $3 is true: the deployment in force now (the
// previous one until an earlier switch happens) is kept to serve until
// then. PostgreSQL evaluates every SET expression on the old row.
const liveSwitch = `prev_deployment_id = CASE WHEN $3 THEN
		(CASE WHEN switch_at > $4 THEN prev_deployment_id ELSE active_deployment_id END) ELSE prev_deployment_id END,
	switch_at = CASE WHEN $3 THEN $2 ELSE switch_at END,
	active_deployment_id = CASE WHEN $3 THEN $1 ELSE active_deployment_id END`

var _ Store = (*Postgres)(nil)

// Advisory lock keys. PostgreSQL's advisory locks are host-wide integers;
// these are "cfh" followed by a number, unlikely to meet another
// application's in a shared database.
const (
	lockMigrate int64 = 0x636668_0001
	// lockBlobs is taken shared by every write that relies on blobs staying
	// (uploads, deploys, new sessions, variants) and exclusively by garbage
	// collection, so that it never deletes a blob one of them counted on.
	lockBlobs int64 = 0x636668_0002
	// lockJobs + n is the lock of background job n (TryJob).
	lockJobs int64 = 0x636668_1000
)

// OpenPostgres connects to the database that dsn names (a postgres:// URL
// or key=value string), applies pending migrations under an advisory lock,
// so that replicas starting together migrate once, and refuses a database
// whose schema is newer than this build knows.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database address: %w", err)
	}
	// pgxpool's default (four connections on a two-core machine) is too
	// few for a host whose uploads, deploys, asset reads and background
	// jobs share the pool; pool_max_conns in the address overrides this.
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = max(16, 4*int32(runtime.GOMAXPROCS(0)))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.ConnConfig.ConnectTimeout+5*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database %s is unreachable: %w", redactDSN(cfg), err)
	}
	if err := pgMigrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Postgres{pool: pool}, nil
}

// Acquires counts the connections taken from the pool so far. Every query
// of the store takes one (the change feed has a connection of its own), so
// tests read it to show that a path asked the database nothing.
func (s *Postgres) Acquires() int64 { return s.pool.Stat().AcquireCount() }

// redactDSN names the server and database without the password.
func redactDSN(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// Close implements Store.
func (s *Postgres) Close() error {
	s.pool.Close()
	return nil
}

// pgMigrationFiles returns the numbered migrations in order.
func pgMigrationFiles() ([]int, []string, error) {
	names, err := fs.Glob(pgMigrations, "pgmigrations/*.sql")
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(names)
	versions := make([]int, len(names))
	for i, name := range names {
		num, _, ok := strings.Cut(filepath.Base(name), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, nil, fmt.Errorf("bad migration name %s", name)
		}
		versions[i] = v
	}
	return versions, names, nil
}

// SchemaError is OpenPostgres's refusal of a database whose schema this
// build cannot use.
type SchemaError struct{ Database, Known int }

func (e *SchemaError) Error() string {
	return fmt.Sprintf("the database schema is at version %d, newer than this cfhost knows (%d): run a cfhost as new as the replicas that upgraded it", e.Database, e.Known)
}

func pgMigrate(ctx context.Context, pool *pgxpool.Pool) error {
	versions, names, err := pgMigrationFiles()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	// A session lock, held across the migrations' transactions: a replica
	// starting beside another waits here, then finds nothing left to do.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockMigrate); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockMigrate)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if known := versions[len(versions)-1]; current > known {
		return &SchemaError{Database: current, Known: known}
	}
	for i, v := range versions {
		if v <= current {
			continue
		}
		body, err := pgMigrations.ReadFile(names[i])
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations(version, applied_at) VALUES ($1, $2)", v, nanos(time.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", filepath.Base(names[i]), err)
		}
	}
	return nil
}

// Health reports whether the database answers, and its schema version.
func (s *Postgres) Health(ctx context.Context) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v)
	return v, err
}

// TryJob runs fn unless another process holds job n's lock, and reports
// whether it ran. The lock is a session lock on a connection held for the
// job: a replica that dies mid-job loses its connection and with it the
// lock, and the job's own transactions roll back, so the next replica to
// try finds a consistent database and does the work.
func (s *Postgres) TryJob(ctx context.Context, n int, fn func(ctx context.Context) error) (bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockJobs+int64(n)).Scan(&got); err != nil {
		return false, err
	}
	if !got {
		return false, nil
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockJobs+int64(n))
	return true, fn(ctx)
}

// pgTx runs fn in a transaction, committing when it returns nil.
func (s *Postgres) pgTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgError(pgx.BeginFunc(ctx, s.pool, fn))
}

// blobsShared takes the blobs lock shared for the rest of tx.
func blobsShared(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock_shared($1)", lockBlobs)
	return err
}

// pgError turns PostgreSQL's errors into the domain errors: constraint
// violations into ErrConflict or ErrNotFound (as domainError does for
// SQLite) and a full disk into ErrFull.
func pgError(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case pe.Code == "23505":
		return &driverError{kind: ErrConflict, msg: "it already exists", cause: err}
	case pe.Code == "23503":
		return &driverError{kind: ErrNotFound, msg: "what it refers to does not exist", cause: err}
	case pe.Code == "53100" || pe.Code == "53200":
		return fmt.Errorf("%w: %w", ErrFull, err)
	}
	return err
}

// notFound maps pgx.ErrNoRows to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// recordChange appends a change of projectID ("" for all) that replicas
// must see, and notifies them when tx commits.
func recordChange(ctx context.Context, tx pgx.Tx, projectID string) error {
	var seq int64
	// The time is the database's, so replicas with skewed clocks agree on
	// which changes are recent (Postgres.WatchChanges).
	if err := tx.QueryRow(ctx, "INSERT INTO changes(project_id, at) VALUES ($1, "+dbNanos+") RETURNING seq", projectID).Scan(&seq); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "SELECT pg_notify('cfhost_changes', $1)", strconv.FormatInt(seq, 10)+" "+projectID)
	return err
}

// dbNanos is the database server's clock in unix nanoseconds.
const dbNanos = "(extract(epoch FROM clock_timestamp()) * 1e9)::bigint"
