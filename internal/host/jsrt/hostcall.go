package jsrt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"
)

// The bridge between the shim and Go is one JS function, __cfhost.host(call,
// body): call is "op\nhead", op naming what to do and head JSON text, and
// body an optional ArrayBuffer, so bodies cross without base64, or a string
// ("op text\nhead"), which Go encodes, so a text body is never encoded in
// JS. It answers a frame, an ArrayBuffer holding a JSON head and raw bytes
// ([u32 little-endian head length][head][body]); the head is ASCII (every
// other character escaped), so the shim reads it without decoding UTF-8, and
// a head of length 0 stands for null. A head with "error" makes the shim
// throw. Everything a tenant's code asks of the host (its request,
// env.ASSETS, fetch, crypto, console) goes through it.

// hostFnID is the host-ref id of __cfhost.host.
const hostFnID = 1

// frame is a decoded bridge message.
type frame struct {
	head json.RawMessage
	body []byte
}

func encodeFrame(head any, body []byte) []byte {
	var h []byte
	if head != nil {
		var err error
		if h, err = json.Marshal(head); err != nil {
			h = []byte(`{"error":"cfhost: cannot encode the answer"}`)
		}
		h = asciiJSON(h)
	}
	out := make([]byte, 4+len(h)+len(body))
	binary.LittleEndian.PutUint32(out, uint32(len(h)))
	copy(out[4:], h)
	copy(out[4+len(h):], body)
	return out
}

// jsError is an answer that makes the shim throw a JS error of that name.
type jsError struct {
	Error string `json:"error"`
	Type  string `json:"type,omitempty"`
}

func errFrame(typ string, format string, args ...any) []byte {
	return encodeFrame(jsError{Error: fmt.Sprintf(format, args...), Type: typ}, nil)
}

// callFunction is the engine's call into a host function: the bridge.
// Its own engine calls use the cb* handles, since the engine is inside a
// call already.
func callFunction(ctx context.Context, _ api.Module, s []uint64) {
	in := current(ctx)
	argc, argv, id := uint32(s[2]), uint32(s[3]), int32(uint32(s[4]))
	s[0] = 0
	// Past the deadline nothing more runs: the engine calls below would
	// fail, and returning into the engine would carry on.
	if ctx.Err() != nil {
		panic(trap("deadline"))
	}
	if in == nil || id != hostFnID || argc < 1 {
		return
	}
	// The engine may run JS inside the calls Go makes below (a throw calls
	// Error.prepareStackTrace), and that JS may call the bridge again: Go
	// would then call an engine function that is still running, and a
	// wazero function is not re-entrant (the inner call takes over the
	// outer one's native stack). The shim never nests calls, so a nested
	// one is hostile: it stops the engine and the instance is discarded.
	if in.inHost {
		in.broken = true
		panic(trap(nestedCall))
	}
	in.inHost = true
	defer func() {
		in.inHost = false
		if ctx.Err() != nil {
			panic(trap("deadline"))
		}
		if in.broken {
			panic(trap(nestedCall))
		}
	}()
	if op, ok := in.argInt(argv, argc, 0); ok {
		s[0] = uint64(in.fastOp(ctx, op, argc, argv))
		return
	}
	op, head, _ := strings.Cut(in.argString(ctx, argv, argc, 0), "\n")
	op, text := strings.CutSuffix(op, " text")
	f := frame{head: json.RawMessage(head)}
	switch {
	case argc > 1 && text:
		f.body = wellFormed([]byte(in.argString(ctx, argv, argc, 1)))
	case argc > 1:
		f.body = in.argBytes(ctx, argv, 1)
	}
	out := in.hostOp(ctx, op, f)
	s[0] = uint64(in.newArrayBuffer(ctx, out))
}

// nestedCall is the trap of a bridge call made while another runs.
const nestedCall = "a host call inside another"

// argString reads argument i as a string ("" when it is missing or not a
// string: converting anything else could run JS).
func (in *instance) argString(ctx context.Context, argv, argc, i uint32) string {
	return in.argText(ctx, argv, argc, i, math.MaxInt)
}

// argBytes copies an ArrayBuffer argument out of the engine.
func (in *instance) argBytes(ctx context.Context, argv, i uint32) []byte {
	v := arg(argv, i)
	n, err := in.call1(ctx, in.cbGetABLen, uint64(in.ctx), uint64(v))
	if err != nil || n == 0 {
		return nil
	}
	p, err := in.call1(ctx, in.cbGetAB, uint64(in.ctx), uint64(v))
	if err != nil || p == 0 {
		return nil
	}
	b, ok := in.mem.Read(p, n)
	var out []byte
	if ok {
		out = append([]byte(nil), b...)
	}
	_, _ = in.cbFree.Call(ctx, uint64(p))
	return out
}

// newArrayBuffer hands b to the engine as a new ArrayBuffer (it owns the
// copy); 0, which the shim reads as out of memory, when it has no room.
func (in *instance) newArrayBuffer(ctx context.Context, b []byte) uint32 {
	p, err := in.call1(ctx, in.cbMalloc, uint64(max(len(b), 1)))
	if err != nil || p == 0 {
		return 0
	}
	if !in.mem.Write(p, b) {
		return 0
	}
	v, err := in.call1(ctx, in.cbNewAB, uint64(in.ctx), uint64(p), uint64(len(b)))
	if err != nil {
		return 0
	}
	return v
}

// asciiJSON escapes every non-ASCII character of the JSON text j as \uXXXX
// (a surrogate pair past U+FFFF), so the shim can read it byte for byte.
func asciiJSON(j []byte) []byte {
	i := 0
	for i < len(j) && j[i] < utf8.RuneSelf {
		i++
	}
	if i == len(j) {
		return j
	}
	out := append(make([]byte, 0, len(j)+16), j[:i]...)
	for _, r := range string(j[i:]) {
		switch {
		case r < utf8.RuneSelf:
			out = append(out, byte(r))
		case r > 0xffff:
			r -= 0x10000
			out = fmt.Appendf(out, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
	}
	return out
}

// wellFormed turns what the engine made of a JS string into UTF-8: a lone
// surrogate, which it writes as the three bytes of its code point, becomes
// U+FFFD, as TextEncoder does.
func wellFormed(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			// ED A0..BF xx is an encoded surrogate: one character.
			if len(b) >= 3 && b[0] == 0xed && b[1]&0xe0 == 0xa0 && b[2]&0xc0 == 0x80 {
				n = 3
			} else {
				n = 1
			}
		}
		out = utf8.AppendRune(out, r)
		b = b[n:]
	}
	return out
}
