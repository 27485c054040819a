package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
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

// maxBatch bounds the values one multi-row statement carries, far below
// SQLite's limit on bound parameters (32,766) even at five per row.
const maxBatch = 500

// placeholders returns "?, ?, ..." with n question marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// putBlobs stores blobs the host does not have yet and records all of them
// for the project, within tx. It writes with multi-row statements, a few per
// batch of blobs instead of three or more per blob: on a first deploy of
// many small files the per-statement cost was as large as the writing.
// It returns how many of the blobs the project did not have before.
func putBlobs(ctx context.Context, tx *sql.Tx, projectID string, blobs []BlobInput) (int, error) {
	now := nanos(time.Now())
	recorded := 0
	next, err := nextChunkID(ctx, tx)
	if err != nil {
		return 0, err
	}
	for len(blobs) > 0 {
		batch := blobs[:min(len(blobs), maxBatch/5)]
		blobs = blobs[len(batch):]
		// Every blob of the batch is given its chunk ids up front; those of
		// blobs the host already holds are simply never used.
		first := make(map[string]int64, len(batch))
		args := make([]any, 0, 5*len(batch))
		for _, b := range batch {
			if _, dup := first[b.Hash]; !dup {
				first[b.Hash] = next
			}
			args = append(args, b.Hash, len(b.Data), next, now, boolInt(b.Compressible))
			next += chunkCount(len(b.Data))
		}
		rows, err := tx.QueryContext(ctx, "INSERT INTO blobs(hash, size, chunk, created_at, compressible) VALUES "+
			rowsOf(len(batch), 5)+" ON CONFLICT(hash) DO NOTHING RETURNING hash", args...)
		if err != nil {
			return 0, err
		}
		fresh := make(map[string]bool, len(batch))
		for rows.Next() {
			var h string
			if err := rows.Scan(&h); err != nil {
				rows.Close()
				return 0, err
			}
			fresh[h] = true
		}
		if err := rows.Close(); err != nil {
			return 0, err
		}
		if err := rows.Err(); err != nil {
			return 0, err
		}
		if err := markCompressible(ctx, tx, batch, fresh); err != nil {
			return 0, err
		}
		var chunks []chunkRow
		for _, b := range batch {
			if fresh[b.Hash] {
				chunks = appendChunks(chunks, first[b.Hash], b.Data)
				delete(fresh, b.Hash) // listed twice: stored once
			}
		}
		if err := insertChunks(ctx, tx, chunks); err != nil {
			return 0, err
		}
		args = args[:0]
		for _, b := range batch {
			args = append(args, projectID, b.Hash, len(b.Data))
		}
		r, err := tx.ExecContext(ctx, "INSERT INTO project_blobs(project_id, hash, size) VALUES "+
			rowsOf(len(batch), 3)+" ON CONFLICT DO NOTHING", args...)
		if err != nil {
			return 0, err
		}
		n, err := r.RowsAffected() // rows inserted, not those skipped by the conflict
		if err != nil {
			return 0, err
		}
		recorded += int(n)
	}
	return recorded, nil
}

// markCompressible marks compressible the blobs of batch that the host held
// already (not in fresh) and that this upload serves with a compressible
// type. Whether a blob is compressible is the OR of every upload of it: the
// first uploader may have named it x.bin, and a later app.js with the same
// bytes still deserves its gzip and brotli variants. Background compression
// picks such a blob up, as it has not been tried (compressed_at is NULL).
func markCompressible(ctx context.Context, tx *sql.Tx, batch []BlobInput, fresh map[string]bool) error {
	var args []any
	for _, b := range batch {
		if b.Compressible && !fresh[b.Hash] {
			args = append(args, b.Hash)
		}
	}
	if len(args) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, "UPDATE blobs SET compressible = 1 WHERE compressible = 0 AND hash IN ("+placeholders(len(args))+")", args...)
	return err
}

// chunkRow is one row of blob_chunks to write.
type chunkRow struct {
	id   int64
	data []byte
}

// chunkCount is the number of chunks n bytes are stored in: one, possibly
// empty, at least.
func chunkCount(n int) int64 {
	return max(1, (int64(n)+chunkSize-1)/chunkSize)
}

