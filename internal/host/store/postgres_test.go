package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host/store/pgtest"
)

// TestPostgresReplicasMigrateOnce starts several stores on one empty
// database at once, as replicas starting together do: all open, and each
// migration is applied once.
func TestPostgresReplicasMigrateOnce(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	stores := make([]*Postgres, 4)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = OpenPostgres(context.Background(), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var n int
	if err := rowCount(stores[0], "SELECT count(*) FROM schema_migrations", &n); err != nil {
		t.Fatal(err)
	}
	if versions, _, _ := pgMigrationFiles(); n != len(versions) {
		t.Fatalf("%d migrations recorded, want %d", n, len(versions))
	}
	if v, err := stores[1].Health(context.Background()); err != nil || v != n {
		t.Fatalf("health: version %d, %v", v, err)
	}
}

// TestPostgresRefusesNewerSchema: a database migrated by a newer cfhost is
// refused with a SchemaError rather than used with a schema this build
// does not know.
func TestPostgresRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	s := openPostgresTest(t, dsn)
	if _, err := s.pool.Exec(context.Background(), "INSERT INTO schema_migrations(version, applied_at) VALUES (9999, 0)"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := OpenPostgres(context.Background(), dsn)
	var se *SchemaError
	if !errors.As(err, &se) || se.Database != 9999 {
		t.Fatalf("open a newer database: %v, want a SchemaError", err)
	}
}

// TestPostgresUnreachable: a database that does not answer is a clear
// error naming it, not a hang.
func TestPostgresUnreachable(t *testing.T) {
	t.Parallel()
	_, err := OpenPostgres(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	if err == nil {
		t.Fatal("opened a database nobody serves")
	}
	t.Log(err)
}

// TestPostgresChangeFeed: a store watching the database hears of a deploy
// made through another store, and of a change whose notification was lost
// (a change log row written without one) at its next poll.
func TestPostgresChangeFeed(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	a, b := openPostgresTest(t, dsn), openPostgresTest(t, dsn)
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	heard := make(chan string, 16)
	go a.WatchChanges(ctx, 200*time.Millisecond, func(p string) { heard <- p }, func(err error) { t.Log(err) })
	wait := func(want string) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case p := <-heard:
				if p == want {
					return
				}
			case <-deadline:
				t.Fatalf("never heard of a change of %q", want)
			}
		}
	}
	wait("") // connected: everything may have changed
	mustProject(t, b, "p")
	deployOne(t, b, "p", map[string]string{"/index.html": "v1"})
	wait("p")
	if _, err := b.pool.Exec(ctx, "INSERT INTO changes(project_id, at) VALUES ('quiet', "+dbNanos+")"); err != nil {
		t.Fatal(err)
	}
	wait("quiet")
}

// TestPostgresSwitchIsTimed: with a switch delay, a new production deploy
// (or a rollback) is not served until its moment: the snapshot read
// before it is the deployment live before, with Until set to the moment,
// and a second deploy before the first's moment replaces it without the
// first ever being live. A first deploy is live at once.
func TestPostgresSwitchIsTimed(t *testing.T) {
	t.Parallel()
	s := openPostgresTest(t, pgtest.DSN(t))
	defer s.Close()
	ctx := context.Background()
	mustProject(t, s, "p")
	v1 := deployOne(t, s, "p", map[string]string{"/index.html": "v1"}).Deployment.ID
	active := func() Snapshot {
		t.Helper()
		snap, err := s.ActiveSnapshot(ctx, "p")
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	if snap := active(); snap.Deployment.ID != v1 || !snap.Until.IsZero() {
		t.Fatalf("after the first deploy: %s until %v", snap.Deployment.ID, snap.Until)
	}
	s.SetSwitchDelay(time.Hour)
	deployOne(t, s, "p", map[string]string{"/index.html": "v2"})
	time.Sleep(time.Millisecond) // deployOne names sessions by the time
	v3 := deployOne(t, s, "p", map[string]string{"/index.html": "v3"}).Deployment.ID
	snap := active()
	if snap.Deployment.ID != v1 || time.Until(snap.Until) < 50*time.Minute {
		t.Fatalf("before the switch: %s until %v, want %s for an hour", snap.Deployment.ID, snap.Until, v1)
	}
	s.SetSwitchDelay(0)
	if _, _, err := s.Activate(ctx, "p", v3); err != nil {
		t.Fatal(err)
	}
	if snap := active(); snap.Deployment.ID != v3 || !snap.Until.IsZero() {
		t.Fatalf("after a switch without delay: %s until %v, want %s", snap.Deployment.ID, snap.Until, v3)
	}
}
