package jsrt

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The per-request operations take a faster road over the bridge than the
// frames of hostcall.go: __cfhost.host(op, ...) with op a small integer,
// which Go reads straight from the engine's argument array, so no string
// is decoded and no JSON is made or parsed to learn what is asked. Bytes
// cross in the mailbox, an ArrayBuffer the engine and Go share (its
// storage is memory Go allocated, at a known address): the shim copies a
// body into it with one TypedArray.set and passes the length. Strings
// cross as strings (the engine's own UTF-8 conversion). An operation that
// succeeds answers undefined; one that fails answers an error frame, which
// the shim throws. A hello-world request costs a handful of engine calls
// this way instead of the two dozen the frames took.
//
// The operation numbers are shared with shim.js.
const (
	// opRequest answers the request as one string: method, URL, origin
	// (see canonicalOrigin; empty when the shim must parse the URL), body
	// length, then the headers as name and value lines, all separated by
	// "\n" (net/http lets no header hold a newline).
	opRequest = 1
	// opBody answers the request body as an ArrayBuffer.
	opBody = 2
	// opRespond (status, head, body) sends the response head, head being
	// the headers as "name\nvalue\n…" lines, and the body: a string, a
	// length in the mailbox, an ArrayBuffer, undefined for none, or -1
	// when chunks follow.
	opRespond = 3
	// opChunk (body) sends a piece of a streamed body.
	opChunk = 4
	// opEnd ends a streamed body.
	opEnd = 5
	// opLog (level, text) adds a console line.
	opLog = 6
	// opDone (uncaught?) ends the request: the response is sent and the
	// ctx.waitUntil work settled, or the handler failed with uncaught.
	opDone = 7
)

// mailboxSize is the size of the mailbox; a body that does not fit
// crosses as an ArrayBuffer.
const mailboxSize = 64 << 10

// logLevels are the console levels by number, as the shim numbers them.
var logLevels = [...]string{"log", "info", "debug", "warn", "error"}

// JSValue tags of the engine's NaN-boxed 64-bit values, the tag in the
// upper half.
const (
	tagInt       = 0
	tagUndefined = 3
	tagException = 6
	tagObject    = -1
	tagString    = -7
	tagRope      = -6 // a string made by concatenation, not yet flat
)

// isString reports whether tag is a string's: only those cross as text,
// so the engine never runs JS (a toString, a getter) to convert an
// argument while Go is inside one of its functions.
func isString(tag int32) bool { return tag == tagString || tag == tagRope }

// valueAt reads the JSValue at p: its tag and its lower 32 bits.
func (in *instance) valueAt(p uint32) (tag int32, low uint32) {
	v, ok := in.mem.ReadUint64Le(p)
	if !ok {
		return tagException, 0
	}
	return int32(v >> 32), uint32(v)
}

// arg is the JSValue* of argument i in a host call's argument array.
func arg(argv, i uint32) uint32 { return argv + 8*i }

// argInt reads argument i as an integer; ok is false for any other value.
func (in *instance) argInt(argv, argc, i uint32) (n int32, ok bool) {
	if i >= argc {
		return 0, false
	}
	tag, v := in.valueAt(arg(argv, i))
	return int32(v), tag == tagInt
}

