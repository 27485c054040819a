// Command workerserver serves one WebAssembly server module through
// internal/host/worker, or the same hello response natively, so bench/worker.sh
// can compare them with wrk. It stands in for cfhost until cfhost can deploy
// server code from the command line.
//
//	workerserver -addr 127.0.0.1:8081 -wasm hello.wasm -cache /tmp/wasm-cache
//	workerserver -addr 127.0.0.1:8081 -native
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/cfdeploy/cfdeploy/internal/host/worker"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "workerserver:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	wasmPath := flag.String("wasm", "", "server module to run for every request")
	native := flag.Bool("native", false, "serve the hello response from Go instead of wasm")
	cache := flag.String("cache", "", "wazero compilation cache directory")
	concurrency := flag.Int("concurrency", 0, "guests run at once (0: GOMAXPROCS)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var h http.Handler
	switch {
	case *native:
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintln(w, "Hello from WebAssembly!")
		})
	case *wasmPath != "":
		wasm, err := os.ReadFile(*wasmPath)
		if err != nil {
			return err
		}
		rt, err := worker.New(ctx, worker.Config{
			CacheDir:    *cache,
			Concurrency: *concurrency,
			Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if err != nil {
			return err
		}
		defer rt.Close(context.Background())
		hash := worker.Hash(wasm)
		if err := rt.Prepare(ctx, hash, wasm); err != nil {
			return fmt.Errorf("prepare %s: %w", *wasmPath, err)
		}
		p := worker.Program{
			Hash: hash,
			Load: func(context.Context) ([]byte, error) { return wasm, nil },
			Name: *wasmPath,
		}
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rt.Serve(w, r, p, worker.Request{}, nil)
		})
	default:
		return fmt.Errorf("give -wasm FILE or -native")
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	fmt.Println("listening on", ln.Addr())
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
