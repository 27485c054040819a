package manifest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// HashProgress is a snapshot of a running HashFiles call.
type HashProgress struct {
	FilesDone, FilesTotal int
	BytesDone, BytesTotal int64
	Cached                int // files whose hash came from the cache
}

// HashOptions tune HashFiles. The zero value hashes on every core without a
// cache and without progress reports.
type HashOptions struct {
	Cache   *Cache
	Workers int // default runtime.GOMAXPROCS(0)
	// Progress, if set, is called from one goroutine at most every
	// ProgressInterval and once at the end with the final numbers.
	Progress         func(HashProgress)
	ProgressInterval time.Duration // default 100ms
}

// HashStats summarises a finished HashFiles call.
type HashStats struct {
	Files     int
	Bytes     int64 // total size of the files
	Cached    int   // files taken from the cache
	BytesRead int64 // bytes actually read and hashed
}

// HashFiles fills files[i].Hash with the SHA-256 of each file, in parallel on
// all cores, taking hashes from opts.Cache where path, size and mtime still
// match and recording new ones there. A file whose size changed since Walk is
// reported, because its manifest entry would be wrong.
func HashFiles(ctx context.Context, files []File, opts HashOptions) (HashStats, error) {
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, max(len(files), 1))
	var total int64
	for _, f := range files {
		total += f.Size
	}
	var (
		next       atomic.Int64
		filesDone  atomic.Int64
		bytesDone  atomic.Int64
		cached     atomic.Int64
		bytesRead  atomic.Int64
		firstErr   error
		errOnce    sync.Once
		ctx2, stop = context.WithCancel(ctx)
	)
	defer stop()
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; stop() })
	}
	snapshot := func() HashProgress {
		return HashProgress{
			FilesDone: int(filesDone.Load()), FilesTotal: len(files),
			BytesDone: bytesDone.Load(), BytesTotal: total,
			Cached: int(cached.Load()),
		}
	}

	reporterDone := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(reporterDone)
		if opts.Progress == nil {
			return
		}
		iv := opts.ProgressInterval
		if iv <= 0 {
			iv = 100 * time.Millisecond
		}
		t := time.NewTicker(iv)
		defer t.Stop()
		opts.Progress(snapshot())
		for {
			select {
			case <-finished:
				return
			case <-t.C:
				opts.Progress(snapshot())
			}
		}
	}()

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte // allocated at the first file not in the cache
			h := sha256.New()
			// Cache hits are counted here and published every few dozen
			// files: on a warm deploy, three shared counters bumped per file
			// cost more than the lookups.
			var hitFiles, hitBytes int64
			flush := func() {
				if hitFiles > 0 {
					cached.Add(hitFiles)
					bytesDone.Add(hitBytes)
					filesDone.Add(hitFiles)
					hitFiles, hitBytes = 0, 0
				}
			}
			defer flush()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(files) || ctx2.Err() != nil {
					return
				}
				f := &files[i]
				if sum, ok := opts.Cache.Lookup(*f); ok {
					f.Hash = sum
					hitFiles++
					hitBytes += f.Size
					if hitFiles == 64 {
						flush()
					}
					continue
				}
				flush()
				if buf == nil {
					buf = make([]byte, 256<<10)
				}
				start := time.Now()
				n, err := hashFile(f, h, buf, &bytesDone)
				bytesRead.Add(n)
				if err != nil {
					fail(err)
					return
				}
				opts.Cache.Store(*f, f.Hash, start)
				filesDone.Add(1)
			}
		}()
	}
	wg.Wait()
	close(finished)
	<-reporterDone
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if opts.Progress != nil && firstErr == nil {
		opts.Progress(snapshot())
	}
	st := HashStats{Files: len(files), Bytes: total, Cached: int(cached.Load()), BytesRead: bytesRead.Load()}
	return st, firstErr
}

// hashFile hashes one file with the reusable hasher and buffer, adding the
// bytes read to done as it goes so that a large file shows progress.
func hashFile(f *File, h hashState, buf []byte, done *atomic.Int64) (int64, error) {
	r, err := openRead(f.OSPath)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", f.Path, err)
	}
	defer r.close()
	h.Reset()
	var n int64
	for {
		k, err := r.read(buf)
		if k > 0 {
			h.Write(buf[:k])
			n += int64(k)
			done.Add(int64(k))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("read %s: %w", f.Path, err)
		}
	}
	if n != f.Size {
		return n, fmt.Errorf("%s changed while it was being read (%d bytes, expected %d); run the deploy again", f.Path, n, f.Size)
	}
	var sum [sha256.Size]byte
	f.Hash = hex.EncodeToString(h.Sum(sum[:0]))
	return n, nil
}

// osReader reads a file with package os: the reader on platforms without
// a leaner one.
type osReader struct{ f *os.File }

func openReadOS(path string) (osReader, error) {
	f, err := os.Open(path)
	return osReader{f}, err
}

func (r osReader) read(b []byte) (int, error) { return r.f.Read(b) }
func (r osReader) close()                     { r.f.Close() }

// hashState is the part of hash.Hash that hashFile needs.
type hashState interface {
	io.Writer
	Reset()
	Sum([]byte) []byte
}

// HashBytes returns the SHA-256 of b in lowercase hex, the form manifests use.
func HashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// OpenFile opens a file of the site for reading with the leanest reader the
// platform has: on Linux a bare descriptor, without the runtime poller
// registration os.Open attempts (and regular files refuse) for every file.
// The deploy reads each file twice, to hash it and to upload it.
func OpenFile(path string) (io.ReadCloser, error) {
	r, err := openRead(path)
	if err != nil {
		return nil, err
	}
	return fileReader{r}, nil
}

type fileReader struct {
	r interface {
		read([]byte) (int, error)
		close()
	}
}

func (f fileReader) Read(b []byte) (int, error) { return f.r.read(b) }
func (f fileReader) Close() error               { f.r.close(); return nil }
