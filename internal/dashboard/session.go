package dashboard

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// cookieName is the session cookie. It is scoped to /__dashboard/, so no
// other path of the host (the API, a project in path mode) is sent it.
const cookieName = "cfhost_dashboard"

// session is what the cookie carries: the token the user signed in with
// (each page calls the API with it, so the API's rules, revocation and
// limits apply unchanged), the project it belongs to ("" for the admin
// token), when it was issued and a random nonce the CSRF token derives
// from.
type session struct {
	Token   string `json:"t"`
	Project string `json:"p,omitempty"`
	Issued  int64  `json:"i"`
	Nonce   []byte `json:"n"`
}

func (s *session) admin() bool { return s.Project == "" }

// sealer encrypts and authenticates session cookies with AES-256-GCM under
// a key derived from the host's secret: a cookie made by another host (or
// edited by hand) fails to open, and the token inside is never readable
// from the cookie.
type sealer struct {
	aead cipher.AEAD
	csrf []byte // HMAC key of CSRF tokens
	ttl  time.Duration
}

func newSealer(secret []byte, ttl time.Duration) *sealer {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("cfhost dashboard " + label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(derive("session"))
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &sealer{aead: aead, csrf: derive("csrf"), ttl: ttl}
}

// seal returns the cookie value of s.
func (k *sealer) seal(s session) string {
	plain, _ := json.Marshal(s)
	nonce := make([]byte, k.aead.NonceSize())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(k.aead.Seal(nonce, nonce, plain, []byte(cookieName)))
}

var errNoSession = errors.New("no valid session")

// open returns the session of a cookie value, refusing one that does not
// decrypt under this host's key or is older than the session lifetime.
func (k *sealer) open(v string, now time.Time) (session, error) {
	var s session
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) < k.aead.NonceSize() {
		return s, errNoSession
	}
	plain, err := k.aead.Open(nil, b[:k.aead.NonceSize()], b[k.aead.NonceSize():], []byte(cookieName))
	if err != nil || json.Unmarshal(plain, &s) != nil || s.Token == "" || len(s.Nonce) == 0 {
		return session{}, errNoSession
	}
	issued := time.Unix(s.Issued, 0)
	if now.Before(issued.Add(-time.Minute)) || now.After(issued.Add(k.ttl)) {
		return session{}, errNoSession
	}
	return s, nil
}

// csrfToken is the token every state-changing form of s carries: an HMAC
// of the session's nonce, so it changes with each sign-in and cannot be
// made without the host's key.
func (k *sealer) csrfToken(s session) string {
	m := hmac.New(sha256.New, k.csrf)
	m.Write(s.Nonce)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether r's form carries s's CSRF token.
func (k *sealer) checkCSRF(r *http.Request, s session) bool {
	got := r.PostFormValue("csrf")
	want := k.csrfToken(s)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// newSession starts a session for token.
func newSession(token, project string, now time.Time) session {
	n := make([]byte, 16)
	rand.Read(n)
	return session{Token: token, Project: project, Issued: now.Unix(), Nonce: n}
}
