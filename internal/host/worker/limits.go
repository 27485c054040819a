package worker

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
)

// errOutputLimit is what a guest's fd_write sees once it has printed more
// than the host accepts.
var errOutputLimit = errors.New("output limit reached")

// cappedBuffer collects a guest's stdout or stderr up to limit bytes. Past
// the limit it either fails the write (stdout: the response would be
// incomplete, so the request becomes a 502) or, with truncate, drops the
// excess and remembers how much (stderr: a chatty guest keeps running).
type cappedBuffer struct {
	bytes.Buffer
	limit    int64
	truncate bool
	overflow bool
	dropped  int64
}

// Write implements io.Writer.
func (c *cappedBuffer) Write(p []byte) (int, error) {
	room := c.limit - int64(c.Len())
	if int64(len(p)) <= room {
		return c.Buffer.Write(p)
	}
	c.overflow = true
	if room > 0 {
		c.Buffer.Write(p[:room])
	}
	if !c.truncate {
		return int(max(room, 0)), errOutputLimit
	}
	c.dropped += int64(len(p)) - max(room, 0)
	return len(p), nil
}

// String returns the text kept, noting how much was dropped.
func (c *cappedBuffer) String() string {
	if c.dropped > 0 {
		return fmt.Sprintf("%s… [%d bytes dropped]", c.Buffer.String(), c.dropped)
	}
	return c.Buffer.String()
}

// setEscapedPath sets u's path from an escaped path as a guest wrote it,
// keeping its exact escaping.
func setEscapedPath(u *url.URL, escaped string) error {
	p, err := url.PathUnescape(escaped)
	if err != nil {
		return fmt.Errorf("unescape %q: %w", escaped, err)
	}
	u.Path = p
	u.RawPath = ""
	if u.EscapedPath() != escaped {
		u.RawPath = escaped
	}
	return nil
}
