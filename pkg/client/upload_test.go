package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// TestUploadBucketBinaryBody checks the multipart body of a binary bucket:
// its declared length is exact, it asks for ?base64=false, and every part
// is named by its hash and holds the file's bytes unchanged.
func TestUploadBucketBinaryBody(t *testing.T) {
	big := string(make([]byte, 300<<10+1))
	files := bucketFiles(t, " padded \r\n", "", big, "\r\n--not-a-boundary--\r\n", "\x00\xff")
	var mu sync.Mutex
	var progress int64
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("base64"); got != "false" {
			t.Errorf("base64=%q, want false", got)
		}
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		if int64(len(raw)) != r.ContentLength {
			t.Errorf("body is %d bytes, Content-Length said %d", len(raw), r.ContentLength)
		}
		ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || ct != "multipart/form-data" {
			t.Fatalf("Content-Type %q (%v)", r.Header.Get("Content-Type"), err)
		}
		mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
		got := map[string]string{}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("part: %v", err)
			}
			b, _ := io.ReadAll(part)
			got[part.FormName()] = string(b)
		}
		for _, f := range files {
			b, ok := got[f.Hash]
			if !ok || manifest.HashBytes([]byte(b)) != f.Hash {
				t.Errorf("%s: part missing or changed", f.Path)
			}
		}
		if len(got) != len(files) {
			t.Errorf("%d parts, want %d", len(got), len(files))
		}
		w.WriteHeader(201)
		io.WriteString(w, `{"success":true,"result":{"jwt":"done"}}`)
	}), fastOptions())
	jwt, err := c.UploadBucketBinary(context.Background(), "p", "upload-jwt", files, func(d int64) {
		mu.Lock()
		progress += d
		mu.Unlock()
	})
	if err != nil || jwt != "done" {
		t.Fatalf("UploadBucketBinary = %q, %v", jwt, err)
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	if progress != total {
		t.Errorf("progress reported %d bytes, want %d", progress, total)
	}
}

// TestUploadBucketBinaryFileChanged: a file edited after it was hashed stops
// a binary upload with *FileChangedError, whether its size changed (the
// declared length would be wrong) or not, and is not retried.
func TestUploadBucketBinaryFileChanged(t *testing.T) {
	for _, tc := range []struct{ name, now string }{
		{"same size", "ORIGINAL"},
		{"longer", "original and more"},
		{"shorter", "orig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := bucketFiles(t, "first", "original")
			if err := os.WriteFile(files[1].OSPath, []byte(tc.now), 0o644); err != nil {
				t.Fatal(err)
			}
			var calls atomic.Int64
			c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				io.Copy(io.Discard, r.Body)
				io.WriteString(w, `{"success":true,"result":{"jwt":null}}`)
			}), fastOptions())
			_, err := c.UploadBucketBinary(context.Background(), "p", "jwt", files, nil)
			var fc *FileChangedError
			if !errors.As(err, &fc) || fc.Path != files[1].Path {
				t.Fatalf("err = %v, want *FileChangedError for %s", err, files[1].Path)
			}
			if calls.Load() > 1 {
				t.Errorf("a changed file was retried %d times", calls.Load())
			}
		})
	}
}

// BenchmarkWriteBucket writes the body of one bucket of 50 files of 16 KiB
// from disk in each form. SetBytes counts file bytes.
func BenchmarkWriteBucket(b *testing.B) {
	contents := make([]string, 50)
	for i := range contents {
		contents[i] = string(bytes.Repeat([]byte{byte(i), 0xfe, '\n', 'x'}, 4096))
	}
	files := bucketFiles(b, contents...)
	var total int64
	for _, f := range files {
		total += f.Size
	}
	for _, c := range []struct {
		name  string
		write func(w io.Writer) error
	}{
		{"json", func(w io.Writer) error { return writeBucket(w, files, func(int64) {}) }},
		{"multipart binary", func(w io.Writer) error { return writeMultipartBucket(w, "b", files, func(int64) {}) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				if err := c.write(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
