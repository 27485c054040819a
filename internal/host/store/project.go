package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// projectColumns selects a project with the figures of its active deployment.
const projectColumns = `p.id, p.name, coalesce(p.slug, ''), p.created_at, p.updated_at, coalesce(p.active_deployment_id, ''),
	coalesce(d.assets_count, 0), d.entrypoint IS NOT NULL, p.rowid`

const projectFrom = ` FROM projects p LEFT JOIN deployments d ON d.id = p.active_deployment_id `

type rowScanner interface{ Scan(dest ...any) error }

func scanProject(row rowScanner) (Project, int64, error) {
	var p Project
	var created, updated, rowid int64
	err := row.Scan(&p.ID, &p.Name, &p.Slug, &created, &updated, &p.ActiveDeploymentID, &p.AssetsCount, &p.HasServerCode, &rowid)
	if errors.Is(err, sql.ErrNoRows) {
		return p, 0, ErrNotFound
	}
	p.CreatedAt, p.UpdatedAt = fromNanos(created), fromNanos(updated)
	return p, rowid, err
}

// Setting implements Store.
func (s *SQLite) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return v, err
}

// InitSetting implements Store.
func (s *SQLite) InitSetting(ctx context.Context, key, value string) (string, error) {
	var v string
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING", key, value); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	})
	if err != nil {
		return "", fmt.Errorf("init setting %s: %w", key, err)
	}
	return v, nil
}

// CreateProject implements Store.
func (s *SQLite) CreateProject(ctx context.Context, p Project) (Project, error) {
	_, err := s.w.ExecContext(ctx, "INSERT INTO projects(id, name, slug, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
		p.ID, p.Name, nullable(p.Slug), nanos(p.CreatedAt), nanos(p.CreatedAt))
	if err != nil {
		return Project{}, fmt.Errorf("create project: %w", domainError(err))
	}
	return s.Project(ctx, p.ID)
}

// Project implements Store.
func (s *SQLite) Project(ctx context.Context, id string) (Project, error) {
	p, _, err := scanProject(s.r.QueryRowContext(ctx, "SELECT "+projectColumns+projectFrom+"WHERE p.id = ?", id))
	return p, err
}

func projectTx(ctx context.Context, tx *sql.Tx, id string) (Project, error) {
	p, _, err := scanProject(tx.QueryRowContext(ctx, "SELECT "+projectColumns+projectFrom+"WHERE p.id = ?", id))
	return p, err
}

// Projects implements Store.
func (s *SQLite) Projects(ctx context.Context, after int64, limit int) ([]Project, int64, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+projectColumns+projectFrom+"WHERE p.rowid > ? ORDER BY p.rowid LIMIT ?", after, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("list projects: %w", err)
	}
	defer rows.Close()
	var out []Project
	last := after
	for rows.Next() {
		p, rowid, err := scanProject(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list projects: %w", err)
		}
		out = append(out, p)
		last = rowid
	}
	return out, last, rows.Err()
}

// DeleteProject implements Store. Deployments, sessions, tokens and the project's
// blob records go with it through cascades; blobs themselves wait for
// garbage collection.
func (s *SQLite) DeleteProject(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, "DELETE FROM projects WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete project: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// RenameProject implements Store.
func (s *SQLite) RenameProject(ctx context.Context, id string, name, slug *string) (Project, error) {
	var p Project
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		now := nanos(time.Now())
		if name != nil {
			if _, err := tx.ExecContext(ctx, "UPDATE projects SET name = ?, updated_at = ? WHERE id = ?", *name, now, id); err != nil {
				return err
			}
		}
		if slug != nil {
			if _, err := tx.ExecContext(ctx, "UPDATE projects SET slug = ?, updated_at = ? WHERE id = ?", nullable(*slug), now, id); err != nil {
				return domainError(err)
			}
		}
		var err error
		p, err = projectTx(ctx, tx, id)
		return err
	})
	if err != nil {
		return p, fmt.Errorf("rename project: %w", err)
	}
	return p, nil
}

// ProjectBySlug implements Store.
func (s *SQLite) ProjectBySlug(ctx context.Context, slug string) (string, error) {
	var id string
	err := s.r.QueryRowContext(ctx, "SELECT id FROM projects WHERE slug = ?", slug).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return id, err
}

// nullable stores "" as NULL, so that the unique index ignores it.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
