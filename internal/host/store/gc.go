// SQLite garbage collection: blobs no deployment lists, past their grace.

package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// CollectGarbage implements Store.
//
// A blob is garbage when no deployment of any project lists it and it is
// older than the grace period; the grace keeps blobs uploaded for a deploy
// still in progress, and recently dropped content, alive. Finding them means
// reading every deployment's asset list, so it happens in two phases and the
// long one does not hold the writer: first, on a read snapshot, the old blobs
// that no deployment of that snapshot lists; then, in the write transaction,
// those of them that a deployment written since lists are spared, and the
// rest deleted. Deployments are immutable, so the ones the snapshot saw can
// not have gained a reference meanwhile. (No index on deployment_assets.hash
// is needed for this, and so none is written on every deploy.)
func (s *SQLite) CollectGarbage(ctx context.Context, cutoff time.Time) (GCResult, error) {
	candidates, seen, err := s.garbageCandidates(ctx, cutoff)
	if err != nil {
		return GCResult{}, fmt.Errorf("collect garbage: %w", err)
	}
	if gcBetweenPhases != nil {
		gcBetweenPhases()
	}
	var res GCResult
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, "DELETE FROM upload_sessions WHERE expires_at < ?", nanos(time.Now()))
		if err != nil {
			return err
		}
		n, _ := r.RowsAffected()
		res.Sessions = int(n)
		if len(candidates) == 0 {
			return nil
		}
		if err := spareNewlyListed(ctx, tx, candidates, seen); err != nil {
			return err
		}
		if err := spareSessionFiles(ctx, tx, candidates); err != nil {
			return err
		}
		hashes := slices.Sorted(maps.Keys(candidates))
		for len(hashes) > 0 {
			batch := hashes[:min(len(hashes), maxBatch)]
			hashes = hashes[len(batch):]
			args := make([]any, len(batch))
			for i, h := range batch {
				args[i] = h
			}
			count, bytes, err := deleteChunksOf(ctx, tx, args)
			if err != nil {
				return err
			}
			res.Blobs += count
			res.Bytes += bytes
			if _, err := tx.ExecContext(ctx, "DELETE FROM blobs WHERE hash IN ("+placeholders(len(batch))+")", args...); err != nil {
				return err
			}
		}
		if res.Blobs == 0 {
			return nil
		}
		// project_blobs has no cascade from blobs (see the schema): one pass
		// drops the records of every blob just deleted, so that the next
		// upload session asks for those files again.
		_, err = tx.ExecContext(ctx, "DELETE FROM project_blobs WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = project_blobs.hash)")
		return err
	})
	if err != nil {
		return GCResult{}, fmt.Errorf("collect garbage: %w", err)
	}
	return res, nil
}

// gcBetweenPhases, when set by a test, runs between the two phases of
// CollectGarbage.
var gcBetweenPhases func()

// garbageCandidates returns, from one read snapshot, the blobs older than
// cutoff that no deployment lists, and the ids of the deployments it saw.
func (s *SQLite) garbageCandidates(ctx context.Context, cutoff time.Time) (map[string]bool, map[string]bool, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()
	seen, err := stringSet(ctx, tx, "SELECT id FROM deployments")
	if err != nil {
		return nil, nil, err
	}
	candidates, err := stringSet(ctx, tx, `SELECT hash FROM blobs WHERE created_at < ?
		AND hash NOT IN (SELECT hash FROM deployment_assets)
		AND hash NOT IN (SELECT hash FROM deployment_modules)`, nanos(cutoff))
	return candidates, seen, err
}

// spareNewlyListed removes from candidates the blobs that deployments not in
// seen list.
func spareNewlyListed(ctx context.Context, tx *sql.Tx, candidates, seen map[string]bool) error {
	now, err := stringSet(ctx, tx, "SELECT id FROM deployments")
	if err != nil {
		return err
	}
	for id := range now {
		if seen[id] {
			continue
		}
		listed, err := stringSet(ctx, tx, `SELECT hash FROM deployment_assets WHERE deployment_id = ?1
			UNION SELECT hash FROM deployment_modules WHERE deployment_id = ?1`, id)
		if err != nil {
			return err
		}
		for h := range listed {
			delete(candidates, h)
		}
	}
	return nil
}

// spareSessionFiles removes from candidates the blobs that an open upload
// session lists. Such a session told its client not to upload them (the
// project had them), and its deploy would otherwise fail for files that
// were there when the session began. Read in the write transaction, so a
// session opened after it sees the deletion and asks for the files again.
func spareSessionFiles(ctx context.Context, tx *sql.Tx, candidates map[string]bool) error {
	rows, err := tx.QueryContext(ctx, `SELECT m.manifest FROM upload_session_manifests m JOIN upload_sessions u ON u.id = m.session_id
		WHERE u.used = 0 AND u.expires_at > ?`, nanos(time.Now()))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() && len(candidates) > 0 {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return err
		}
		if err := spareManifestFiles(raw, candidates); err != nil {
			return err
		}
	}
	return rows.Err()
}

// spareManifestFiles removes from candidates the blobs that a session's
// manifest (JSON api.Manifest) lists.
func spareManifestFiles(raw []byte, candidates map[string]bool) error {
	var m map[string]struct {
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("session manifest: %w", err)
	}
	for _, e := range m {
		delete(candidates, e.Hash)
	}
	return nil
}

// stringSet runs a query of one text column and returns its values.
func stringSet(ctx context.Context, tx *sql.Tx, query string, args ...any) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	set := map[string]bool{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		set[v] = true
	}
	return set, rows.Err()
}

// deleteChunksOf deletes the chunks of every representation of the blobs
// with the given hashes, and reports how many of those blobs exist and the
// bytes of their identity representations.
func deleteChunksOf(ctx context.Context, tx *sql.Tx, hashes []any) (int, int64, error) {
	type span struct{ from, n int64 }
	var spans []span
	var bytes int64
	rows, err := tx.QueryContext(ctx, "SELECT size, chunk, gzip_size, gzip_chunk, br_size, br_chunk FROM blobs WHERE hash IN ("+
		placeholders(len(hashes))+")", hashes...)
	if err != nil {
		return 0, 0, err
	}
	count := 0
	for rows.Next() {
		var v [6]sql.NullInt64
		if err := rows.Scan(&v[0], &v[1], &v[2], &v[3], &v[4], &v[5]); err != nil {
			rows.Close()
			return 0, 0, err
		}
		count++
		bytes += v[0].Int64
		for i := 0; i < len(v); i += 2 {
			if v[i].Valid && v[i+1].Valid {
				spans = append(spans, span{v[i+1].Int64, chunkCount(int(v[i].Int64))})
			}
		}
	}
	if err := rows.Close(); err != nil {
		return 0, 0, err
	}
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	for _, sp := range spans {
		if _, err := tx.ExecContext(ctx, "DELETE FROM blob_chunks WHERE id >= ? AND id < ?", sp.from, sp.from+sp.n); err != nil {
			return 0, 0, err
		}
	}
	return count, bytes, nil
}