// appendChunks splits data into chunkSize pieces with ids from first on.
func appendChunks(rows []chunkRow, first int64, data []byte) []chunkRow {
	for seq := range chunkCount(len(data)) {
		rows = append(rows, chunkRow{first + seq, data[seq*chunkSize : min(int64(len(data)), (seq+1)*chunkSize)]})
	}
	return rows
}

// nextChunkID returns the first unused chunk id. Ids of collected chunks may
// be handed out again; a reader never mistakes them for its own, as it reads
// each chunk together with the blob row that points at it (blobReader.load).
func nextChunkID(ctx context.Context, tx *sql.Tx) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) + 1 FROM blob_chunks").Scan(&id)
	return id, err
}

// maxStatementBytes bounds the chunk bytes one statement binds: the driver
// copies bound blobs, so a statement of fifty 1 MiB chunks would hold
// another 50 MiB.
const maxStatementBytes = 4 << 20

// insertChunks writes rows with as few statements as maxBatch and
// maxStatementBytes allow, in order, so that a blob's chunks are adjacent.
func insertChunks(ctx context.Context, tx *sql.Tx, rows []chunkRow) error {
	for len(rows) > 0 {
		n, size := 0, 0
		for n < len(rows) && n < maxBatch/2 && (n == 0 || size+len(rows[n].data) <= maxStatementBytes) {
			size += len(rows[n].data)
			n++
		}
		args := make([]any, 0, 2*n)
		for _, r := range rows[:n] {
			args = append(args, r.id, r.data)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO blob_chunks(id, data) VALUES "+rowsOf(n, 2), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// rowsOf returns n rows of cols placeholders for a VALUES clause:
// "(?, ?), (?, ?)".
func rowsOf(n, cols int) string {
	row := "(" + placeholders(cols) + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// PutBlobs implements Store.
func (s *SQLite) PutBlobs(ctx context.Context, sessionID string, blobs []BlobInput) (UploadResult, error) {
	var res UploadResult
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var projectID string
		if err := tx.QueryRowContext(ctx, "SELECT project_id FROM upload_sessions WHERE id = ?", sessionID).Scan(&projectID); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		arrived, err := putBlobs(ctx, tx, projectID, blobs)
		if err != nil {
			return err
		}
		// Arrival is read off project_blobs rather than written per file
		// into session_hashes: one B-tree less to write for every file. When
		// every file of the bucket is new to the project the count is exact.
		// Otherwise some were there already — a retried bucket, or a
		// concurrent session of the same project that uploaded them first —
		// and the remainder is counted afresh, which a retry can afford.
		distinct := make(map[string]struct{}, len(blobs))
		for _, b := range blobs {
			distinct[b.Hash] = struct{}{}
		}
		q, args := "UPDATE upload_sessions SET remaining = remaining - ? WHERE id = ?", []any{arrived, sessionID}
		if arrived < len(distinct) {
			q = `UPDATE upload_sessions SET remaining = (SELECT count(*) FROM session_hashes s
				WHERE s.session_id = upload_sessions.id AND NOT EXISTS
					(SELECT 1 FROM project_blobs p WHERE p.project_id = ? AND p.hash = s.hash))
				WHERE id = ?`
			args = []any{projectID, sessionID}
		}
		if arrived > 0 || arrived < len(distinct) {
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
		}
		return tx.QueryRowContext(ctx, "SELECT remaining FROM upload_sessions WHERE id = ?", sessionID).Scan(&res.Remaining)
	})
	if err != nil {
		return res, fmt.Errorf("store blobs: %w", domainError(err))
	}
	return res, nil
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

// PutProjectBlobs implements Store.
func (s *SQLite) PutProjectBlobs(ctx context.Context, projectID string, blobs []BlobInput) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := putBlobs(ctx, tx, projectID, blobs)
		return err
	})
	if err != nil {
		return fmt.Errorf("store blobs: %w", domainError(err))
	}
	return nil
}

