package client

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
// {hash: base64}, the form every host takes. The body is streamed straight
// from disk, so file contents are read only while their bucket is on the
// wire and never held in memory whole; each file is hashed again on the way
// and the upload fails with *FileChangedError if it no longer matches.
// progress hears file bytes as they are sent, and a negative count when a
// failed attempt is started over. It returns the completion token once the
// host has every file, "" before. Uploading a bucket twice is harmless, so
// the call is retried freely.
func (c *Client) UploadBucket(ctx context.Context, projectID, uploadJWT string, files []manifest.File, progress func(delta int64)) (string, error) {
	length := int64(2) // {}
	for i, f := range files {
		if i > 0 {
			length++ // ,
		}
		length += 69 + int64(base64.StdEncoding.EncodedLen(int(f.Size)))
	}
	write := func(w io.Writer, progress func(int64)) error { return writeBucket(w, files, progress) }
	return c.uploadBucket(ctx, projectID, uploadJWT, len(files), "application/json", nil, length, write, progress)
}

// UploadBucketBinary is UploadBucket with the files' own bytes in a
// multipart/form-data body (?base64=false), for hosts whose upload session
// says BinaryUploads: a third fewer bytes than base64, and no encoding or
// decoding on either end.
func (c *Client) UploadBucketBinary(ctx context.Context, projectID, uploadJWT string, files []manifest.File, progress func(delta int64)) (string, error) {
	boundary, err := newBoundary()
	if err != nil {
		return "", err
	}
	length := int64(len(closingBoundary(boundary)))
	for i, f := range files {
		length += int64(len(partHeader(boundary, f.Hash, i == 0))) + f.Size
	}
	write := func(w io.Writer, progress func(int64)) error {
		return writeMultipartBucket(w, boundary, files, progress)
	}
	return c.uploadBucket(ctx, projectID, uploadJWT, len(files), "multipart/form-data; boundary="+boundary,
		url.Values{"base64": {"false"}}, length, write, progress)
}

// uploadBucket posts a bucket body of length bytes that write produces, once
// per attempt.
func (c *Client) uploadBucket(ctx context.Context, projectID, uploadJWT string, n int, contentType string, query url.Values, length int64,
	write func(w io.Writer, progress func(int64)) error, progress func(int64)) (string, error) {
	if progress == nil {
		progress = func(int64) {}
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
			pw.CloseWithError(write(pw, func(n int64) { cur.add(n, progress) }))
		}()
		return pr, length, nil
	}
	var out api.UploadResponse
	_, err := c.do(ctx, request{
		method:      http.MethodPost,
		path:        projectPath(projectID, "/assets/upload"),
		query:       query,
		body:        body,
		contentType: contentType,
		auth:        uploadJWT,
		idempotent:  true,
		stall:       true,
		out:         &out,
	})
	if err != nil {
		return "", fmt.Errorf("upload %d files: %w", n, err)
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
	enc := base64.NewEncoder(base64.StdEncoding, w)
	if err := copyFile(enc, f, buf, progress); err != nil {
		return err
	}
	return enc.Close()
}

// newBoundary returns a random multipart boundary: file bytes could hold
// any fixed one.
func newBoundary() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("multipart boundary: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// partHeader is what precedes a file's bytes in a multipart bucket: the
// boundary (after the previous part's CRLF) and the part's headers, which
// name the file by its hash.
func partHeader(boundary, hash string, first bool) string {
	lead := "\r\n--"
	if first {
		lead = "--"
	}
	return lead + boundary + "\r\nContent-Disposition: form-data; name=\"" + hash + "\"; filename=\"" + hash +
		"\"\r\nContent-Type: application/octet-stream\r\n\r\n"
}

// closingBoundary ends a multipart bucket.
func closingBoundary(boundary string) string { return "\r\n--" + boundary + "--\r\n" }

// writeMultipartBucket writes the multipart body of a bucket to w, each file
// as it is on disk, checking its size and hash on the way.
func writeMultipartBucket(pw io.Writer, boundary string, files []manifest.File, progress func(int64)) error {
	w := bufio.NewWriterSize(pw, 64<<10)
	buf := make([]byte, 64<<10)
	for i, f := range files {
		if _, err := io.WriteString(w, partHeader(boundary, f.Hash, i == 0)); err != nil {
			return err
		}
		if err := copyFile(w, f, buf, progress); err != nil {
			return err
		}
	}
	if _, err := io.WriteString(w, closingBoundary(boundary)); err != nil {
		return err
	}
	return w.Flush()
}

// copyFile copies f into w, failing with *FileChangedError when its size or
// hash is no longer the manifest's.
func copyFile(w io.Writer, f manifest.File, buf []byte, progress func(int64)) error {
	r, err := manifest.OpenFile(f.OSPath)
	if err != nil {
		return &permanentError{fmt.Errorf("open %s: %w", f.Path, err)}
	}
	defer r.Close()
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
			if _, err := w.Write(buf[:k]); err != nil {
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
	return nil
}
