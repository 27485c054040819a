package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// fileWatch watches single files that may live anywhere (cfdeploy.toml, the
// server code) and signals changed after a quiet time. It watches their
// directories, not the files: editors save by writing a new file and
// renaming it over the old one, which ends a watch on the file itself, and
// a file that does not exist yet can be watched for only that way.
type fileWatch struct {
	changed <-chan struct{}
	w       *fsnotify.Watcher
	logf    func(error)

	mu    sync.Mutex
	files map[string]bool // absolute paths
	dirs  map[string]bool
}

func watchFiles(ctx context.Context, debounce time.Duration, logf func(error)) (*fileWatch, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch files: %w", err)
	}
	out := make(chan struct{}, 1)
	fw := &fileWatch{changed: out, w: w, logf: logf, files: map[string]bool{}, dirs: map[string]bool{}}
	go func() {
		defer w.Close()
		var timer <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				fw.mu.Lock()
				hit := fw.files[filepath.Clean(ev.Name)]
				fw.mu.Unlock()
				if hit {
					timer = time.After(debounce)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				logf(err)
			case <-timer:
				timer = nil
				select {
				case out <- struct{}{}:
				default: // a redeploy is already pending
				}
			}
		}
	}()
	return fw, nil
}

// set replaces the watched files (their directories stay watched).
func (fw *fileWatch) set(files []string) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	fw.files = map[string]bool{}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			continue
		}
		fw.files[abs] = true
		dir := filepath.Dir(abs)
		if !fw.dirs[dir] {
			if err := fw.w.Add(dir); err != nil {
				fw.logf(err)
				continue
			}
			fw.dirs[dir] = true
		}
	}
}

// devRequests is the sink of the embedded host's access log in dev: it
// turns each JSON line into one short line for people (method, path,
// status, duration and what answered). Lines arrive in batches, at most a
// second after their request.
type devRequests struct {
	mu sync.Mutex
	w  io.Writer
}

func (d *devRequests) Write(batch []byte) (int, error) {
	var out bytes.Buffer
	for line := range bytes.SplitSeq(bytes.TrimSpace(batch), []byte("\n")) {
		var e struct {
			Method     string `json:"method"`
			Path       string `json:"path"`
			Status     int    `json:"status"`
			DurationUS int64  `json:"duration_us"`
			By         string `json:"by"`
			Msg        string `json:"msg"`
		}
		if json.Unmarshal(line, &e) != nil || e.Method == "" {
			if e.Msg != "" {
				fmt.Fprintln(&out, e.Msg)
			}
			continue
		}
		by := e.By
		switch by {
		case "server_code":
			by = "server code"
		case "", "none":
			by = "host"
		}
		fmt.Fprintf(&out, "%s %s %d %s %s\n", e.Method, e.Path, e.Status, time.Duration(e.DurationUS)*time.Microsecond, by)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.w.Write(out.Bytes()); err != nil {
		return 0, err
	}
	return len(batch), nil
}