// fastOp runs one of the per-request operations and returns the JSValue*
// to answer (0 for undefined).
func (in *instance) fastOp(ctx context.Context, op int32, argc, argv uint32) uint32 {
	c := in.cur
	if c == nil {
		if op == opLog {
			return 0
		}
		return in.newArrayBuffer(ctx, errFrame("Error", "this is only available while a request is handled"))
	}
	var out []byte
	switch op {
	case opRequest:
		return in.requestString(ctx, c)
	case opBody:
		return in.newArrayBuffer(ctx, c.req.Body)
	case opRespond:
		status, _ := in.argInt(argv, argc, 1)
		head, bad := in.responseHead(ctx, argv, argc)
		if bad != nil {
			out = bad
			break
		}
		if n, ok := in.argInt(argv, argc, 3); ok && n < 0 {
			out = c.respond(int(status), head, nil, true)
			break
		}
		out = in.withBody(ctx, argv, argc, 3, func(b []byte) []byte { return c.respond(int(status), head, b, false) })
	case opChunk:
		out = in.withBody(ctx, argv, argc, 1, c.chunk)
	case opEnd:
		c.ended = c.sent
	case opLog:
		level, _ := in.argInt(argv, argc, 1)
		if level < 0 || int(level) >= len(logLevels) {
			level = 0
		}
		if lim := c.limits(); len(c.logs) < lim.ConsoleLines {
			c.logs = append(c.logs, [2]string{logLevels[level], in.argText(ctx, argv, argc, 2, lim.ConsoleLineBytes)})
		}
	case opDone:
		c.done = true
		if argc > 1 {
			if c.uncaught = in.argText(ctx, argv, argc, 1, c.limits().ErrorBytes); c.uncaught == "" {
				c.uncaught = "Error: the handler failed"
			}
		}
	default:
		out = errFrame("TypeError", "unknown host operation %d", op)
	}
	if out == nil {
		return 0
	}
	return in.newArrayBuffer(ctx, out)
}

// argText reads argument i as a string, keeping at most its first max
// bytes: a tenant may pass a string as big as its memory, and Go copies
// only what it keeps. "" when it is missing or not a string.
func (in *instance) argText(ctx context.Context, argv, argc, i uint32, max int) string {
	if i >= argc {
		return ""
	}
	if tag, _ := in.valueAt(arg(argv, i)); !isString(tag) {
		return ""
	}
	p, err := in.call1(ctx, in.cbGetString, uint64(in.ctx), uint64(arg(argv, i)))
	if err != nil || p == 0 {
		return ""
	}
	defer func() { _, _ = in.cbFreeCString.Call(ctx, uint64(in.ctx), uint64(p)) }()
	b := in.cBytes(p)
	return string(b[:min(len(b), max)])
}

// requestString hands the engine the request line and headers as one
// string (see opRequest), written straight into the mailbox when it fits.
func (in *instance) requestString(ctx context.Context, c *call) uint32 {
	var b strings.Builder
	b.Grow(len(c.req.Method) + 2*len(c.req.URL) + 64 + 32*len(c.req.Header))
	b.WriteString(c.req.Method)
	b.WriteByte('\n')
	b.WriteString(c.req.URL)
	b.WriteByte('\n')
	b.WriteString(canonicalOrigin(c.req.URL))
	b.WriteByte('\n')
	b.WriteString(strconv.Itoa(len(c.req.Body)))
	for k, vs := range c.req.Header {
		k = strings.ToLower(k)
		for _, v := range vs {
			b.WriteByte('\n')
			b.WriteString(k)
			b.WriteByte('\n')
			b.WriteString(v)
		}
	}
	return in.jsString(ctx, cleanText(b.String()))
}

// cleanText makes s safe to hand over as a C string: invalid UTF-8 becomes
// U+FFFD (as encoding/json would make it), and so does NUL, which would
// end the string early. Neither happens in a request net/http accepted.
func cleanText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return s
}

// jsString makes s a JS string (the engine owns the JSValue* it returns),
// copying it into the engine through the mailbox, or a buffer of its own
// when it does not fit; 0 when the engine is out of memory.
func (in *instance) jsString(ctx context.Context, s string) uint32 {
	p := in.mailbox
	if len(s)+1 > mailboxSize {
		if p = in.mallocWith(ctx, in.cbMalloc, s); p == 0 {
			return 0
		}
		defer func() { _, _ = in.cbFree.Call(ctx, uint64(p)) }()
	} else {
		buf, ok := in.mem.Read(p, uint32(len(s)+1))
		if !ok {
			return 0
		}
		copy(buf, s)
		buf[len(s)] = 0
	}
	v, err := in.call1(ctx, in.cbNewString, uint64(in.ctx), uint64(p))
	if err != nil {
		return 0
	}
	return v
}

