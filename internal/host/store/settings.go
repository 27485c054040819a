package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Var is a project setting kept across deployments: an environment
// variable, or a secret when Secret is set.
type Var struct {
	Name      string
	Value     string
	Secret    bool
	UpdatedAt time.Time
}

// ProjectVars implements Store.
func (s *SQLite) ProjectVars(ctx context.Context, projectID string) ([]Var, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT name, value, secret, updated_at FROM project_vars WHERE project_id = ? ORDER BY name", projectID)
	if err != nil {
		return nil, fmt.Errorf("list project settings: %w", err)
	}
	defer rows.Close()
	var out []Var
	for rows.Next() {
		var v Var
		var updated int64
		if err := rows.Scan(&v.Name, &v.Value, &v.Secret, &updated); err != nil {
			return nil, fmt.Errorf("list project settings: %w", err)
		}
		v.UpdatedAt = fromNanos(updated)
		out = append(out, v)
	}
	return out, rows.Err()
}

// PutProjectVar implements Store.
func (s *SQLite) PutProjectVar(ctx context.Context, projectID string, v Var, maxVars int) (Var, error) {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var secret bool
		err := tx.QueryRowContext(ctx, "SELECT secret FROM project_vars WHERE project_id = ? AND name = ?", projectID, v.Name).Scan(&secret)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM project_vars WHERE project_id = ?", projectID).Scan(&n); err != nil {
				return err
			}
			if n >= maxVars {
				return fmt.Errorf("%w: the project has %d variables and secrets", ErrLimit, n)
			}
		case err != nil:
			return err
		case secret != v.Secret:
			return fmt.Errorf("%w: %s is already a %s", ErrConflict, v.Name, kindName(secret))
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO project_vars(project_id, name, value, secret, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT(project_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			projectID, v.Name, v.Value, boolInt(v.Secret), nanos(v.UpdatedAt))
		return domainError(err)
	})
	if err != nil {
		return Var{}, fmt.Errorf("set %s %s: %w", kindName(v.Secret), v.Name, err)
	}
	v.UpdatedAt = fromNanos(nanos(v.UpdatedAt))
	return v, nil
}

// DeleteProjectVar implements Store.
func (s *SQLite) DeleteProjectVar(ctx context.Context, projectID, name string, secret bool) error {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM project_vars WHERE project_id = ? AND name = ? AND secret = ?", projectID, name, boolInt(secret))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", kindName(secret), name, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

func kindName(secret bool) string {
	if secret {
		return "secret"
	}
	return "variable"
}
