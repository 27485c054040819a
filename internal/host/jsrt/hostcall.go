package jsrt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/tetratelabs/wazero/api"
)

// The bridge between the shim and Go is one JS function, __cfhost.host(op,
// head, body): op names what to do, head is JSON text and body an optional
// ArrayBuffer, so bodies cross without base64. It answers a frame, an
// ArrayBuffer holding a JSON head and raw bytes ([u32 little-endian head
// length][head][body]); a head with "error" makes the shim throw. Everything a tenant's code asks of the
// host (its request, env.ASSETS, fetch, crypto, console) goes through it.

// hostFnID is the host-ref id of __cfhost.host.
const hostFnID = 1

// frame is a decoded bridge message.
type frame struct {
	head json.RawMessage
	body []byte
}

func encodeFrame(head any, body []byte) []byte {
	h, err := json.Marshal(head)
	if err != nil {
		h = []byte(`{"error":"cfhost: cannot encode the answer"}`)
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
	defer func() {
		if ctx.Err() != nil {
			panic(trap("deadline"))
		}
	}()
	if in == nil || id != hostFnID || argc < 1 {
		return
	}
	op := in.argString(ctx, argv, 0)
	var f frame
	if argc > 1 {
		f.head = json.RawMessage(in.argString(ctx, argv, 1))
	}
	if argc > 2 {
		f.body = in.argBytes(ctx, argv, 2)
	}
	out := in.hostOp(ctx, op, f)
	s[0] = uint64(in.newArrayBuffer(ctx, out))
}

// argPtr is the JSValueConst* of argument i.
func (in *instance) argPtr(ctx context.Context, argv, i uint32) uint32 {
	p, _ := in.call1(ctx, in.cbArgv, uint64(argv), uint64(i))
	return p
}

func (in *instance) argString(ctx context.Context, argv, i uint32) string {
	v := in.argPtr(ctx, argv, i)
	p, err := in.call1(ctx, in.cbGetString, uint64(in.ctx), uint64(v))
	if err != nil || p == 0 {
		return ""
	}
	s := in.readCString(p)
	_, _ = in.cbFreeCString.Call(ctx, uint64(in.ctx), uint64(p))
	return s
}

// argBytes copies an ArrayBuffer argument out of the engine.
func (in *instance) argBytes(ctx context.Context, argv, i uint32) []byte {
	v := in.argPtr(ctx, argv, i)
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
