package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MissingHashes implements Store.
func (s *Postgres) MissingHashes(ctx context.Context, projectID string, hashes []string) (map[string]bool, error) {
	missing := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		missing[h] = true
	}
	rows, err := s.pool.Query(ctx, "SELECT hash FROM project_blobs WHERE project_id = $1 AND hash = ANY($2)", projectID, hashes)
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

// CreateSession implements Store. The project's row is locked first, so
// that concurrent sessions of one project pass the quota one at a time.
func (s *Postgres) CreateSession(ctx context.Context, sess Session, missing []SessionHash) error {
	err := s.pgTx(ctx, func(tx pgx.Tx) error {
		if err := blobsShared(ctx, tx); err != nil {
			return err
		}
		if err := lockProject(ctx, tx, sess.ProjectID); err != nil {
			return err
		}
		if err := pgCheckQuota(ctx, tx, sess, missing); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO upload_sessions(id, project_id, created_at, expires_at, completion_jwt, remaining)
			VALUES ($1, $2, $3, $4, nullif($5, ''), $6)`,
			sess.ID, sess.ProjectID, nanos(sess.CreatedAt), nanos(sess.ExpiresAt), sess.CompletionJWT, len(missing)); err != nil {
			return pgError(err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO upload_session_manifests(session_id, manifest) VALUES ($1, $2)", sess.ID, string(sess.Manifest)); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"session_hashes"}, []string{"session_id", "hash", "size", "compressible"},
			pgx.CopyFromSlice(len(missing), func(i int) ([]any, error) {
				m := missing[i]
				return []any{sess.ID, m.Hash, m.Size, m.Compressible}, nil
			})); err != nil {
			return pgError(err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create upload session: %w", err)
	}
	return nil
}

// pgCheckQuota is checkQuota for PostgreSQL; see there.
func pgCheckQuota(ctx context.Context, tx pgx.Tx, sess Session, missing []SessionHash) error {
	q := sess.Quota
	now := nanos(sess.CreatedAt)
	if q.OpenSessions > 0 {
		var open int
		var oldest *int64
		if err := tx.QueryRow(ctx, `SELECT count(*), min(expires_at) FROM upload_sessions
			WHERE project_id = $1 AND NOT used AND expires_at > $2`, sess.ProjectID, now).Scan(&open, &oldest); err != nil {
			return err
		}
		if open >= q.OpenSessions && q.StaleAfter > 0 {
			tag, err := tx.Exec(ctx, `DELETE FROM upload_sessions WHERE id IN (SELECT id FROM upload_sessions
				WHERE project_id = $1 AND NOT used AND expires_at > $2 AND created_at < $3 ORDER BY created_at LIMIT $4)`,
				sess.ProjectID, now, nanos(sess.CreatedAt.Add(-q.StaleAfter)), open-q.OpenSessions+1)
			if err != nil {
				return err
			}
			open -= int(tag.RowsAffected())
		}
		if open >= q.OpenSessions {
			var exp int64
			if oldest != nil {
				exp = *oldest
			}
			return &QuotaError{OpenSessions: open, OldestExpires: fromNanos(exp), Quota: q}
		}
	}
	var need int64
	for _, m := range missing {
		need += m.Size
	}
	if q.StoredBytes <= 0 || need == 0 {
		return nil
	}
	var held, pending int64
	if err := tx.QueryRow(ctx, "SELECT coalesce(sum(size), 0)::bigint FROM project_blobs WHERE project_id = $1", sess.ProjectID).Scan(&held); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, `SELECT coalesce(sum(s.size), 0)::bigint FROM upload_sessions u
		JOIN session_hashes s ON s.session_id = u.id
		WHERE u.project_id = $1 AND NOT u.used AND u.expires_at > $2
		AND NOT EXISTS (SELECT 1 FROM project_blobs p WHERE p.project_id = $1 AND p.hash = s.hash)`,
		sess.ProjectID, now).Scan(&pending); err != nil {
		return err
	}
	if total := held + pending + need; total > q.StoredBytes {
		return &QuotaError{StoredBytes: total, Quota: q}
	}
	return nil
}

// Session implements Store.
func (s *Postgres) Session(ctx context.Context, id string) (Session, error) {
	var sess Session
	var created, expires int64
	err := s.pool.QueryRow(ctx, `SELECT id, project_id, created_at, expires_at, coalesce(completion_jwt, ''), used
		FROM upload_sessions WHERE id = $1`, id).
		Scan(&sess.ID, &sess.ProjectID, &created, &expires, &sess.CompletionJWT, &sess.Used)
	if errors.Is(err, pgx.ErrNoRows) {
		return sess, ErrNotFound
	}
	if err != nil {
		return sess, fmt.Errorf("read upload session: %w", err)
	}
	sess.CreatedAt, sess.ExpiresAt = fromNanos(created), fromNanos(expires)
	return sess, nil
}

// DropSession implements Store.
func (s *Postgres) DropSession(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM upload_sessions WHERE id = $1 AND NOT used", id); err != nil {
		return fmt.Errorf("drop upload session: %w", err)
	}
	return nil
}

// SessionManifest implements Store.
func (s *Postgres) SessionManifest(ctx context.Context, id string) ([]byte, error) {
	var m string
	err := s.pool.QueryRow(ctx, "SELECT manifest FROM upload_session_manifests WHERE session_id = $1", id).Scan(&m)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read session manifest: %w", err)
	}
	return []byte(m), nil
}

// SessionHashes implements Store.
func (s *Postgres) SessionHashes(ctx context.Context, sessionID string, hashes []string) (map[string]SessionHash, error) {
	out := make(map[string]SessionHash, len(hashes))
	rows, err := s.pool.Query(ctx, "SELECT hash, size, compressible FROM session_hashes WHERE session_id = $1 AND hash = ANY($2)", sessionID, hashes)
	if err != nil {
		return nil, fmt.Errorf("read session hashes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sh SessionHash
		if err := rows.Scan(&sh.Hash, &sh.Size, &sh.Compressible); err != nil {
			return nil, fmt.Errorf("read session hashes: %w", err)
		}
		out[sh.Hash] = sh
	}
	return out, rows.Err()
}

// pgPutBlobs stores the blobs the host does not have yet and records all
// of them for the project, within tx, which holds the blobs lock shared.
// Blobs go in hash order, so that two uploads of overlapping files wait for
// each other rather than deadlock. It returns how many of the blobs the
// project did not have before.
func pgPutBlobs(ctx context.Context, tx pgx.Tx, projectID string, blobs []BlobInput) (int, error) {
	sorted := slices.Clone(blobs)
	slices.SortFunc(sorted, func(a, b BlobInput) int { return strings.Compare(a.Hash, b.Hash) })
	// A blob listed twice is stored once, compressible if either says so.
	out := sorted[:0]
	for _, b := range sorted {
		if n := len(out); n > 0 && out[n-1].Hash == b.Hash {
			out[n-1].Compressible = out[n-1].Compressible || b.Compressible
			continue
		}
		out = append(out, b)
	}
	sorted = out
	now := nanos(time.Now())
	recorded := 0
	for len(sorted) > 0 {
		batch := sorted[:min(len(sorted), maxBatch)]
		sorted = sorted[len(batch):]
		hashes, sizes, comp := make([]string, len(batch)), make([]int64, len(batch)), make([]bool, len(batch))
		for i, b := range batch {
			hashes[i], sizes[i], comp[i] = b.Hash, int64(len(b.Data)), b.Compressible
		}
		rows, err := tx.Query(ctx, `INSERT INTO blobs(hash, size, created_at, compressible)
			SELECT h, s, $4, c FROM unnest($1::text[], $2::bigint[], $3::boolean[]) AS t(h, s, c)
			ON CONFLICT (hash) DO NOTHING RETURNING hash`, hashes, sizes, comp, now)
		if err != nil {
			return 0, err
		}
		fresh, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return 0, err
		}
		isFresh := make(map[string]bool, len(fresh))
		for _, h := range fresh {
			isFresh[h] = true
		}
		var mark []string
		var chunks pgChunks
		for _, b := range batch {
			switch {
			case isFresh[b.Hash]:
				chunks.add(b.Hash, "", b.Data)
			case b.Compressible:
				mark = append(mark, b.Hash)
			}
		}
		if len(mark) > 0 {
			// See markCompressible: compressible is the OR of every upload.
			if _, err := tx.Exec(ctx, "UPDATE blobs SET compressible = true WHERE NOT compressible AND hash = ANY($1)", mark); err != nil {
				return 0, err
			}
		}
		if err := chunks.insert(ctx, tx); err != nil {
			return 0, err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO project_blobs(project_id, hash, size)
			SELECT $1, h, s FROM unnest($2::text[], $3::bigint[]) AS t(h, s) ON CONFLICT DO NOTHING`, projectID, hashes, sizes)
		if err != nil {
			return 0, err
		}
		recorded += int(tag.RowsAffected())
	}
	return recorded, nil
}

