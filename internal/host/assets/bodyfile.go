package assets

import (
	"io"
	"os"
	"sync/atomic"
)

// FileBody is the size from which a cached representation is kept in a
// file rather than a byte slice, where the platform has unnamed files
// (Linux): a connection then sends it with sendfile, without copying it
// into the socket, as nginx sends a file from the page cache. Below it one
// write of the bytes costs less than the system call that sendfile adds.
// The file is in the directory given to KeepFilesIn, or else in memory
// (memfd).
const FileBody = 32 << 10

// DiskReserve is the free space a cache leaves on the filesystem of its
// files' directory (KeepFilesIn), or a twentieth of the filesystem if that
// is more: a body that would leave less goes to memory instead, so cached
// bodies never take the space that deploys need for the database.
const DiskReserve = 1 << 30

// maxFiles bounds the files open at once, whatever the budget allows (a
// quarter of the descriptor limit when that is lower): past it,
// representations are held as byte slices again.
const maxFiles = 4096

// bodyFile is a representation's bytes in an unnamed file. The cache holds
// one reference while the representation is cached, every response sending
// from it one more; the last release closes the file, so eviction never
// closes a file under a response, and an evicted file's pages (and disk
// blocks) go back as soon as its last response is sent rather than
// whenever the garbage collector looks.
type bodyFile struct {
	f     *os.File
	refs  atomic.Int64
	count *atomic.Int64 // the cache's count of open files
}

// acquire takes a reference for a response; false when the file was
// already closed (evicted and released), and must not be used.
func (m *bodyFile) acquire() bool {
	for {
		n := m.refs.Load()
		if n <= 0 {
			return false
		}
		if m.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference, closing the file with the last.
func (m *bodyFile) release() {
	if m.refs.Add(-1) == 0 {
		m.f.Close()
		m.count.Add(-1)
	}
}

// loadFile copies the size bytes of ra into a new file holding the cache's
// reference. It returns nil and no error when no file can be made (another
// platform, the descriptor limit, a full disk), for the caller to hold the
// bytes itself; an error is a failure to read ra.
func (c *Cache) loadFile(ra io.ReaderAt, size int64) (*bodyFile, error) {
	if c.files.Add(1) > c.maxFiles {
		c.files.Add(-1)
		return nil, nil
	}
	dir := c.fileDir
	if dir != "" && !roomFor(dir, size, c.diskReserve) {
		dir = "" // the database needs the space more: this one goes to memory
	}
	f, inMemory, err := createFile(dir)
	if err != nil {
		c.files.Add(-1)
		return nil, nil
	}
	m := &bodyFile{f: f, count: &c.files}
	m.refs.Store(1)
	bufp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bufp)
	buf := *bufp
	for off := int64(0); off < size; {
		chunk := buf[:min(int64(len(buf)), size-off)]
		n, err := ra.ReadAt(chunk, off)
		if n < len(chunk) {
			m.release()
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if _, err := f.Write(chunk); err != nil {
			m.release() // out of memory or disk for files: hold the bytes instead
			return nil, nil
		}
		off += int64(n)
	}
	if !inMemory {
		return m, nil
	}
	if err := sealMemFile(f); err != nil {
		m.release()
		return nil, nil
	}
	return m, nil
}
