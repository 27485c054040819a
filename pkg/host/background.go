package host

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/cfdeploy/cfdeploy/pkg/host/store"
)

// kickCompression wakes the compressor without blocking the upload.
func (h *Host) kickCompression() {
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
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		for ctx.Err() == nil {
			hashes, err := h.store.BlobsToCompress(ctx, 32)
			if err != nil {
				if ctx.Err() == nil {
					h.log.Error("list blobs to compress", "err", err)
				}
				break
			}
			if len(hashes) == 0 {
				break
			}
			for _, hash := range hashes {
				if err := h.compressBlob(ctx, hash); err != nil && ctx.Err() == nil {
					h.log.Error("compress blob", "hash", hash, "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-h.compressNow:
		case <-tick.C:
		}
	}
}

// minSaving is the fraction a variant must save to be worth storing.
const minSaving = 0.9

func (h *Host) compressBlob(ctx context.Context, hash string) error {
	ra, size, err := h.store.OpenBlob(ctx, hash, "")
	if err != nil {
		return err
	}
	data, err := io.ReadAll(io.NewSectionReader(ra, 0, size))
	if err != nil {
		return err
	}
	var variants []store.Variant
	if size >= 256 {
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		zw.Write(data)
		zw.Close()
		if float64(gz.Len()) < float64(size)*minSaving {
			variants = append(variants, store.Variant{Encoding: "gzip", Data: gz.Bytes()})
		}
		var br bytes.Buffer
		bw := brotli.NewWriterLevel(&br, brotli.BestCompression)
		bw.Write(data)
		bw.Close()
		if float64(br.Len()) < float64(size)*minSaving {
			variants = append(variants, store.Variant{Encoding: "br", Data: br.Bytes()})
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
func (h *Host) CollectGarbage(ctx context.Context) (store.GCResult, error) {
	res, err := h.store.CollectGarbage(ctx, time.Now().Add(-h.cfg.GCGrace))
	if err != nil {
		if ctx.Err() == nil {
			h.log.Error("garbage collection", "err", err)
		}
		return res, err
	}
	if res.Blobs > 0 || res.Sessions > 0 {
		h.log.Info("garbage collected", "blobs", res.Blobs, "bytes", res.Bytes, "sessions", res.Sessions)
	}
	return res, nil
}

// blobsChanged tells the caches that a blob gained variants.
func (h *Host) blobsChanged(hash string) {}