// pgChunks gathers blob_chunks rows to write.
type pgChunks struct {
	hashes, encodings []string
	seqs              []int32
	data              [][]byte
}

func (c *pgChunks) add(hash, encoding string, data []byte) {
	for seq := range chunkCount(len(data)) {
		c.hashes = append(c.hashes, hash)
		c.encodings = append(c.encodings, encoding)
		c.seqs = append(c.seqs, int32(seq))
		c.data = append(c.data, data[seq*chunkSize:min(int64(len(data)), (seq+1)*chunkSize)])
	}
}

// insert writes the rows with COPY, which PostgreSQL takes in a stream:
// cheaper for it than an INSERT of unnested arrays (no array to build and
// take apart on either side), and the driver sends the rows as it encodes
// them, a buffer at a time, so no copy of all the data is held.
func (c *pgChunks) insert(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"blob_chunks"}, []string{"hash", "encoding", "seq", "data"},
		pgx.CopyFromSlice(len(c.data), func(i int) ([]any, error) {
			return []any{c.hashes[i], c.encodings[i], c.seqs[i], c.data[i]}, nil
		}))
	return err
}

// PutBlobs implements Store.
func (s *Postgres) PutBlobs(ctx context.Context, sessionID string, blobs []BlobInput) (UploadResult, error) {
	var res UploadResult
	err := s.pgTx(ctx, func(tx pgx.Tx) error {
		if err := blobsShared(ctx, tx); err != nil {
			return err
		}
		var projectID string
		if err := tx.QueryRow(ctx, "SELECT project_id FROM upload_sessions WHERE id = $1", sessionID).Scan(&projectID); err != nil {
			return notFound(err)
		}
		arrived, err := pgPutBlobs(ctx, tx, projectID, blobs)
		if err != nil {
			return err
		}
		distinct := make(map[string]struct{}, len(blobs))
		for _, b := range blobs {
			distinct[b.Hash] = struct{}{}
		}
		// As in SQLite.PutBlobs: an exact decrement when every file was new
		// to the project, a recount otherwise. The row lock the update
		// takes orders concurrent buckets of the session.
		if arrived == len(distinct) {
			return tx.QueryRow(ctx, "UPDATE upload_sessions SET remaining = remaining - $1 WHERE id = $2 RETURNING remaining",
				arrived, sessionID).Scan(&res.Remaining)
		}
		return tx.QueryRow(ctx, `UPDATE upload_sessions SET remaining = (SELECT count(*) FROM session_hashes s
			WHERE s.session_id = upload_sessions.id AND NOT EXISTS
				(SELECT 1 FROM project_blobs p WHERE p.project_id = $1 AND p.hash = s.hash))
			WHERE id = $2 RETURNING remaining`, projectID, sessionID).Scan(&res.Remaining)
	})
	if err != nil {
		return res, fmt.Errorf("store blobs: %w", err)
	}
	return res, nil
}

