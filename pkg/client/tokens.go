package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// CreateToken makes a token that acts for one project only; it needs the
// host's admin token. The answer holds the token itself, which the host
// never shows again. Not retried once the request may have reached the
// host, so it never makes two tokens.
func (c *Client) CreateToken(ctx context.Context, projectID, name string) (*api.CreateTokenResponse, error) {
	var out api.CreateTokenResponse
	if _, err := c.do(ctx, request{method: http.MethodPost, path: projectPath(projectID, "/tokens"), json: api.CreateTokenRequest{Name: name}, out: &out}); err != nil {
		return nil, fmt.Errorf("create token for %s: %w", projectID, err)
	}
	return &out, nil
}

// ListTokens returns the metadata of a project's tokens, oldest first.
func (c *Client) ListTokens(ctx context.Context, projectID string) ([]api.Token, error) {
	var out api.TokenListResponse
	if _, err := c.do(ctx, request{method: http.MethodGet, path: projectPath(projectID, "/tokens"), idempotent: true, out: &out}); err != nil {
		return nil, fmt.Errorf("list tokens of %s: %w", projectID, err)
	}
	if out.Tokens == nil {
		out.Tokens = []api.Token{}
	}
	return out.Tokens, nil
}

// RevokeToken deletes one of a project's tokens; it stops working at once.
func (c *Client) RevokeToken(ctx context.Context, projectID, tokenID string) error {
	var out api.RevokeTokenResponse
	if _, err := c.do(ctx, request{method: http.MethodDelete, path: projectPath(projectID, "/tokens/"+url.PathEscape(tokenID)), idempotent: true, out: &out}); err != nil {
		return fmt.Errorf("revoke token %s: %w", tokenID, err)
	}
	return nil
}
