package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// ListDomains returns a project's custom domains.
func (c *Client) ListDomains(ctx context.Context, projectID string) ([]api.Domain, error) {
	var out api.DomainListResponse
	if _, err := c.do(ctx, request{method: http.MethodGet, path: projectPath(projectID, "/domains"), idempotent: true, out: &out}); err != nil {
		return nil, fmt.Errorf("list domains of %s: %w", projectID, err)
	}
	if out.Domains == nil {
		out.Domains = []api.Domain{}
	}
	return out.Domains, nil
}

// AddDomain routes hostname to the project's live deployment. Adding a name
// the project holds already changes nothing, so it is safe to retry.
func (c *Client) AddDomain(ctx context.Context, projectID, hostname string) (*api.Domain, error) {
	var out api.DomainResponse
	if _, err := c.do(ctx, request{method: http.MethodPost, path: projectPath(projectID, "/domains"), json: api.AddDomainRequest{Hostname: hostname}, idempotent: true, out: &out}); err != nil {
		return nil, fmt.Errorf("add domain %s: %w", hostname, err)
	}
	return &out.Domain, nil
}

// RemoveDomain removes a project's custom domain.
func (c *Client) RemoveDomain(ctx context.Context, projectID, hostname string) error {
	var out api.DeleteDomainResponse
	if _, err := c.do(ctx, request{method: http.MethodDelete, path: projectPath(projectID, "/domains/"+url.PathEscape(hostname)), idempotent: true, out: &out}); err != nil {
		return fmt.Errorf("remove domain %s: %w", hostname, err)
	}
	return nil
}