// SetCompletionJWT implements Store.
func (s *Postgres) SetCompletionJWT(ctx context.Context, sessionID, token string) (string, error) {
	var v string
	err := s.pgTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE upload_sessions SET completion_jwt = $1 WHERE id = $2 AND completion_jwt IS NULL", token, sessionID); err != nil {
			return err
		}
		return notFound(tx.QueryRow(ctx, "SELECT coalesce(completion_jwt, '') FROM upload_sessions WHERE id = $1", sessionID).Scan(&v))
	})
	if err != nil {
		return "", fmt.Errorf("record completion token: %w", err)
	}
	return v, nil
}

// PutProjectBlobs implements Store.
func (s *Postgres) PutProjectBlobs(ctx context.Context, projectID string, blobs []BlobInput) error {
	err := s.pgTx(ctx, func(tx pgx.Tx) error {
		if err := blobsShared(ctx, tx); err != nil {
			return err
		}
		_, err := pgPutBlobs(ctx, tx, projectID, blobs)
		return err
	})
	if err != nil {
		return fmt.Errorf("store blobs: %w", pgError(err))
	}
	return nil
}

// pgSizeColumn names the blobs column of each representation's size.
var pgSizeColumn = map[string]string{"": "size", "gzip": "gzip_size", "br": "br_size"}

