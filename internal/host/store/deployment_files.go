package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// DeploymentAssets lists the assets of one deployment of a project, so a
// client can show what a new deploy would add, change or remove. It
// returns ErrNotFound when the project has no such deployment.
func (s *SQLite) DeploymentAssets(ctx context.Context, projectID, deploymentID string) ([]Asset, error) {
	var one int
	err := s.r.QueryRowContext(ctx, "SELECT 1 FROM deployments WHERE id = ? AND project_id = ?", deploymentID, projectID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read deployment: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, "SELECT path, hash, size, content_type FROM deployment_assets WHERE deployment_id = ? ORDER BY path", deploymentID)
	if err != nil {
		return nil, fmt.Errorf("read deployment assets: %w", err)
	}
	defer rows.Close()
	var out []Asset
	for rows.Next() {
		var a Asset
		if err := rows.Scan(&a.Path, &a.Hash, &a.Size, &a.ContentType); err != nil {
			return nil, fmt.Errorf("read deployment assets: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
