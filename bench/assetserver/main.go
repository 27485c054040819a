// Command assetserver serves one directory through internal/host/assets, the
// way cfhost serves a deployment, with the blobs held in memory. It stands
// in for cmd/cfhost in bench/static.sh: same pipeline, same cache, same
// headers, no store or project routing in front.
//
// Usage: assetserver -dir DIR [-listen ADDR] [-html-handling MODE]
// [-not-found-handling MODE] [-compress]
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/cfdeploy/cfdeploy/internal/host/assets"
	"github.com/cfdeploy/cfdeploy/internal/host/coalesce"
	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
	"github.com/cfdeploy/cfdeploy/pkg/rules"
)

// memBlobs is a BlobSource over blobs held in memory.
type memBlobs map[string][]byte // hash + "/" + encoding

func (m memBlobs) OpenBlob(_ context.Context, hash, encoding string) (io.ReaderAt, int64, error) {
	b, ok := m[hash+"/"+encoding]
	if !ok {
		return nil, 0, fmt.Errorf("blob %s %q: %w", hash, encoding, fs.ErrNotExist)
	}
	return bytes.NewReader(b), int64(len(b)), nil
}

func main() {
	dir := flag.String("dir", ".", "directory to serve")
	listen := flag.String("listen", "127.0.0.1:8788", "address to listen on")
	html := flag.String("html-handling", "", "html_handling mode")
	notFound := flag.String("not-found-handling", "", "not_found_handling mode")
	compress := flag.Bool("compress", false, "also store gzip and br variants of text files")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*dir, *listen, *html, *notFound, *compress, log); err != nil {
		log.Error("assetserver", "err", err)
		os.Exit(1)
	}
}

func run(dir, listen, html, notFound string, compress bool, log *slog.Logger) error {
	blobs := memBlobs{}
	d := assets.Deployment{
		ID:     "bench",
		Assets: map[string]assets.Asset{},
		Config: rules.Config{HTMLHandling: html, NotFoundHandling: notFound},
		Logger: log,
	}
	if err := d.Config.Normalize(); err != nil {
		return err
	}
	var redirects, headers string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch name := "/" + filepath.ToSlash(rel); name {
		case "/_redirects":
			redirects = string(b)
		case "/_headers":
			headers = string(b)
		default:
			sum := sha256.Sum256(b)
			hash := hex.EncodeToString(sum[:])
			blobs[hash+"/"] = b
			ct := manifest.ContentType(name)
			d.Assets[name] = assets.Asset{Hash: hash, Size: int64(len(b)), ContentType: ct}
			if compress && len(b) > 1024 && isText(ct) {
				blobs[hash+"/gzip"], blobs[hash+"/br"] = gzipped(b), brotlied(b)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, w := range parseRules(&d, redirects, headers) {
		log.Warn("rule skipped", "file", w.File, "line", w.Line, "message", w.Message)
	}
	site, err := assets.Compile(d, assets.NewCache(blobs, 0))
	if err != nil {
		return err
	}
	// Served as cmd/cfhost serves assets: each response's header is held
	// and leaves with its body, a body kept in a file by sendfile.
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := coalesce.From(r.Context())
		c.Hold()
		site.ServeHTTP(w, r)
		c.Done(w)
	})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ConnContext: coalesce.ConnContext}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	log.Info("serving", "dir", dir, "listen", listen, "assets", len(d.Assets))
	if err := srv.Serve(coalesce.Listener(ln)); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func parseRules(d *assets.Deployment, redirects, headers string) []api.Warning {
	var warns []api.Warning
	if redirects != "" {
		r, w, _ := rules.ParseRedirects(redirects, d.Config.HTMLHandling)
		d.Redirects = r
		warns = append(warns, w...)
	}
	if headers != "" {
		h, w, _ := rules.ParseHeaders(headers)
		d.Headers = h
		warns = append(warns, w...)
	}
	return warns
}

func isText(ct string) bool {
	return len(ct) >= 5 && ct[:5] == "text/" || ct == "application/json" || ct == "image/svg+xml" || ct == "application/wasm"
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func brotlied(b []byte) []byte {
	var buf bytes.Buffer
	bw := brotli.NewWriterLevel(&buf, brotli.BestCompression)
	bw.Write(b)
	bw.Close()
	return buf.Bytes()
}
