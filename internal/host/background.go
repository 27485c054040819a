package host

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
)

// markDeploying notes that a deploy is in progress: a session being
// opened, a bucket arriving, a deployment being written. Compression waits
// until these have paused, so that on a small machine it does not take a
// core from the deploy.
func (h *Host) markDeploying() {
	h.lastUpload.Store(time.Now().UnixNano())
}

// kickCompression notes upload activity and wakes the compressor without
// blocking the upload.
func (h *Host) kickCompression() {
	h.markDeploying()
	select {
	case h.compressNow <- struct{}{}:
	default:
	}
}

// compressLoop stores gzip and brotli variants of compressible blobs off the
// upload path: brotli at high quality is slow, and an upload should cost no
// more than hashing, decoding and one write.
func (h *Host) compressLoop(ctx context.Context) {
	defer h.wg.Done()
	c := newCompressor()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		// On a shared database one replica compresses at a time; the
		// others find the lock taken and wait for the next round.
		_, err := h.exclusive(ctx, jobCompress, func(ctx context.Context) error {
			h.compressPending(ctx, c)
			return nil
		})
		if err != nil && ctx.Err() == nil {
			h.log.Error("compression", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-h.compressNow:
		case <-tick.C:
		}
	}
}

// compressPending compresses blobs until none is left or ctx ends.
func (h *Host) compressPending(ctx context.Context, c *compressor) {
	for ctx.Err() == nil {
		// Uploads come first: on a small machine the compressor would
		// otherwise take a core from a deploy in progress.
		if !h.waitForQuiet(ctx) {
			return
		}
		hashes, err := h.store.BlobsToCompress(ctx, 32)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Error("list blobs to compress", "err", err)
			}
			return
		}
		if len(hashes) == 0 {
			return
		}
		for _, hash := range hashes {
			// A deploy may have begun since the batch was listed.
			if !h.waitForQuiet(ctx) {
				return
			}
			if err := h.compressBlob(ctx, c, hash); err != nil && ctx.Err() == nil {
				h.log.Error("compress blob", "hash", hash, "err", err)
			}
		}
	}
}

// compressQuiet is how long deploys must have paused before compression runs.
const compressQuiet = time.Second

// waitForQuiet blocks until no deploy activity (markDeploying) has been
// seen for compressQuiet, and reports false when ctx ends first.
func (h *Host) waitForQuiet(ctx context.Context) bool {
	for {
		idle := time.Since(time.Unix(0, h.lastUpload.Load()))
		if idle >= compressQuiet {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(compressQuiet - idle):
		}
	}
}

// A variant is stored only for blobs of at least minCompressSize bytes and
// only when it is smaller than minSaving times the original.
//
// Brotli runs at level 9: on typical HTML and JS, level 11 saves another 8%
// but is 15 times slower (0.85 MB/s against 13 MB/s on this project's
// 2-core reference machine), which for a 50 MB site would mean a minute of
// a core after every first deploy.
const (
	brotliLevel     = 9
	minCompressSize = 256
	minSaving       = 0.9
)

// compressor keeps its encoders between blobs: a brotli writer at high
// quality allocates megabytes of tables, which would otherwise dominate the
// cost of compressing small files.
type compressor struct {
	gz  *gzip.Writer
	br  *brotli.Writer
	buf bytes.Buffer
}

func newCompressor() *compressor {
	gz, _ := gzip.NewWriterLevel(io.Discard, gzip.BestCompression)
	return &compressor{gz: gz, br: brotli.NewWriterLevel(io.Discard, brotliLevel)}
}

// variant compresses data with the encoding and keeps the result when it
// saves enough to be worth a second copy.
func (c *compressor) variant(encoding string, data []byte) (store.Variant, bool) {
	c.buf.Reset()
	var w interface {
		io.WriteCloser
		Reset(io.Writer)
	} = c.gz
	if encoding == "br" {
		w = c.br
	}
	w.Reset(&c.buf)
	w.Write(data)
	w.Close()
	if float64(c.buf.Len()) >= float64(len(data))*minSaving {
		return store.Variant{}, false
	}
	return store.Variant{Encoding: encoding, Data: bytes.Clone(c.buf.Bytes())}, true
}

func (h *Host) compressBlob(ctx context.Context, c *compressor, hash string) error {
	ra, size, err := h.store.OpenBlob(ctx, hash, "")
	if err != nil {
		return err
	}
	data, err := io.ReadAll(io.NewSectionReader(ra, 0, size))
	if err != nil {
		return err
	}
	var variants []store.Variant
	if size >= minCompressSize {
		for _, enc := range []string{"gzip", "br"} {
			if v, ok := c.variant(enc, data); ok {
				variants = append(variants, v)
			}
		}
	}
	if err := h.store.PutVariants(ctx, hash, variants); err != nil {
		return err
	}
	h.blobsChanged(hash)
	return nil
}

// gcLoop collects garbage now and then.
func (h *Host) gcLoop(ctx context.Context) {
	defer h.wg.Done()
	tick := time.NewTicker(h.cfg.GCInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			h.CollectGarbage(ctx)
		}
	}
}

// CollectGarbage deletes expired upload sessions and blobs that no
// deployment uses and that are older than the grace period.
//
// On a shared database one replica collects at a time: another that finds
// the job taken skips this round (and still prunes its own wasm cache).
func (h *Host) CollectGarbage(ctx context.Context) (store.GCResult, error) {
	var res store.GCResult
	ran, err := h.exclusive(ctx, jobGC, func(ctx context.Context) error {
		var err error
		res, err = h.store.CollectGarbage(ctx, h.cfg.Now().Add(-h.cfg.GCGrace))
		return err
	})
	if ran || err != nil {
		h.metrics.gcRan(res, err)
	}
	if err != nil {
		if ctx.Err() == nil {
			h.log.Error("garbage collection", "err", err)
		}
		return res, err
	}
	if res.Blobs > 0 || res.Sessions > 0 {
		h.log.Info("garbage collected", "blobs", res.Blobs, "bytes", res.Bytes, "sessions", res.Sessions)
	}
	if err := h.pruneWasmCache(ctx); err != nil && ctx.Err() == nil {
		h.log.Error("prune wasm compilation cache", "err", err)
	}
	return res, nil
}

// pruneWasmCache removes the compiled machine code of modules that no
// deployment lists any more (once unused for the grace period), and the
// least recently used beyond the cache's size cap: wazero never deletes
// what it caches, and every deploy of new server code adds tens of
// megabytes.
func (h *Host) pruneWasmCache(ctx context.Context) error {
	keep, err := h.store.ModuleHashes(ctx)
	if err != nil {
		return err
	}
	res, err := h.worker.PruneCache(ctx, func(hash string) bool { return keep[hash] },
		h.cfg.Now().Add(-h.cfg.GCGrace), h.worker.Config().CacheMaxBytes)
	if res.Entries > 0 {
		h.log.Info("wasm compilation cache pruned", "modules", res.Entries, "bytes", res.Bytes, "kept_bytes", res.Kept)
	}
	return err
}

// blobsChanged tells the asset cache that a blob gained variants.
func (h *Host) blobsChanged(hash string) { h.cache.Invalidate(hash) }

// blobSource adapts the store to the asset cache: a missing blob or variant
// is fs.ErrNotExist there.
type blobSource struct{ st store.Store }

func (b blobSource) OpenBlob(ctx context.Context, hash, encoding string) (io.ReaderAt, int64, error) {
	ra, n, err := b.st.OpenBlob(ctx, hash, encoding)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, fs.ErrNotExist
	}
	return ra, n, err
}