// OpenBlob implements Store.
func (s *Postgres) OpenBlob(ctx context.Context, hash, encoding string) (io.ReaderAt, int64, error) {
	col, ok := pgSizeColumn[encoding]
	if !ok {
		return nil, 0, fmt.Errorf("open blob: unknown encoding %q", encoding)
	}
	var size *int64
	err := s.pool.QueryRow(ctx, "SELECT "+col+" FROM blobs WHERE hash = $1", hash).Scan(&size)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && size == nil {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open blob: %w", err)
	}
	return &pgBlobReader{pool: s.pool, hash: hash, encoding: encoding, size: *size, seq: -1}, *size, nil
}

// pgBlobReader reads a chunked blob, keeping the last chunk it fetched so
// that sequential reads with small buffers cost one query per chunk.
type pgBlobReader struct {
	pool     *pgxpool.Pool
	hash     string
	encoding string
	size     int64

	mu    sync.Mutex
	seq   int64
	chunk []byte
}

func (b *pgBlobReader) ReadAt(p []byte, off int64) (int, error) {
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

func (b *pgBlobReader) load(seq int64) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seq == seq {
		return b.chunk, nil
	}
	var data []byte
	err := b.pool.QueryRow(context.Background(), "SELECT data FROM blob_chunks WHERE hash = $1 AND encoding = $2 AND seq = $3",
		b.hash, b.encoding, seq).Scan(&data)
	if err != nil {
		return nil, fmt.Errorf("read blob %s chunk %d: %w", b.hash, seq, err)
	}
	b.seq, b.chunk = seq, data
	return data, nil
}

// BlobsToCompress implements Store.
func (s *Postgres) BlobsToCompress(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT hash FROM blobs WHERE compressible AND compressed_at IS NULL LIMIT $1", limit)
	if err != nil {
		return nil, fmt.Errorf("list blobs to compress: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list blobs to compress: %w", err)
	}
	return out, nil
}

// PutVariants implements Store. The blob's row is locked, so two replicas
// compressing the same blob store its variants once.
func (s *Postgres) PutVariants(ctx context.Context, hash string, variants []Variant) error {
	err := s.pgTx(ctx, func(tx pgx.Tx) error {
		if err := blobsShared(ctx, tx); err != nil {
			return err
		}
		var done *int64
		if err := tx.QueryRow(ctx, "SELECT compressed_at FROM blobs WHERE hash = $1 FOR UPDATE", hash).Scan(&done); err != nil {
			return notFound(err) // collected meanwhile
		}
		if done != nil {
			return nil
		}
		var chunks pgChunks
		for _, v := range variants {
			col, ok := pgSizeColumn[v.Encoding]
			if !ok || v.Encoding == "" {
				return fmt.Errorf("unknown encoding %q", v.Encoding)
			}
			chunks.add(hash, v.Encoding, v.Data)
			if _, err := tx.Exec(ctx, "UPDATE blobs SET "+col+" = $1 WHERE hash = $2", len(v.Data), hash); err != nil {
				return err
			}
		}
		if err := chunks.insert(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE blobs SET compressed_at = $1 WHERE hash = $2", nanos(time.Now()), hash); err != nil {
			return err
		}
		if len(variants) == 0 {
			return nil
		}
		// Other replicas may have remembered that the blob had no variant.
		return recordChange(ctx, tx, BlobChangePrefix+hash)
	})
	if err != nil {
		return fmt.Errorf("store variants of %s: %w", hash, err)
	}
	return nil
}

