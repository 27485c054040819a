package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ProjectToken is a stored credential of one project. Only the hash of the
// token is kept; the token itself is shown to its creator once.
type ProjectToken struct {
	ID         string
	ProjectID  string
	Name       string
	Hash       string // lowercase hex SHA-256 of the token
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until the token is first used
}

const tokenColumns = "id, project_id, name, hash, created_at, coalesce(last_used_at, 0)"

func scanToken(row rowScanner) (ProjectToken, error) {
	var t ProjectToken
	var created, used int64
	err := row.Scan(&t.ID, &t.ProjectID, &t.Name, &t.Hash, &created, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	t.CreatedAt = fromNanos(created)
	if used != 0 {
		t.LastUsedAt = fromNanos(used)
	}
	return t, err
}

// CreateProjectToken implements Store.
func (s *SQLite) CreateProjectToken(ctx context.Context, t ProjectToken) error {
	_, err := s.w.ExecContext(ctx, "INSERT INTO project_tokens(id, project_id, name, hash, created_at) VALUES (?, ?, ?, ?, ?)",
		t.ID, t.ProjectID, t.Name, t.Hash, nanos(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("create project token: %w", domainError(fullError(err)))
	}
	return nil
}

// ProjectTokens implements Store.
func (s *SQLite) ProjectTokens(ctx context.Context, projectID string) ([]ProjectToken, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+tokenColumns+" FROM project_tokens WHERE project_id = ? ORDER BY created_at, id", projectID)
	if err != nil {
		return nil, fmt.Errorf("list project tokens: %w", err)
	}
	defer rows.Close()
	out := []ProjectToken{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list project tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ProjectTokenByHash implements Store.
func (s *SQLite) ProjectTokenByHash(ctx context.Context, hash string) (ProjectToken, error) {
	return scanToken(s.r.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM project_tokens WHERE hash = ?", hash))
}

// DeleteProjectToken implements Store.
func (s *SQLite) DeleteProjectToken(ctx context.Context, projectID, tokenID string) error {
	res, err := s.w.ExecContext(ctx, "DELETE FROM project_tokens WHERE id = ? AND project_id = ?", tokenID, projectID)
	if err != nil {
		return fmt.Errorf("delete project token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// TouchProjectToken implements Store.
func (s *SQLite) TouchProjectToken(ctx context.Context, tokenID string, at time.Time) error {
	if _, err := s.w.ExecContext(ctx, "UPDATE project_tokens SET last_used_at = ? WHERE id = ?", nanos(at), tokenID); err != nil {
		return fmt.Errorf("touch project token: %w", fullError(err))
	}
	return nil
}
