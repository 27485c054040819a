package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

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