// CollectGarbage implements Store. It runs in one transaction holding the
// blobs lock exclusively: no upload, session or deploy that counts on a
// blob is in flight while it decides, and a process killed halfway leaves
// nothing done. It also trims the change log.
func (s *Postgres) CollectGarbage(ctx context.Context, cutoff time.Time) (GCResult, error) {
	if gcBetweenPhases != nil {
		gcBetweenPhases()
	}
	var res GCResult
	err := s.pgTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockBlobs); err != nil {
			return err
		}
		now := nanos(time.Now())
		tag, err := tx.Exec(ctx, "DELETE FROM upload_sessions WHERE expires_at < $1", now)
		if err != nil {
			return err
		}
		res.Sessions = int(tag.RowsAffected())
		if _, err := tx.Exec(ctx, "DELETE FROM changes WHERE at < $1", nanos(time.Now().Add(-changeLogKeep))); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT hash FROM blobs b WHERE created_at < $1
			AND NOT EXISTS (SELECT 1 FROM deployment_assets a WHERE a.hash = b.hash)
			AND NOT EXISTS (SELECT 1 FROM deployment_modules m WHERE m.hash = b.hash)`, nanos(cutoff))
		if err != nil {
			return err
		}
		list, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		candidates := make(map[string]bool, len(list))
		for _, h := range list {
			candidates[h] = true
		}
		if len(candidates) == 0 {
			return nil
		}
		mrows, err := tx.Query(ctx, `SELECT m.manifest FROM upload_session_manifests m JOIN upload_sessions u ON u.id = m.session_id
			WHERE NOT u.used AND u.expires_at > $1`, now)
		if err != nil {
			return err
		}
		manifests, err := pgx.CollectRows(mrows, pgx.RowTo[[]byte])
		if err != nil {
			return err
		}
		for _, raw := range manifests {
			if err := spareManifestFiles(raw, candidates); err != nil {
				return err
			}
		}
		hashes := make([]string, 0, len(candidates))
		for h := range candidates {
			hashes = append(hashes, h)
		}
		slices.Sort(hashes)
		for len(hashes) > 0 {
			batch := hashes[:min(len(hashes), maxBatch)]
			hashes = hashes[len(batch):]
			var n int
			var bytes int64
			if err := tx.QueryRow(ctx, "WITH d AS (DELETE FROM blobs WHERE hash = ANY($1) RETURNING size) SELECT count(*), coalesce(sum(size), 0)::bigint FROM d",
				batch).Scan(&n, &bytes); err != nil {
				return err
			}
			res.Blobs += n
			res.Bytes += bytes
			if _, err := tx.Exec(ctx, "DELETE FROM blob_chunks WHERE hash = ANY($1)", batch); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "DELETE FROM project_blobs WHERE hash = ANY($1)", batch); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return GCResult{}, fmt.Errorf("collect garbage: %w", err)
	}
	return res, nil
}

// changeLogKeep is how long the change log keeps a row: far longer than
// any replica's poll interval.
const changeLogKeep = time.Hour

// ModuleHashes implements Store.
func (s *Postgres) ModuleHashes(ctx context.Context) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, "SELECT DISTINCT hash FROM deployment_modules")
	if err != nil {
		return nil, fmt.Errorf("list module hashes: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list module hashes: %w", err)
	}
	out := make(map[string]bool, len(list))
	for _, h := range list {
		out[h] = true
	}
	return out, nil
}