// withBody calls f with the body in argument i: a string (encoded to UTF-8
// by the engine, a lone surrogate becoming U+FFFD), a length in the
// mailbox, an ArrayBuffer, or undefined for none. f must not keep the
// bytes: they may be the engine's memory.
func (in *instance) withBody(ctx context.Context, argv, argc, i uint32, f func([]byte) []byte) []byte {
	var b []byte
	tag, n := int32(tagUndefined), uint32(0)
	if i < argc {
		tag, n = in.valueAt(arg(argv, i))
	}
	switch {
	case tag == tagUndefined:
	case tag == tagInt:
		var ok bool
		if b, ok = in.mem.Read(in.mailbox, n); !ok || n > mailboxSize {
			return errFrame("RangeError", "body length %d is past the mailbox", n)
		}
	case tag == tagObject:
		b = in.argBytes(ctx, argv, i)
	case isString(tag):
		p, err := in.call1(ctx, in.cbGetString, uint64(in.ctx), uint64(arg(argv, i)))
		if err != nil || p == 0 {
			return errFrame("RangeError", "out of memory")
		}
		defer func() { _, _ = in.cbFreeCString.Call(ctx, uint64(in.ctx), uint64(p)) }()
		b = wellFormed(in.cBytes(p))
	default:
		return errFrame("TypeError", "a body crosses as a string, bytes or undefined")
	}
	if in.broken {
		// A nested call while the arguments were read: nothing is sent,
		// and callFunction stops the engine.
		return nil
	}
	return f(b)
}

// cBytes is the NUL-terminated string at p, as a view of the engine's
// memory.
func (in *instance) cBytes(p uint32) []byte {
	buf, ok := in.mem.Read(p, in.mem.Size()-p)
	if !ok {
		return nil
	}
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		return buf[:i:i]
	}
	return nil
}

// responseHead reads the head argument of opRespond: a string of at most
// Limits.ResponseHeadBytes whose values hold no CR (the shim's Headers refuses
// CR, LF and NUL; this is the host's own check, whatever calls the bridge:
// LF separates the lines, and a NUL ends the C string the head crosses as,
// so it can only cut the head short). bad is the error frame to answer
// when it is not.
func (in *instance) responseHead(ctx context.Context, argv, argc uint32) (head string, bad []byte) {
	if argc < 3 {
		return "", nil
	}
	if tag, _ := in.valueAt(arg(argv, 2)); !isString(tag) {
		return "", errFrame("TypeError", "the response head must be a string")
	}
	p, err := in.call1(ctx, in.cbGetString, uint64(in.ctx), uint64(arg(argv, 2)))
	if err != nil || p == 0 {
		return "", errFrame("RangeError", "out of memory")
	}
	defer func() { _, _ = in.cbFreeCString.Call(ctx, uint64(in.ctx), uint64(p)) }()
	b := in.cBytes(p)
	if max := in.cur.limits().ResponseHeadBytes; len(b) > max {
		return "", errFrame("RangeError", "response headers of %d bytes are over this host's limit of %d", len(b), max)
	}
	if bytes.IndexByte(b, '\r') >= 0 {
		return "", errFrame("TypeError", "a response header value holds a CR character")
	}
	return string(b), nil
}

// parseHead reads the "name\nvalue\n…" lines of a response head. A name
// that is not a valid header name is dropped with its value.
func parseHead(head string) http.Header {
	h := make(http.Header, strings.Count(head, "\n")/2+1)
	for head != "" {
		var k, v string
		k, head, _ = strings.Cut(head, "\n")
		v, head, _ = strings.Cut(head, "\n")
		if !validName(k) {
			continue
		}
		h[http.CanonicalHeaderKey(k)] = append(h[http.CanonicalHeaderKey(k)], v)
	}
	return h
}

// validName reports whether k is an HTTP token, as a header name must be.
func validName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= 0x7f || c <= ' ' || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
