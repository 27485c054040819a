package host

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net/http"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// readMultipartBucket reads a multipart/form-data bucket: one part per file,
// named by its hash (the form name, or else the file name). With raw the
// parts are the files' bytes, as cfdeploy sends them (?base64=false);
// otherwise they are base64 text, as wrangler sends it, and surrounding
// whitespace is dropped.
//
// Every part is read into a few large blocks rather than a buffer of its
// own, and the body is read in large pieces: mime/multipart reads through a
// 4 KiB buffer, which made one read system call per 4 KiB of body.
func readMultipartBucket(w http.ResponseWriter, r *http.Request, limit int64, boundary string, raw bool) (map[string][]byte, error) {
	if err := checkLength(r, limit); err != nil {
		return nil, err
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	mr := multipart.NewReader(bufio.NewReaderSize(body, 64<<10), boundary)
	a := partArena{block: arenaBlock(r.ContentLength)}
	files := make(map[string][]byte)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, multipartError(err, limit)
		}
		name := part.FormName()
		if name == "" {
			name = part.FileName()
		}
		data, err := a.read(part)
		if err != nil {
			return nil, multipartError(err, limit)
		}
		if !raw {
			data = bytes.TrimSpace(data)
		}
		files[name] = data
	}
}

// arenaBlock sizes the arena's blocks from the declared body length: one
// block for a body of up to 8 MiB, which is most buckets. The length costs
// a client nothing to claim, so no more than that is allocated ahead of the
// bytes arriving.
func arenaBlock(declared int64) int {
	const maxBlock, minBlock = 8 << 20, 64 << 10
	if declared <= 0 {
		return 1 << 20
	}
	return int(min(max(declared, minBlock), maxBlock))
}

// partArena holds the parts of one body back to back in large blocks. A
// part returned by read keeps its bytes when later parts are read: a part
// that outgrows its block moves, alone, to a new one.
type partArena struct {
	block int
	buf   []byte
}

func (a *partArena) read(r io.Reader) ([]byte, error) {
	start := len(a.buf)
	for {
		if len(a.buf) == cap(a.buf) {
			n := len(a.buf) - start
			nb := make([]byte, n, max(a.block, 2*n))
			copy(nb, a.buf[start:])
			a.buf, start = nb, 0
		}
		k, err := r.Read(a.buf[len(a.buf):cap(a.buf)])
		a.buf = a.buf[:len(a.buf)+k]
		if errors.Is(err, io.EOF) {
			end := len(a.buf)
			return a.buf[start:end:end], nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func multipartError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return api.Errorf(api.CodeTooLarge, "request body is larger than %d bytes", limit)
	}
	if stalled(err) {
		return errStalledBody
	}
	return api.Errorf(api.CodeInvalid, "malformed multipart body: %v", err)
}
