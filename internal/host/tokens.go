package host

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// Token purposes: an upload token authorises bucket uploads of one session,
// a completion token one deploy of it.
const (
	purposeUpload   = "upload"
	purposeComplete = "complete"
)

// claims are what an upload or completion token carries: the project as
// subject, the session and the purpose. The manifest stays server-side.
type claims struct {
	Session string `json:"sid"`
	Purpose string `json:"purpose"`
	jwt.RegisteredClaims
}

// tokens signs and checks HS256 tokens.
type tokens struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

func (t *tokens) sign(projectID, sessionID, purpose string, now time.Time) (string, error) {
	c := claims{
		Session: sessionID,
		Purpose: purpose,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   projectID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.key)
}

// verify checks signature, algorithm, expiry, project and purpose, and
// returns the session id. Every failure is a 401 that says what to do.
func (t *tokens) verify(token, projectID, purpose string) (string, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
		jwt.WithLeeway(5*time.Second))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "", api.Errorf(api.CodeUnauthorized, "%s token expired; start a new upload session", purpose)
	case err != nil:
		return "", api.Errorf(api.CodeUnauthorized, "invalid %s token: %v", purpose, err)
	case c.Subject != projectID:
		return "", api.Errorf(api.CodeUnauthorized, "%s token belongs to another project", purpose)
	case c.Purpose != purpose:
		return "", api.Errorf(api.CodeUnauthorized, "token is a %q token, not a %q token", c.Purpose, purpose)
	case c.Session == "":
		return "", api.Errorf(api.CodeUnauthorized, "%s token names no session", purpose)
	}
	return c.Session, nil
}

// bearer returns the credential of an Authorization header, with or
// without the "Bearer " scheme.
func bearer(r *http.Request) string {
	v := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return v
}

// principal is who an API request authenticated as: the admin (the host's
// API token), or one project through one of its tokens.
type principal struct {
	project string // "" for the admin
	tokenID string
}

func (p principal) admin() bool { return p.project == "" }

// authenticate identifies a credential (the Authorization header's, for
// the API). The admin token is compared
// in constant time; hashing first makes the time independent of the
// lengths too. A project token is found by its SHA-256, which is also the
// form it is stored in: the lookup reveals nothing about a token to someone
// who does not already hold a preimage of the hash.
func (h *Host) authenticate(ctx context.Context, got string) (principal, error) {
	if got == "" {
		return principal{}, api.Errorf(api.CodeUnauthorized, "missing Authorization header; send the API token as \"Authorization: Bearer <token>\"")
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(h.cfg.APIToken))
	if subtle.ConstantTimeCompare(a[:], b[:]) == 1 {
		return principal{}, nil
	}
	if strings.HasPrefix(got, api.ProjectTokenPrefix) {
		sum := hex.EncodeToString(a[:])
		t, err := h.store.ProjectTokenByHash(ctx, sum)
		switch {
		case err == nil && subtle.ConstantTimeCompare([]byte(t.Hash), []byte(sum)) == 1:
			h.touchToken(ctx, t)
			return principal{project: t.ProjectID, tokenID: t.ID}, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return principal{}, fmt.Errorf("look up project token: %w", err)
		}
		return principal{}, api.Errorf(api.CodeUnauthorized, "invalid API token: no such project token (it may have been revoked, or its project deleted)")
	}
	return principal{}, api.Errorf(api.CodeUnauthorized, "invalid API token")
}
