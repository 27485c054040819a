package host

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// tokenTouchInterval is how stale a token's last-used time may get: the
// time is written at most this often, so a busy token costs no write per
// request.
const tokenTouchInterval = time.Minute

// authorize lets r through when its credential may act on project: the
// admin token always, a project token on its own project only. adminOnly
// routes (host-wide ones, and the tokens API) refuse project tokens.
func (h *Host) authorize(w http.ResponseWriter, r *http.Request, project string, adminOnly bool) error {
	p, err := h.authenticateLimited(w, r, bearer(r))
	if err != nil {
		return err
	}
	switch {
	case p.admin():
		return nil
	case adminOnly:
		return api.Errorf(api.CodeForbidden, "a project token cannot %s %s; this needs the host's admin API token", r.Method, r.URL.Path)
	case p.project != project:
		return api.Errorf(api.CodeForbidden, "this token belongs to project %s; it cannot act on project %s", p.project, project)
	}
	return nil
}

// authenticateLimited identifies token, sent by r's client, under the
// failed-authentication limit: every failure counts, and a client that
// failed too often is refused (429, with Retry-After set on w) before its
// credential is looked at, so a guess that happens to be right is refused
// as well and the 429 tells nothing about it. The API and the dashboard's
// sign-in both go through it, so they share one limit.
func (h *Host) authenticateLimited(w http.ResponseWriter, r *http.Request, token string) (principal, error) {
	key := clientKey(h.clientAddr(r))
	now := h.cfg.Now()
	if wait, ok := h.authLimit.blocked(key, now); ok {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		return principal{}, api.Errorf(api.CodeRateLimited, "too many failed authentications from this address; try again in %d seconds", secs)
	}
	p, err := h.authenticate(r.Context(), token)
	if err != nil {
		if api.ErrorCode(err) == api.CodeUnauthorized {
			if until := h.authLimit.fail(key, now); !until.IsZero() {
				h.log.Warn("refusing API requests from a client after repeated authentication failures",
					"client", key.String(), "failures", h.cfg.AuthFailLimit, "until", until.Format(time.RFC3339))
			}
		}
		return principal{}, err
	}
	return p, nil
}

// touchToken records that t was used, at most once per tokenTouchInterval.
func (h *Host) touchToken(ctx context.Context, t store.ProjectToken) {
	now := time.Now()
	if now.Sub(t.LastUsedAt) < tokenTouchInterval {
		return
	}
	if err := h.store.TouchProjectToken(ctx, t.ID, now); err != nil {
		h.log.Warn("record token use", "token", t.ID, "err", err)
	}
}

// newProjectToken returns a fresh token and its hash: 256 random bits,
// hex-encoded behind a recognisable prefix.
func newProjectToken() (value, hash string) {
	b := make([]byte, 32)
	rand.Read(b)
	value = api.ProjectTokenPrefix + hex.EncodeToString(b)
	sum := sha256.Sum256([]byte(value))
	return value, hex.EncodeToString(sum[:])
}

func (h *Host) handleCreateToken(w http.ResponseWriter, r *http.Request, projectID string) error {
	var req api.CreateTokenRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, 64<<10, &req); err != nil {
			return err
		}
	}
	req.Name = strings.TrimSpace(req.Name)
	if err := validateName("token", req.Name); err != nil {
		return err
	}
	if _, err := h.project(r.Context(), projectID); err != nil {
		return err
	}
	value, hash := newProjectToken()
	t := store.ProjectToken{ID: uuid.NewString(), ProjectID: projectID, Name: req.Name, Hash: hash, CreatedAt: time.Now()}
	if t.Name == "" {
		t.Name = "token-" + t.ID[:8]
	}
	if err := h.store.CreateProjectToken(r.Context(), t); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return projectNotFound(projectID)
		}
		return err
	}
	h.log.Info("project token created", "project", projectID, "token", t.ID, "name", t.Name)
	writeJSON(w, http.StatusCreated, api.CreateTokenResponse{Success: true, Token: toAPIToken(t), Value: value})
	return nil
}

func (h *Host) handleListTokens(w http.ResponseWriter, r *http.Request, projectID string) error {
	if _, err := h.project(r.Context(), projectID); err != nil {
		return err
	}
	ts, err := h.store.ProjectTokens(r.Context(), projectID)
	if err != nil {
		return err
	}
	res := api.TokenListResponse{Success: true, Tokens: make([]api.Token, 0, len(ts))}
	for _, t := range ts {
		res.Tokens = append(res.Tokens, toAPIToken(t))
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (h *Host) handleRevokeToken(w http.ResponseWriter, r *http.Request, projectID, tokenID string) error {
	if _, err := h.project(r.Context(), projectID); err != nil {
		return err
	}
	if err := h.store.DeleteProjectToken(r.Context(), projectID, tokenID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return api.Errorf(api.CodeNotFound, "token %s not found in project %s", tokenID, projectID)
		}
		return err
	}
	h.log.Info("project token revoked", "project", projectID, "token", tokenID)
	writeJSON(w, http.StatusOK, api.RevokeTokenResponse{Success: true, Message: "Token revoked", TokenID: tokenID})
	return nil
}

func toAPIToken(t store.ProjectToken) api.Token {
	out := api.Token{ID: t.ID, ProjectID: t.ProjectID, Name: t.Name, CreatedAt: t.CreatedAt}
	if !t.LastUsedAt.IsZero() {
		used := t.LastUsedAt
		out.LastUsedAt = &used
	}
	return out
}
