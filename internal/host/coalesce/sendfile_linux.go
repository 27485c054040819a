package coalesce

import (
	"errors"
	"io"

	"golang.org/x/sys/unix"
)

// maxSendfile is the most one sendfile call is asked for; the kernel caps
// a call near 2 GiB anyway.
const maxSendfile = 1 << 30

// sendSection sends what is held, then the section's bytes with
// sendfile(2). The held bytes (the response's header) go out with
// MSG_MORE, so that they share the first segment with the file's bytes
// rather than leaving alone, as TCP_CORK would do at the price of two
// more system calls. It reports the file bytes sent.
func (c *Conn) sendSection(s *Section) (int64, error) {
	sc, err := c.TCPConn.SyscallConn()
	if err != nil {
		return 0, err
	}
	fc, err := s.file.SyscallConn()
	if err != nil {
		return 0, err
	}
	var held []byte
	if c.held != nil {
		held = *c.held
	}
	var sent int64
	var opErr error
	// Control keeps the file's descriptor open (and its number not reused)
	// until the last byte has gone; Write waits for the socket to drain
	// whenever it is full, under the connection's write deadline.
	ctlErr := fc.Control(func(ffd uintptr) {
		wErr := sc.Write(func(sfd uintptr) bool {
			for len(held) > 0 {
				n, err := unix.SendmsgN(int(sfd), held, nil, nil, unix.MSG_MORE|unix.MSG_NOSIGNAL)
				switch {
				case err == nil:
					held = held[n:]
				case errors.Is(err, unix.EAGAIN):
					return false
				case !errors.Is(err, unix.EINTR):
					opErr = err
					return true
				}
			}
			for s.off < s.end {
				n, err := unix.Sendfile(int(sfd), int(ffd), &s.off, int(min(s.end-s.off, maxSendfile)))
				switch {
				case errors.Is(err, unix.EAGAIN):
					return false
				case errors.Is(err, unix.EINTR):
				case err != nil:
					opErr = err
					return true
				case n == 0:
					opErr = io.ErrUnexpectedEOF // the file is shorter than the section
					return true
				default:
					sent += int64(n)
				}
			}
			return true
		})
		if opErr == nil {
			opErr = wErr
		}
	})
	if c.held != nil {
		*c.held = (*c.held)[:0]
	}
	sentFromFiles.Add(sent)
	if opErr == nil {
		opErr = ctlErr
	}
	if opErr != nil {
		c.err = opErr
	}
	return sent, opErr
}
