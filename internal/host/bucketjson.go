package host

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// readJSONBucket reads a JSON bucket body, {"<hash>": "<base64>", ...},
// returning each value's base64 text as a slice of the body.
//
// Bucket bodies are almost all base64 text, so encoding/json spends its time
// scanning it twice (validation, then decoding) and copying it into strings.
// parseBucketFast handles the shape every client sends in one pass without
// copies; anything outside that shape goes to encoding/json, so a body is
// accepted, with the same meaning, or refused, with the same error, exactly
// as decodeJSON into a map[string]string would.
func readJSONBucket(w http.ResponseWriter, r *http.Request, limit int64) (map[string][]byte, error) {
	if err := checkLength(r, limit); err != nil {
		return nil, err
	}
	b, err := readBody(http.MaxBytesReader(w, r.Body, limit), r.ContentLength)
	if err != nil {
		return nil, bodyError(err, limit)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, bodyError(io.EOF, limit)
	}
	if !utf8.Valid(b) {
		return nil, api.Errorf(api.CodeInvalid, "request body is not valid UTF-8")
	}
	if files, ok := parseBucketFast(b); ok {
		return files, nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, bodyError(err, limit)
	}
	files := make(map[string][]byte, len(m))
	for k, v := range m {
		files[k] = []byte(v)
	}
	return files, nil
}

// readBody reads a whole body. A declared length sizes the buffer at once,
// sparing the doublings of io.ReadAll on multi-megabyte buckets; the
// up-front allocation is capped, since a declared length costs a client
// nothing to claim.
func readBody(rd io.Reader, declared int64) ([]byte, error) {
	const maxPrealloc = 8 << 20
	var buf bytes.Buffer
	if declared > 0 {
		buf.Grow(int(min(declared, maxPrealloc)) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(rd)
	return buf.Bytes(), err
}

// parseBucketFast parses b when it is a JSON object whose keys and values
// are all strings free of escapes and control characters, separated by
// JSON whitespace; ok is false for any other input, valid or not. Values
// alias b. A repeated key keeps its last value, as encoding/json does.
func parseBucketFast(b []byte) (files map[string][]byte, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	files = make(map[string][]byte, 64)
	if i < len(b) && b[i] == '}' {
		return files, skipSpace(b, i+1) == len(b)
	}
	for {
		key, next, ok := plainString(b, i)
		if !ok {
			return nil, false
		}
		i = skipSpace(b, next)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		val, next, ok := plainString(b, skipSpace(b, i+1))
		if !ok {
			return nil, false
		}
		files[string(key)] = val
		i = skipSpace(b, next)
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return files, skipSpace(b, i+1) == len(b)
		default:
			return nil, false
		}
	}
}

// plainString reads a JSON string at b[i] that holds no escape and no
// control character, returning its contents and the index after it.
func plainString(b []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	end := bytes.IndexByte(b[i+1:], '"')
	if end < 0 {
		return nil, 0, false
	}
	s = b[i+1 : i+1+end]
	for _, c := range s {
		if c < 0x20 || c == '\\' {
			return nil, 0, false
		}
	}
	return s, i + 2 + end, true
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
