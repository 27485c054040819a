package client

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// FileChangedError reports that a file's contents no longer match the hash
// in the manifest: it was edited during the deploy. Retrying cannot help;
// running the deploy again can.
type FileChangedError struct {
	Path string
}

func (e *FileChangedError) Error() string {
	return fmt.Sprintf("%s changed during the deploy; run the deploy again", e.Path)
}

// UploadBucket sends one bucket of files (phase 2) as a JSON object
// {hash: base64}. The body is streamed straight from disk, so file contents
// are read only while their bucket is on the wire and never held in memory
// whole; each file is hashed again on the way and the upload fails with
// *FileChangedError if it no longer matches. progress hears file bytes as
// they are sent, and a negative count when a failed attempt is started over.
// It returns the completion token once the host has every file, "" before.
// Uploading a bucket twice is harmless, so the call is retried freely.
func (c *Client) UploadBucket(ctx context.Context, projectID, uploadJWT string, files []manifest.File, progress func(delta int64)) (string, error) {
	if progress == nil {
		progress = func(int64) {}
	}
	length := int64(2) // {}
	for i, f := range files {
		if i > 0 {
			length++ // ,
		}
		length += 69 + int64(base64.StdEncoding.EncodedLen(int(f.Size)))
	}
	var prev *attemptBytes
	body := func() (io.Reader, int64, error) {
		if prev != nil {
			prev.retire(progress)
		}
		cur := &attemptBytes{}
		prev = cur
		pr, pw := io.Pipe()
		go func() {
			pw.CloseWithError(writeBucket(pw, files, func(n int64) { cur.add(n, progress) }))
		}()
		return pr, length, nil
	}
	var out api.UploadResponse
	_, err := c.do(ctx, request{
		method:     http.MethodPost,
		path:       projectPath(projectID, "/assets/upload"),
		body:       body,
		auth:       uploadJWT,
		idempotent: true,
		stall:      true,
		out:        &out,
	})
	if err != nil {
		return "", fmt.Errorf("upload %d files: %w", len(files), err)
	}
	if out.Result.JWT == nil {
		return "", nil
	}
	return *out.Result.JWT, nil
}

// attemptBytes counts the file bytes one upload attempt has reported, so
// that they can be taken back when the attempt is abandoned. The writer of an
// abandoned attempt may still be running; once retired, its reports are
// dropped.
type attemptBytes struct {
	mu      sync.Mutex
	n       int64
	retired bool
}

func (a *attemptBytes) add(n int64, progress func(int64)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.retired {
		a.n += n
		progress(n)
	}
}

func (a *attemptBytes) retire(progress func(int64)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.retired && a.n != 0 {
		progress(-a.n)
	}
	a.retired = true
}

// writeBucket writes the JSON body of a bucket to w, in chunks of 64 KiB:
// unbuffered, the base64 encoder's 1 KiB writes each crossed the pipe to the
// HTTP transport and became a write system call of their own (92,000 for a
// 10,000-file site).
func writeBucket(pw io.Writer, files []manifest.File, progress func(int64)) error {
	w := bufio.NewWriterSize(pw, 64<<10)
	if _, err := io.WriteString(w, "{"); err != nil {
		return err
	}
	buf := make([]byte, 96<<10) // a multiple of 3: no base64 padding mid-file
	for i, f := range files {
		sep := `"`
		if i > 0 {
			sep = `,"`
		}
		if _, err := io.WriteString(w, sep+f.Hash+`":"`); err != nil {
			return err
		}
		if err := writeFileBase64(w, f, buf, progress); err != nil {
			return err
		}
		if _, err := io.WriteString(w, `"`); err != nil {
			return err
		}
	}
	if _, err := io.WriteString(w, "}"); err != nil {
		return err
	}
	return w.Flush()
}

// writeFileBase64 streams f as base64 into w, checking its size and hash.
func writeFileBase64(w io.Writer, f manifest.File, buf []byte, progress func(int64)) error {
	r, err := manifest.OpenFile(f.OSPath)
	if err != nil {
		return &permanentError{fmt.Errorf("open %s: %w", f.Path, err)}
	}
	defer r.Close()
	enc := base64.NewEncoder(base64.StdEncoding, w)
	h := sha256.New()
	var n int64
	for {
		k, rerr := io.ReadFull(r, buf)
		if k > 0 {
			n += int64(k)
			if n > f.Size {
				return &permanentError{&FileChangedError{Path: f.Path}}
			}
			h.Write(buf[:k])
			if _, err := enc.Write(buf[:k]); err != nil {
				return err
			}
			progress(int64(k))
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return &permanentError{fmt.Errorf("read %s: %w", f.Path, rerr)}
		}
	}
	if n != f.Size || hex.EncodeToString(h.Sum(nil)) != f.Hash {
		return &permanentError{&FileChangedError{Path: f.Path}}
	}
	return enc.Close()
}
