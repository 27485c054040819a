package worker

import (
	"context"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

type ctxKey struct{}

// recordingFS is a ContextFS that notes the contexts it was bound to.
type recordingFS struct {
	fs.FS
	mu   sync.Mutex
	ctxs []context.Context
}

func (r *recordingFS) WithContext(ctx context.Context) fs.FS {
	r.mu.Lock()
	r.ctxs = append(r.ctxs, ctx)
	r.mu.Unlock()
	return r.FS
}

// A guest's file reads run on its request's context, not a background one.
func TestGuestFilesUseTheRequestContext(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, Config{})
	p, _ := program(t, rt, "app")
	rec := &recordingFS{FS: testAssets}
	p.Assets = rec
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, "this request"))
		rt.Serve(w, r, p, Request{}, nil)
	}))
	defer ts.Close()
	res, body := get(t, ts.URL+"/read/assets/static.txt")
	if res.StatusCode != 200 || body != "static asset\n" {
		t.Fatalf("read through a context-bound mount: %d %q", res.StatusCode, body)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.ctxs) != 1 || rec.ctxs[0].Value(ctxKey{}) != "this request" {
		t.Fatalf("assets bound to %d contexts, %v", len(rec.ctxs), rec.ctxs)
	}
}
