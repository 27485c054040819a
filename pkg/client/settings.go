package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// A project's environment variables and secrets live on the host and are
// given to every deployment's server code, under the deployment's own env.
// Setting or removing one applies to the live deployment at once. Setting a
// value is idempotent, so every call here is retried like a read.

// ListEnv returns a project's environment variables, by name.
func (c *Client) ListEnv(ctx context.Context, projectID string) ([]api.EnvVar, error) {
	var out api.EnvListResponse
	if _, err := c.do(ctx, request{method: http.MethodGet, path: projectPath(projectID, "/env"), idempotent: true, out: &out}); err != nil {
		return nil, fmt.Errorf("list variables of %s: %w", projectID, err)
	}
	if out.Env == nil {
		out.Env = []api.EnvVar{}
	}
	return out.Env, nil
}

// SetEnv creates or replaces a project's environment variable.
func (c *Client) SetEnv(ctx context.Context, projectID, name, value string) (*api.EnvVar, error) {
	var out api.EnvVarResponse
	if _, err := c.do(ctx, request{method: http.MethodPut, path: projectPath(projectID, "/env/"+url.PathEscape(name)), json: api.SetValueRequest{Value: &value}, idempotent: true, out: &out}); err != nil {
		return nil, fmt.Errorf("set variable %s: %w", name, err)
	}
	return &out.Variable, nil
}

// DeleteEnv removes a project's environment variable.
func (c *Client) DeleteEnv(ctx context.Context, projectID, name string) error {
	var out api.DeleteSettingResponse
	if _, err := c.do(ctx, request{method: http.MethodDelete, path: projectPath(projectID, "/env/"+url.PathEscape(name)), idempotent: true, out: &out}); err != nil {
		return fmt.Errorf("remove variable %s: %w", name, err)
	}
	return nil
}

// ListSecrets returns the names and update times of a project's secrets;
// their values never leave the host.
func (c *Client) ListSecrets(ctx context.Context, projectID string) ([]api.Secret, error) {
	var out api.SecretListResponse
	if _, err := c.do(ctx, request{method: http.MethodGet, path: projectPath(projectID, "/secrets"), idempotent: true, out: &out}); err != nil {
		return nil, fmt.Errorf("list secrets of %s: %w", projectID, err)
	}
	if out.Secrets == nil {
		out.Secrets = []api.Secret{}
	}
	return out.Secrets, nil
}

// PutSecret creates or replaces a project's secret.
func (c *Client) PutSecret(ctx context.Context, projectID, name, value string) (*api.Secret, error) {
	var out api.SecretResponse
	if _, err := c.do(ctx, request{method: http.MethodPut, path: projectPath(projectID, "/secrets/"+url.PathEscape(name)), json: api.SetValueRequest{Value: &value}, idempotent: true, out: &out}); err != nil {
		return nil, fmt.Errorf("put secret %s: %w", name, err)
	}
	return &out.Secret, nil
}

// DeleteSecret removes a project's secret.
func (c *Client) DeleteSecret(ctx context.Context, projectID, name string) error {
	var out api.DeleteSettingResponse
	if _, err := c.do(ctx, request{method: http.MethodDelete, path: projectPath(projectID, "/secrets/"+url.PathEscape(name)), idempotent: true, out: &out}); err != nil {
		return fmt.Errorf("remove secret %s: %w", name, err)
	}
	return nil
}
