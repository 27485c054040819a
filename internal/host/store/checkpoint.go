package store

import (
	"context"
	"database/sql"
	"time"
)

// WAL checkpoints are moved off the commit path. SQLite's default runs a
// checkpoint inside whichever commit pushes the WAL past 1,000 pages: that
// commit then copies megabytes into the database file and fsyncs it while
// the single writer, and every upload queued behind it, waits. Here the
// writer's automatic checkpoint is only a backstop at walBackstopPages, and
// a goroutine with its own connection runs PASSIVE checkpoints (which never
// block the writer or readers) once writes pause.
//
// Waiting for the pause rather than checkpointing every so often during a
// burst matters for deploys: the buckets of one deploy rewrite the same
// index pages commit after commit, and a checkpoint copies (and fsyncs)
// each version it finds, where one checkpoint after the deploy copies only
// the last. It also keeps that work off the CPU while the deploy runs: a
// checkpoint reads back and writes again every byte uploaded, a third of
// the host's work in a first deploy of a 200 MB site, which with a delay of
// 2 s and a backstop of 128 MiB ran in the middle of it.
const (
	// walBackstopPages is the writer's wal_autocheckpoint: should the
	// background checkpointer fall behind (a reader holding an old
	// snapshot, say, or a deploy of more than this), the WAL still stops
	// growing here: 512 MiB at 16 KiB pages, above what a mid-size site
	// (a few hundred megabytes) writes in one go.
	walBackstopPages = 32768
	// walSizeLimit is the writer's journal_size_limit: once checkpointed,
	// a WAL that a large deploy grew is cut back to this many bytes, so
	// that the disk space is returned.
	walSizeLimit = 64 << 20
	// checkpointQuiet is how long writes must pause before a checkpoint.
	checkpointQuiet = 200 * time.Millisecond
	// checkpointMaxDelay bounds the wait during a long run of writes: a
	// deploy of a few hundred megabytes runs its course first, a longer
	// stream of writes still gets checkpointed every so often.
	checkpointMaxDelay = 10 * time.Second
)

// checkpointer runs PASSIVE WAL checkpoints from its own connection after
// the writer signals new commits.
type checkpointer struct {
	db   *sql.DB
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

func newCheckpointer(db *sql.DB) *checkpointer {
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// committed notes that the writer committed; it never blocks.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) loop() {
	defer close(c.done)
	quiet := time.NewTimer(checkpointQuiet)
	quiet.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		// Wait for the writes to pause, or for checkpointMaxDelay.
		first := time.Now()
	wait:
		for {
			d := min(checkpointQuiet, checkpointMaxDelay-time.Since(first))
			if d <= 0 {
				break
			}
			quiet.Reset(d)
			select {
			case <-c.stop:
				quiet.Stop()
				return
			case <-c.kick:
				quiet.Stop()
			case <-quiet.C:
				break wait
			}
		}
		// A failed checkpoint (busy, full disk) leaves the frames in the
		// WAL, where they are as durable as in the database file; the next
		// commit retries, and the writer's backstop bounds the WAL.
		c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
	}
}

// close stops the goroutine and closes its connection. Frames still in the
// WAL are checkpointed by SQLite when the last connection closes.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}

// writeTx runs fn in a write transaction and then lets the checkpointer
// know there are new frames.
func (s *SQLite) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	err := withTx(ctx, s.w, fn)
	s.ckpt.committed()
	return err
}
