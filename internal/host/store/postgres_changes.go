package store

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// BlobChangePrefix marks a change of a blob rather than a project: the
// change BlobChangePrefix+hash says the blob gained compressed variants.
const BlobChangePrefix = "blob:"

// WatchChanges calls changed with the id of every project that any process
// sharing the database changes (deploys, rollbacks, deletes, renames,
// domains, variables), with BlobChangePrefix and the hash of a blob that
// gained variants, and with "" when it may have missed some, until ctx
// ends. It listens on the cfhost_changes channel, which delivers a change
// when its transaction commits; every poll it also reads the change log's
// recent rows and reports those it was not told about, should a
// notification be lost; and after losing its connection it reports ""
// once reconnected, since anything may have changed meanwhile.
//
// It returns only when ctx ends; connection errors are retried, reported
// to onError when set.
func (s *Postgres) WatchChanges(ctx context.Context, poll time.Duration, changed func(projectID string), onError func(error)) {
	if poll <= 0 {
		poll = 5 * time.Second
	}
	for ctx.Err() == nil {
		err := s.watch(ctx, poll, changed)
		if ctx.Err() != nil {
			return
		}
		if onError != nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// changeWindow is how far back a poll reads the change log: several polls,
// so that a change committed late (its seq taken earlier than others')
// is still seen.
const changeWindow = time.Minute

func (s *Postgres) watch(ctx context.Context, poll time.Duration, changed func(string)) error {
	cfg := s.pool.Config().ConnConfig.Copy()
	// Named apart, so that an operator can tell the listening connection
	// from the pool's in pg_stat_activity.
	cfg.RuntimeParams["application_name"] = strings.TrimPrefix(cfg.RuntimeParams["application_name"]+"-changes", "-")
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN cfhost_changes"); err != nil {
		return err
	}
	// Listening from now on: whatever changed before is re-read.
	seen := map[int64]int64{} // seq → at
	if err := pollChanges(ctx, conn, seen, nil); err != nil {
		return err
	}
	changed("")
	for {
		wctx, cancel := context.WithTimeout(ctx, poll)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			seqText, project, _ := strings.Cut(n.Payload, " ")
			if seq, err := strconv.ParseInt(seqText, 10, 64); err == nil {
				if _, dup := seen[seq]; !dup {
					seen[seq] = 0 // its time is filled in by the next poll
				}
			}
			changed(project)
		case ctx.Err() != nil:
			return ctx.Err()
		case wctx.Err() != nil:
			if err := pollChanges(ctx, conn, seen, changed); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// pollChanges reports (when changed is set) the recent changes not in
// seen, records them there, and forgets those older than the window.
func pollChanges(ctx context.Context, conn *pgx.Conn, seen map[int64]int64, changed func(string)) error {
	rows, err := conn.Query(ctx, "SELECT seq, project_id, at, "+dbNanos+" FROM changes WHERE at > "+dbNanos+" - $1", int64(changeWindow))
	if err != nil {
		return err
	}
	var now int64
	var missed []string
	for rows.Next() {
		var seq, at int64
		var project string
		if err := rows.Scan(&seq, &project, &at, &now); err != nil {
			rows.Close()
			return err
		}
		if _, ok := seen[seq]; !ok && changed != nil {
			missed = append(missed, project)
		}
		seen[seq] = at
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for seq, at := range seen {
		if at != 0 && now != 0 && at < now-2*int64(changeWindow) {
			delete(seen, seq)
		}
	}
	for _, p := range missed {
		changed(p)
	}
	return nil
}
