package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cfdeploy/cfdeploy/internal/host/store/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// backends are the Store implementations the suite runs against, each
// opened fresh (an empty database) for one test.
var backends = []struct {
	name string
	open func(t *testing.T) Store
}{
	{"sqlite", func(t *testing.T) Store { return openTest(t, filepath.Join(t.TempDir(), "cfhost.db")) }},
	{"postgres", func(t *testing.T) Store { return openPostgresTest(t, pgtest.DSN(t)) }},
}

// eachBackend runs test as a subtest on every backend, closing the store
// after it.
func eachBackend(t *testing.T, test func(t *testing.T, s Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			t.Cleanup(func() { s.Close() })
			test(t, s)
		})
	}
}

func openPostgresTest(t *testing.T, dsn string) *Postgres {
	t.Helper()
	s, err := OpenPostgres(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rowCount runs a count query (plain SQL both databases understand) on the
// store's database, for tests that check what is stored.
func rowCount(s Store, query string, dst *int) error {
	ctx := context.Background()
	switch s := s.(type) {
	case *SQLite:
		return s.r.QueryRowContext(ctx, query).Scan(dst)
	case *Postgres:
		return s.pool.QueryRow(ctx, query).Scan(dst)
	}
	return fmt.Errorf("rowCount: unknown store %T", s)
}
