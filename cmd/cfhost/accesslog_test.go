package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host/accesslog"

	"github.com/cfdeploy/cfdeploy/internal/poll"
)

// After logrotate moves the file away and sends SIGHUP, new lines go to a
// new file at the configured path and none are lost.
func TestAccessLogReopensOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	o := serveOptions{AccessLogFile: path, AccessLogFormat: accesslog.Logfmt}
	w, closeLog, err := openAccessLog(t.Context(), o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	w.Log(accesslog.Entry{Method: "GET", Path: "/before"})
	w.Flush()
	rotated := filepath.Join(dir, "access.log.1")
	waitFor(t, func() bool { b, _ := os.ReadFile(path); return strings.Contains(string(b), "/before") })
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, func() bool { _, err := os.Stat(path); return err == nil })
	w.Log(accesslog.Entry{Method: "GET", Path: "/after"})
	closeLog()
	old, _ := os.ReadFile(rotated)
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), "/before") || strings.Contains(string(old), "/after") || !strings.Contains(string(cur), "/after") {
		t.Fatalf("rotated file:\n%s\nnew file:\n%s", old, cur)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	poll.Until(t, 10*time.Second, "the access log", cond)
}
