package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// projectPath returns the escaped API path of a project, plus suffix.
func projectPath(id, suffix string) string {
	return "/__api/projects/" + url.PathEscape(id) + suffix
}

// Health checks that the host is up. It needs no token.
func (c *Client) Health(ctx context.Context) (string, error) {
	var out api.HealthResponse
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/__api/health", idempotent: true, out: &out}); err != nil {
		return "", fmt.Errorf("check host health: %w", err)
	}
	return out.Result.Status, nil
}

// CreateProject creates a project; name may be empty. Not retried after the
// request may have reached the host, so it never creates two projects.
func (c *Client) CreateProject(ctx context.Context, name string) (*api.Project, error) {
	var out api.ProjectResponse
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/__api/projects", json: api.CreateProjectRequest{Name: name}, out: &out}); err != nil {
		return nil, fmt.Errorf("create project: %w", err)
	}
	return &out.Project, nil
}

// ListProjects returns one page of projects. limit <= 0 means the host's
// default; cursor is "" for the first page. The returned cursor is "" on the
// last page.
func (c *Client) ListProjects(ctx context.Context, limit int, cursor string) ([]api.Project, string, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var out api.ProjectListResponse
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/__api/projects", query: q, idempotent: true, out: &out}); err != nil {
		return nil, "", fmt.Errorf("list projects: %w", err)
	}
	next := ""
	if out.Cursor != nil {
		next = *out.Cursor
	}
	return out.Projects, next, nil
}

// AllProjects follows the cursor through every page.
func (c *Client) AllProjects(ctx context.Context) ([]api.Project, error) {
	all := []api.Project{}
	cursor := ""
	for {
		page, next, err := c.ListProjects(ctx, 0, cursor)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if next == "" || next == cursor {
			return all, nil
		}
		cursor = next
	}
}

// GetProject returns one project.
func (c *Client) GetProject(ctx context.Context, id string) (*api.Project, error) {
	var out api.ProjectResponse
	if _, err := c.do(ctx, request{method: http.MethodGet, path: projectPath(id, ""), idempotent: true, out: &out}); err != nil {
		return nil, fmt.Errorf("get project %s: %w", id, err)
	}
	return &out.Project, nil
}

// DeleteProject deletes a project and its deployments.
func (c *Client) DeleteProject(ctx context.Context, id string) error {
	var out api.DeleteProjectResponse
	if _, err := c.do(ctx, request{method: http.MethodDelete, path: projectPath(id, ""), idempotent: true, out: &out}); err != nil {
		return fmt.Errorf("delete project %s: %w", id, err)
	}
	return nil
}

// ListDeployments returns a project's deployments, newest first.
func (c *Client) ListDeployments(ctx context.Context, projectID string) ([]api.Deployment, error) {
	var out api.DeploymentListResponse
	if _, err := c.do(ctx, request{method: http.MethodGet, path: projectPath(projectID, "/deployments"), idempotent: true, out: &out}); err != nil {
		return nil, fmt.Errorf("list deployments of %s: %w", projectID, err)
	}
	if out.Deployments == nil {
		out.Deployments = []api.Deployment{}
	}
	return out.Deployments, nil
}

// DeploymentFiles returns the files of one deployment of a project.
func (c *Client) DeploymentFiles(ctx context.Context, projectID, deploymentID string) (api.Manifest, error) {
	var out api.DeploymentFilesResponse
	path := projectPath(projectID, "/deployments/"+url.PathEscape(deploymentID)+"/files")
	if _, err := c.do(ctx, request{method: http.MethodGet, path: path, idempotent: true, out: &out}); err != nil {
		return nil, fmt.Errorf("list files of deployment %s: %w", deploymentID, err)
	}
	if out.Files == nil {
		out.Files = api.Manifest{}
	}
	return out.Files, nil
}

// Rollback makes an earlier deployment active again. Pointing the project
// at a deployment is idempotent, so it is retried like a read.
func (c *Client) Rollback(ctx context.Context, projectID, deploymentID string) (*api.RollbackResponse, error) {
	var out api.RollbackResponse
	if _, err := c.do(ctx, request{method: http.MethodPost, path: projectPath(projectID, "/rollback"), json: api.RollbackRequest{DeploymentID: deploymentID}, idempotent: true, out: &out}); err != nil {
		return nil, fmt.Errorf("roll back %s: %w", projectID, err)
	}
	return &out, nil
}

// CreateUploadSession sends the manifest (phase 1) and returns the upload
// token and the buckets of hashes the host still needs. A session that is
// never used changes nothing, so the call is retried freely.
func (c *Client) CreateUploadSession(ctx context.Context, projectID string, m api.Manifest) (*api.UploadSessionResult, error) {
	var out api.UploadSessionResponse
	if _, err := c.do(ctx, request{method: http.MethodPost, path: projectPath(projectID, "/assets-upload-session"), json: api.UploadSessionRequest{Manifest: m}, idempotent: true, out: &out}); err != nil {
		return nil, fmt.Errorf("create upload session: %w", err)
	}
	return &out.Result, nil
}

// Finalize creates the deployment from a completion token (phase 3). A
// completion token is good for one deployment, so the call is not retried
// once the request may have reached the host.
func (c *Client) Finalize(ctx context.Context, projectID string, req api.DeployRequest) (*api.DeployResponse, error) {
	var out api.DeployResponse
	if _, err := c.do(ctx, request{method: http.MethodPost, path: projectPath(projectID, "/deploy"), json: req, out: &out}); err != nil {
		return nil, fmt.Errorf("finalize deployment: %w", err)
	}
	return &out, nil
}

// Promote makes a deployment of the project (a preview, say) live: the same
// operation as Rollback, so it is retried the same way.
func (c *Client) Promote(ctx context.Context, projectID, deploymentID string) (*api.RollbackResponse, error) {
	var out api.RollbackResponse
	if _, err := c.do(ctx, request{method: http.MethodPost, path: projectPath(projectID, "/promote"), json: api.PromoteRequest{DeploymentID: deploymentID}, idempotent: true, out: &out}); err != nil {
		return nil, fmt.Errorf("promote in %s: %w", projectID, err)
	}
	return &out, nil
}

// UpdateProject renames a project or sets its slug ("" removes it).
// Setting the same values again changes nothing, so it is retried.
func (c *Client) UpdateProject(ctx context.Context, projectID string, req api.UpdateProjectRequest) (*api.Project, error) {
	var out api.ProjectResponse
	if _, err := c.do(ctx, request{method: http.MethodPatch, path: projectPath(projectID, ""), json: req, idempotent: true, out: &out}); err != nil {
		return nil, fmt.Errorf("update project %s: %w", projectID, err)
	}
	return &out.Project, nil
}

// CreateProjectWithSlug creates a project with a slug (see CreateProject).
func (c *Client) CreateProjectWithSlug(ctx context.Context, name, slug string) (*api.Project, error) {
	var out api.ProjectResponse
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/__api/projects", json: api.CreateProjectRequest{Name: name, Slug: slug}, out: &out}); err != nil {
		return nil, fmt.Errorf("create project: %w", err)
	}
	return &out.Project, nil
}
