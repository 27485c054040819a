package worker

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
)

// maxHeaderBlock bounds the CGI header block a guest may print. It is large
// enough for any sane set of headers and small enough that a guest printing
// garbage without a blank line is refused quickly.
const maxHeaderBlock = 64 << 10

// response is a CGI response as printed by a guest on stdout, parsed under
// the strict rules of docs/server-code.md#the-response.
type response struct {
	// status is the HTTP status to send. It is 200 unless the guest gave a
	// Status header, or 302 for a client redirect without one.
	status int
	// header holds every guest header that passes through, repeats kept
	// (two Set-Cookie lines stay two values).
	header http.Header
	// body is every byte after the blank line, unchanged.
	body []byte
	// handoff is the local path (with query) to serve from the static
	// assets instead of the guest's body: a CGI local redirect (Location
	// without Status) or X-Accel-Redirect. Empty when there is none.
	handoff string
}

// errMalformed marks output that is not a valid CGI response. Its message
// says what is wrong so the guest's author can fix it from the host log.
var errMalformed = errors.New("malformed CGI response")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
}

// droppedResponseHeaders are hop-by-hop or framing headers the host sets
// itself; a guest cannot set them.
var droppedResponseHeaders = map[string]bool{
	"Connection":        true,
	"Keep-Alive":        true,
	"Proxy-Connection":  true,
	"Transfer-Encoding": true,
	"Trailer":           true,
	"Upgrade":           true,
	"Content-Length":    true,
}

// parseResponse parses the stdout of a guest. It never panics on any input;
// anything that is not a valid response is an error wrapping errMalformed.
func parseResponse(out []byte) (*response, error) {
	block, body, ok := splitHeaderBlock(out)
	if !ok {
		if len(out) > maxHeaderBlock {
			return nil, malformed("no blank line within the first %d bytes of output", maxHeaderBlock)
		}
		if len(out) == 0 {
			return nil, malformed("empty output")
		}
		return nil, malformed("no blank line ends the header block")
	}

	res := &response{header: http.Header{}, body: body}
	var (
		hasStatus, hasType bool
		location           string
		hasLocation        bool
		accel              string
		hasAccel           bool
	)
	for n, line := range splitLines(block) {
		if line[0] == ' ' || line[0] == '\t' {
			return nil, malformed("header line %d starts with white space (folded headers are not supported)", n+1)
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return nil, malformed("header line %d has no \"name:\" (%.40q)", n+1, line)
		}
		name := line[:colon]
		if !validHeaderName(name) {
			return nil, malformed("header line %d has an invalid name %.40q", n+1, name)
		}
		value := strings.Trim(line[colon+1:], " \t")
		if !validHeaderValue(value) {
			return nil, malformed("header %q has a control character in its value", name)
		}
		name = textproto.CanonicalMIMEHeaderKey(name)
		switch name {
		case "Status":
			if hasStatus {
				return nil, malformed("more than one Status header")
			}
			code, err := parseStatus(value)
			if err != nil {
				return nil, err
			}
			hasStatus, res.status = true, code
			continue
		case "Location":
			if hasLocation {
				return nil, malformed("more than one Location header")
			}
			if value == "" {
				return nil, malformed("empty Location header")
			}
			hasLocation, location = true, value
		case "X-Accel-Redirect":
			if hasAccel {
				return nil, malformed("more than one X-Accel-Redirect header")
			}
			if !isLocalPath(value) {
				return nil, malformed("X-Accel-Redirect %.60q is not a local path starting with one \"/\"", value)
			}
			hasAccel, accel = true, value
			continue
		case "Content-Type":
			hasType = true
		}
		if droppedResponseHeaders[name] {
			continue
		}
		res.header[name] = append(res.header[name], value)
	}

	if !hasType && !hasStatus && !hasLocation && !hasAccel {
		return nil, malformed("the header block needs at least one of Content-Type, Status, Location or X-Accel-Redirect")
	}

	switch {
	case hasAccel:
		res.handoff = accel
	case hasLocation && !hasStatus && isLocalPath(location):
		res.handoff = location
	}
	if res.handoff != "" {
		res.body = nil
		res.header.Del("Location")
		res.header.Del("Content-Type")
		return res, nil
	}
	if !hasStatus {
		res.status = http.StatusOK
		if hasLocation {
			res.status = http.StatusFound
		}
	}
	return res, nil
}

// splitHeaderBlock finds the first empty line (LF LF, CRLF CRLF or a mix) in
// at most maxHeaderBlock bytes and returns the header lines before it and
// the body after it.
func splitHeaderBlock(out []byte) (block string, body []byte, ok bool) {
	limit := min(len(out), maxHeaderBlock+4)
	start := 0 // start of the current line
	for start <= limit {
		i := bytes.IndexByte(out[start:limit], '\n')
		if i < 0 {
			return "", nil, false
		}
		end := start + i // index of the LF
		line := out[start:end]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			if start > maxHeaderBlock {
				return "", nil, false
			}
			return string(out[:start]), out[end+1:], true
		}
		start = end + 1
	}
	return "", nil, false
}

// splitLines splits a header block into lines without their CR LF or LF.
// The block ends with a line terminator and holds no empty line.
func splitLines(block string) []string {
	lines := strings.Split(strings.TrimSuffix(block, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	return lines
}

// parseStatus reads "NNN [reason]". The reason phrase is ignored. 1xx codes
// are refused: they are interim responses and cannot end a CGI exchange.
func parseStatus(v string) (int, error) {
	if len(v) < 3 || (len(v) > 3 && v[3] != ' ' && v[3] != '\t') {
		return 0, malformed("Status %.40q is not \"NNN [reason]\"", v)
	}
	code := 0
	for i := range 3 {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, malformed("Status %.40q is not \"NNN [reason]\"", v)
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code > 599 {
		return 0, malformed("Status %d is outside 200-599", code)
	}
	return code, nil
}

// isLocalPath reports whether v names a path on this host: it starts with
// exactly one slash (not "//" or "/\", which browsers read as another host).
func isLocalPath(v string) bool {
	if len(v) == 0 || v[0] != '/' {
		return false
	}
	if len(v) > 1 && (v[1] == '/' || v[1] == '\\') {
		return false
	}
	return true
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// validHeaderValue refuses control characters other than horizontal tab; a
// bare CR or a NUL in a value would corrupt the response framing.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
