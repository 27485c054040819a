// SQLite upload sessions: opening one within the project's quotas, what it
// still needs, and the completion token that ends it.

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// MissingHashes implements Store.
func (s *SQLite) MissingHashes(ctx context.Context, projectID string, hashes []string) (map[string]bool, error) {
	missing := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		missing[h] = true
	}
	// One indexed range scan over the project's blobs beats a query per
	// hash for large manifests and stays cheap for small ones.
	rows, err := s.r.QueryContext(ctx, "SELECT hash FROM project_blobs WHERE project_id = ?", projectID)
	if err != nil {
		return nil, fmt.Errorf("find missing blobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("find missing blobs: %w", err)
		}
		delete(missing, h)
	}
	return missing, rows.Err()
}

// CreateSession implements Store.
func (s *SQLite) CreateSession(ctx context.Context, sess Session, missing []SessionHash) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := checkQuota(ctx, tx, sess, missing); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO upload_sessions(id, project_id, created_at, expires_at, completion_jwt, remaining)
			VALUES (?, ?, ?, ?, nullif(?, ''), ?)`,
			sess.ID, sess.ProjectID, nanos(sess.CreatedAt), nanos(sess.ExpiresAt), sess.CompletionJWT, len(missing)); err != nil {
			return domainError(err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO upload_session_manifests(session_id, manifest) VALUES (?, ?)", sess.ID, string(sess.Manifest)); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, "INSERT INTO session_hashes(session_id, hash, size, compressible) VALUES (?, ?, ?, ?)")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, m := range missing {
			if _, err := stmt.ExecContext(ctx, sess.ID, m.Hash, m.Size, boolInt(m.Compressible)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create upload session: %w", err)
	}
	return nil
}

// checkQuota refuses a new session that would take its project over
// sess.Quota: too many open sessions, or more bytes stored than allowed once
// every open session has uploaded what it lacks. It runs in the transaction
// that creates the session, so concurrent sessions cannot both slip under.
func checkQuota(ctx context.Context, tx *sql.Tx, sess Session, missing []SessionHash) error {
	q := sess.Quota
	now := nanos(sess.CreatedAt)
	if q.OpenSessions > 0 {
		var open int
		var oldest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT count(*), min(expires_at) FROM upload_sessions
			WHERE project_id = ? AND used = 0 AND expires_at > ?`, sess.ProjectID, now).Scan(&open, &oldest); err != nil {
			return err
		}
		if open >= q.OpenSessions && q.StaleAfter > 0 {
			r, err := tx.ExecContext(ctx, `DELETE FROM upload_sessions WHERE id IN (SELECT id FROM upload_sessions
				WHERE project_id = ? AND used = 0 AND expires_at > ? AND created_at < ? ORDER BY created_at LIMIT ?)`,
				sess.ProjectID, now, nanos(sess.CreatedAt.Add(-q.StaleAfter)), open-q.OpenSessions+1)
			if err != nil {
				return err
			}
			dropped, _ := r.RowsAffected()
			open -= int(dropped)
		}
		if open >= q.OpenSessions {
			return &QuotaError{OpenSessions: open, OldestExpires: fromNanos(oldest.Int64), Quota: q}
		}
	}
	var need int64
	for _, m := range missing {
		need += m.Size
	}
	// A session with nothing to upload adds nothing: a redeploy of what the
	// project holds is never refused, and costs no sum over its blobs.
	if q.StoredBytes <= 0 || need == 0 {
		return nil
	}
	var held, pending int64
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(sum(size), 0) FROM project_blobs WHERE project_id = ?", sess.ProjectID).Scan(&held); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(s.size), 0) FROM upload_sessions u
		JOIN session_hashes s ON s.session_id = u.id
		WHERE u.project_id = ?1 AND u.used = 0 AND u.expires_at > ?2
		AND NOT EXISTS (SELECT 1 FROM project_blobs p WHERE p.project_id = ?1 AND p.hash = s.hash)`,
		sess.ProjectID, now).Scan(&pending); err != nil {
		return err
	}
	if total := held + pending + need; total > q.StoredBytes {
		return &QuotaError{StoredBytes: total, Quota: q}
	}
	return nil
}

// Session implements Store.
func (s *SQLite) Session(ctx context.Context, id string) (Session, error) {
	var sess Session
	var created, expires int64
	var used int
	err := s.r.QueryRowContext(ctx, `SELECT id, project_id, created_at, expires_at, coalesce(completion_jwt, ''), used
		FROM upload_sessions WHERE id = ?`, id).
		Scan(&sess.ID, &sess.ProjectID, &created, &expires, &sess.CompletionJWT, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return sess, ErrNotFound
	}
	if err != nil {
		return sess, fmt.Errorf("read upload session: %w", err)
	}
	sess.CreatedAt, sess.ExpiresAt, sess.Used = fromNanos(created), fromNanos(expires), used != 0
	return sess, nil
}

// DropSession implements Store.
func (s *SQLite) DropSession(ctx context.Context, id string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM upload_sessions WHERE id = ? AND used = 0", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("drop upload session: %w", err)
	}
	return nil
}

// SessionManifest implements Store.
func (s *SQLite) SessionManifest(ctx context.Context, id string) ([]byte, error) {
	var m []byte
	err := s.r.QueryRowContext(ctx, "SELECT manifest FROM upload_session_manifests WHERE session_id = ?", id).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read session manifest: %w", err)
	}
	return m, nil
}

// SessionHashes implements Store. It asks for the hashes in batches, one
// query per batch rather than per hash: a bucket's lookups then cost one
// statement instead of fifty.
func (s *SQLite) SessionHashes(ctx context.Context, sessionID string, hashes []string) (map[string]SessionHash, error) {
	out := make(map[string]SessionHash, len(hashes))
	for len(hashes) > 0 {
		batch := hashes[:min(len(hashes), maxBatch)]
		hashes = hashes[len(batch):]
		args := make([]any, 0, len(batch)+1)
		args = append(args, sessionID)
		for _, h := range batch {
			args = append(args, h)
		}
		rows, err := s.r.QueryContext(ctx, "SELECT hash, size, compressible FROM session_hashes WHERE session_id = ? AND hash IN ("+placeholders(len(batch))+")", args...)
		if err != nil {
			return nil, fmt.Errorf("read session hashes: %w", err)
		}
		for rows.Next() {
			var sh SessionHash
			if err := rows.Scan(&sh.Hash, &sh.Size, &sh.Compressible); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read session hashes: %w", err)
			}
			out[sh.Hash] = sh
		}
		err = rows.Close()
		if err == nil {
			err = rows.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("read session hashes: %w", err)
		}
	}
	return out, nil
}

// SetCompletionJWT implements Store.
func (s *SQLite) SetCompletionJWT(ctx context.Context, sessionID, token string) (string, error) {
	var v string
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE upload_sessions SET completion_jwt = ? WHERE id = ? AND completion_jwt IS NULL", token, sessionID); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, "SELECT coalesce(completion_jwt, '') FROM upload_sessions WHERE id = ?", sessionID).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("record completion token: %w", err)
	}
	return v, nil
}