// OpenBlob implements Store.
func (s *SQLite) OpenBlob(ctx context.Context, hash, encoding string) (io.ReaderAt, int64, error) {
	cols, ok := encodingColumns[encoding]
	if !ok {
		return nil, 0, fmt.Errorf("open blob: unknown encoding %q", encoding)
	}
	var size, first int64
	err := s.r.QueryRowContext(ctx, "SELECT "+cols.size+", "+cols.chunk+" FROM blobs WHERE hash = ? AND "+cols.chunk+" IS NOT NULL", hash).Scan(&size, &first)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open blob: %w", err)
	}
	return &blobReader{db: s.r, hash: hash, chunkCol: cols.chunk, first: first, size: size, seq: -1}, size, nil
}

// encodingColumns names the blobs columns of each representation.
var encodingColumns = map[string]struct{ size, chunk string }{
	"":     {"size", "chunk"},
	"gzip": {"gzip_size", "gzip_chunk"},
	"br":   {"br_size", "br_chunk"},
}

// blobReader reads a chunked blob, keeping the last chunk it fetched so that
// sequential reads with small buffers cost one query per chunk.
type blobReader struct {
	db       *sql.DB
	hash     string
	chunkCol string // the blobs column holding first
	first    int64  // id of the first chunk
	size     int64

	mu    sync.Mutex
	seq   int64
	chunk []byte
}

func (b *blobReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("read blob: negative offset")
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= b.size {
			return n, io.EOF
		}
		seq := pos / chunkSize
		chunk, err := b.load(seq)
		if err != nil {
			return n, err
		}
		c := copy(p[n:], chunk[pos-seq*chunkSize:])
		if c == 0 {
			return n, io.ErrUnexpectedEOF
		}
		n += c
	}
	return n, nil
}

func (b *blobReader) load(seq int64) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seq == seq {
		return b.chunk, nil
	}
	// The chunk is read with the blob row that points at it, in one
	// snapshot: should the blob have been collected since it was opened
	// and its chunk ids handed to another, this finds no row instead of
	// someone else's bytes.
	var data []byte
	err := b.db.QueryRow("SELECT c.data FROM blobs b JOIN blob_chunks c ON c.id = ? WHERE b.hash = ? AND b."+b.chunkCol+" = ?",
		b.first+seq, b.hash, b.first).Scan(&data)
	if err != nil {
		return nil, fmt.Errorf("read blob %s chunk %d: %w", b.hash, seq, err)
	}
	b.seq, b.chunk = seq, data
	return data, nil
}

// BlobsToCompress implements Store.
func (s *SQLite) BlobsToCompress(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT hash FROM blobs WHERE compressible = 1 AND compressed_at IS NULL LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("list blobs to compress: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// PutVariants implements Store.
func (s *SQLite) PutVariants(ctx context.Context, hash string, variants []Variant) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var done sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT compressed_at FROM blobs WHERE hash = ?", hash).Scan(&done); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound // collected meanwhile
			}
			return err
		}
		if done.Valid {
			return nil
		}
		for _, v := range variants {
			cols, ok := encodingColumns[v.Encoding]
			if !ok || v.Encoding == "" {
				return fmt.Errorf("unknown encoding %q", v.Encoding)
			}
			first, err := nextChunkID(ctx, tx)
			if err != nil {
				return err
			}
			if err := insertChunks(ctx, tx, appendChunks(nil, first, v.Data)); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE blobs SET "+cols.size+" = ?, "+cols.chunk+" = ? WHERE hash = ?", len(v.Data), first, hash); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, "UPDATE blobs SET compressed_at = ? WHERE hash = ?", nanos(time.Now()), hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("store variants of %s: %w", hash, err)
	}
	return nil
}

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

// ModuleHashes implements Store.
func (s *SQLite) ModuleHashes(ctx context.Context) (map[string]bool, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("list module hashes: %w", err)
	}
	defer tx.Rollback()
	hashes, err := stringSet(ctx, tx, "SELECT DISTINCT hash FROM deployment_modules")
	if err != nil {
		return nil, fmt.Errorf("list module hashes: %w", err)
	}
	return hashes, nil
}
