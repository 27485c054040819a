package coalesce

import (
	"io"
	"os"
	"sync/atomic"
)

// Section is n bytes of an open file from an offset, as a reader a Conn
// sends with sendfile(2): the kernel hands the file's pages to the socket,
// so the bytes are never copied into the process and out again. For a
// body of 100 KiB and more that copy is most of what serving it costs.
//
// Reads use pread, never the file's shared offset, so any number of
// Sections may send from one *os.File at once. Where a Conn cannot send
// the file itself (TLS, another OS, a test recorder), the Section is read
// like any reader.
type Section struct {
	file     *os.File
	off, end int64
}

// NewSection returns a reader of the n bytes of f starting at off.
func NewSection(f *os.File, off, n int64) *Section {
	return &Section{file: f, off: off, end: off + n}
}

// Read reads the next bytes of the section.
func (s *Section) Read(p []byte) (int, error) {
	if s.off >= s.end {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.end-s.off)]
	n, err := s.file.ReadAt(p, s.off)
	s.off += int64(n)
	if n == len(p) {
		return n, nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // the file is shorter than the section
	}
	return n, err
}

// sentFromFiles counts the bytes Conns sent with sendfile.
var sentFromFiles atomic.Int64

// FileBytesSent reports how many bytes Conns of this process sent straight
// from files, without copying them through the process.
func FileBytesSent() int64 { return sentFromFiles.Load() }
