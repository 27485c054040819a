package jsrt

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"hash"
	"strings"
)

// maxRandom is the most bytes crypto.getRandomValues fills at once, as in
// the Web Crypto API.
const maxRandom = 65536

// hashes are the algorithms crypto.subtle.digest and HMAC keys accept.
var hashes = map[string]func() hash.Hash{
	"SHA-1":   sha1.New,
	"SHA-256": sha256.New,
	"SHA-384": sha512.New384,
	"SHA-512": sha512.New,
}

// cryptoOp does the Web Crypto work in Go: the engine would be slower and
// its randomness would have no source.
func cryptoOp(op string, f frame) []byte {
	var h struct {
		Alg string `json:"alg"`
		N   int    `json:"n"`
		Key []byte `json:"key"` // base64 in JSON
		Sig []byte `json:"sig"`
	}
	if err := json.Unmarshal(f.head, &h); err != nil {
		return errFrame("TypeError", "bad crypto request: %v", err)
	}
	switch op {
	case "random":
		if h.N < 0 || h.N > maxRandom {
			return errFrame("QuotaExceededError", "getRandomValues: %d bytes is over the limit of %d", h.N, maxRandom)
		}
		b := make([]byte, h.N)
		_, _ = rand.Read(b)
		return encodeFrame(nil, b)
	}
	newHash, ok := hashes[strings.ToUpper(h.Alg)]
	if !ok {
		return errFrame("NotSupportedError", "unsupported hash algorithm %q (SHA-1, SHA-256, SHA-384, SHA-512)", h.Alg)
	}
	if op == "digest" {
		d := newHash()
		d.Write(f.body)
		return encodeFrame(nil, d.Sum(nil))
	}
	mac := hmac.New(newHash, h.Key)
	mac.Write(f.body)
	sum := mac.Sum(nil)
	if h.Sig != nil {
		return encodeFrame(map[string]bool{"ok": hmac.Equal(sum, h.Sig)}, nil)
	}
	return encodeFrame(nil, sum)
}
