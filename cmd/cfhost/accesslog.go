package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/cfdeploy/cfdeploy/internal/host/accesslog"
)

// openAccessLog starts the access log on stderr or --access-log-file. A
// file is reopened on SIGHUP, so logrotate can move it away and signal.
// The returned func flushes every line and closes the file.
func openAccessLog(ctx context.Context, o serveOptions, log *slog.Logger) (*accesslog.Writer, func(), error) {
	if o.AccessLogFile == "" {
		w := accesslog.New(os.Stderr, o.AccessLogFormat)
		return w, func() { w.Close() }, nil
	}
	open := func() (*os.File, error) {
		f, err := os.OpenFile(o.AccessLogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return nil, fmt.Errorf("open access log: %w", err)
		}
		return f, nil
	}
	f, err := open()
	if err != nil {
		return nil, nil, err
	}
	w := accesslog.New(f, o.AccessLogFormat)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-hup:
				nf, err := open()
				if err != nil {
					log.Error("reopen access log; still writing to the old file", "err", err)
					continue
				}
				w.Flush()
				old := f
				w.SetSink(nf)
				f = nf
				old.Close()
				log.Info("reopened access log", "path", o.AccessLogFile)
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return w, func() {
		signal.Stop(hup)
		close(stop)
		<-done
		w.Close()
		f.Close()
	}, nil
}
