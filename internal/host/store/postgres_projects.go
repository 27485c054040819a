package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgProjectColumns selects a project with the figures of its active
// deployment, and its listing cursor.
const pgProjectColumns = `p.id, p.name, coalesce(p.slug, ''), p.created_at, p.updated_at, coalesce(p.active_deployment_id, ''),
	coalesce(d.assets_count, 0), d.entrypoint IS NOT NULL, p.seq`

// Setting implements Store.
func (s *Postgres) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.pool.QueryRow(ctx, "SELECT value FROM settings WHERE key = $1", key).Scan(&v)
	return v, notFound(err)
}

// InitSetting implements Store. ON CONFLICT waits for a concurrent
// inserter's commit, so every replica reads the one value that won.
func (s *Postgres) InitSetting(ctx context.Context, key, value string) (string, error) {
	var v string
	err := s.pgTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO settings(key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", key, value); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "SELECT value FROM settings WHERE key = $1", key).Scan(&v)
	})
	if err != nil {
		return "", fmt.Errorf("init setting %s: %w", key, err)
	}
	return v, nil
}

// CreateProject implements Store.
// The change is recorded so that replicas forget having found no project
// under its id or slug.
func (s *Postgres) CreateProject(ctx context.Context, p Project) (Project, error) {
	err := s.pgTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO projects(id, name, slug, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
			p.ID, p.Name, nullable(p.Slug), nanos(p.CreatedAt))
		if err != nil {
			return err
		}
		return recordChange(ctx, tx, p.ID)
	})
	if err != nil {
		return Project{}, fmt.Errorf("create project: %w", err)
	}
	return s.Project(ctx, p.ID)
}

type pgQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func pgProject(ctx context.Context, q pgQuerier, id string) (Project, error) {
	p, _, err := scanPgProject(q.QueryRow(ctx, "SELECT "+pgProjectColumns+projectFrom+"WHERE p.id = $1", id))
	return p, err
}

func scanPgProject(row rowScanner) (Project, int64, error) {
	var p Project
	var created, updated, seq int64
	err := row.Scan(&p.ID, &p.Name, &p.Slug, &created, &updated, &p.ActiveDeploymentID, &p.AssetsCount, &p.HasServerCode, &seq)
	if err != nil {
		return p, 0, notFound(err)
	}
	p.CreatedAt, p.UpdatedAt = fromNanos(created), fromNanos(updated)
	return p, seq, nil
}

// Project implements Store.
func (s *Postgres) Project(ctx context.Context, id string) (Project, error) {
	return pgProject(ctx, s.pool, id)
}

// Projects implements Store.
func (s *Postgres) Projects(ctx context.Context, after int64, limit int) ([]Project, int64, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+pgProjectColumns+projectFrom+"WHERE p.seq > $1 ORDER BY p.seq LIMIT $2", after, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("list projects: %w", err)
	}
	defer rows.Close()
	var out []Project
	last := after
	for rows.Next() {
		p, seq, err := scanPgProject(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list projects: %w", err)
		}
		out = append(out, p)
		last = seq
	}
	return out, last, rows.Err()
}

// DeleteProject implements Store.
func (s *Postgres) DeleteProject(ctx context.Context, id string) error {
	err := s.pgTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM projects WHERE id = $1", id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return recordChange(ctx, tx, id)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete project: %w", err)
	}
	return err
}

// RenameProject implements Store.
func (s *Postgres) RenameProject(ctx context.Context, id string, name, slug *string) (Project, error) {
	var p Project
	err := s.pgTx(ctx, func(tx pgx.Tx) error {
		now := nanos(time.Now())
		if name != nil {
			if _, err := tx.Exec(ctx, "UPDATE projects SET name = $1, updated_at = $2 WHERE id = $3", *name, now, id); err != nil {
				return err
			}
		}
		if slug != nil {
			if _, err := tx.Exec(ctx, "UPDATE projects SET slug = $1, updated_at = $2 WHERE id = $3", nullable(*slug), now, id); err != nil {
				return pgError(err)
			}
		}
		var err error
		if p, err = pgProject(ctx, tx, id); err != nil {
			return err
		}
		return recordChange(ctx, tx, id)
	})
	if err != nil {
		return p, fmt.Errorf("rename project: %w", err)
	}
	return p, nil
}

// ProjectBySlug implements Store.
func (s *Postgres) ProjectBySlug(ctx context.Context, slug string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, "SELECT id FROM projects WHERE slug = $1", slug).Scan(&id)
	return id, notFound(err)
}

// lockProject locks the project's row for the rest of tx, serialising the
// writes that count a project's rows before adding one (quotas, limits),
// and fails with ErrNotFound when the project is gone.
func lockProject(ctx context.Context, tx pgx.Tx, id string) error {
	var one int
	return notFound(tx.QueryRow(ctx, "SELECT 1 FROM projects WHERE id = $1 FOR UPDATE", id).Scan(&one))
}

// ProjectVars implements Store.
func (s *Postgres) ProjectVars(ctx context.Context, projectID string) ([]Var, error) {
	rows, err := s.pool.Query(ctx, "SELECT name, value, secret, updated_at FROM project_vars WHERE project_id = $1 ORDER BY name", projectID)
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
func (s *Postgres) PutProjectVar(ctx context.Context, projectID string, v Var, maxVars int) (Var, error) {
	err := s.pgTx(ctx, func(tx pgx.Tx) error {
		if err := lockProject(ctx, tx, projectID); err != nil {
			return err
		}
		var secret bool
		err := tx.QueryRow(ctx, "SELECT secret FROM project_vars WHERE project_id = $1 AND name = $2", projectID, v.Name).Scan(&secret)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			var n int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM project_vars WHERE project_id = $1", projectID).Scan(&n); err != nil {
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
		if _, err := tx.Exec(ctx, `INSERT INTO project_vars(project_id, name, value, secret, updated_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (project_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			projectID, v.Name, v.Value, v.Secret, nanos(v.UpdatedAt)); err != nil {
			return pgError(err)
		}
		return recordChange(ctx, tx, projectID)
	})
	if err != nil {
		return Var{}, fmt.Errorf("set %s %s: %w", kindName(v.Secret), v.Name, err)
	}
	v.UpdatedAt = fromNanos(nanos(v.UpdatedAt))
	return v, nil
}

// DeleteProjectVar implements Store.
func (s *Postgres) DeleteProjectVar(ctx context.Context, projectID, name string, secret bool) error {
	err := s.pgTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM project_vars WHERE project_id = $1 AND name = $2 AND secret = $3", projectID, name, secret)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return recordChange(ctx, tx, projectID)
	})
	if errors.Is(err, ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", kindName(secret), name, err)
	}
	return nil
}

const pgTokenColumns = "id, project_id, name, hash, created_at, coalesce(last_used_at, 0)"

func scanPgToken(row rowScanner) (ProjectToken, error) {
	var t ProjectToken
	var created, used int64
	if err := row.Scan(&t.ID, &t.ProjectID, &t.Name, &t.Hash, &created, &used); err != nil {
		return t, notFound(err)
	}
	t.CreatedAt = fromNanos(created)
	if used != 0 {
		t.LastUsedAt = fromNanos(used)
	}
	return t, nil
}

// CreateProjectToken implements Store.
func (s *Postgres) CreateProjectToken(ctx context.Context, t ProjectToken) error {
	_, err := s.pool.Exec(ctx, "INSERT INTO project_tokens(id, project_id, name, hash, created_at) VALUES ($1, $2, $3, $4, $5)",
		t.ID, t.ProjectID, t.Name, t.Hash, nanos(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("create project token: %w", pgError(err))
	}
	return nil
}

// ProjectTokens implements Store.
func (s *Postgres) ProjectTokens(ctx context.Context, projectID string) ([]ProjectToken, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+pgTokenColumns+" FROM project_tokens WHERE project_id = $1 ORDER BY created_at, id", projectID)
	if err != nil {
		return nil, fmt.Errorf("list project tokens: %w", err)
	}
	defer rows.Close()
	out := []ProjectToken{}
	for rows.Next() {
		t, err := scanPgToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list project tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ProjectTokenByHash implements Store.
func (s *Postgres) ProjectTokenByHash(ctx context.Context, hash string) (ProjectToken, error) {
	return scanPgToken(s.pool.QueryRow(ctx, "SELECT "+pgTokenColumns+" FROM project_tokens WHERE hash = $1", hash))
}

// DeleteProjectToken implements Store.
func (s *Postgres) DeleteProjectToken(ctx context.Context, projectID, tokenID string) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM project_tokens WHERE id = $1 AND project_id = $2", tokenID, projectID)
	if err != nil {
		return fmt.Errorf("delete project token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// TouchProjectToken implements Store.
func (s *Postgres) TouchProjectToken(ctx context.Context, tokenID string, at time.Time) error {
	if _, err := s.pool.Exec(ctx, "UPDATE project_tokens SET last_used_at = $1 WHERE id = $2", nanos(at), tokenID); err != nil {
		return fmt.Errorf("touch project token: %w", pgError(err))
	}
	return nil
}

// Domains implements Store.
func (s *Postgres) Domains(ctx context.Context, projectID string) ([]Domain, error) {
	rows, err := s.pool.Query(ctx, "SELECT hostname, project_id, created_at FROM project_domains WHERE $1 = '' OR project_id = $1 ORDER BY hostname", projectID)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	defer rows.Close()
	var out []Domain
	for rows.Next() {
		var d Domain
		var created int64
		if err := rows.Scan(&d.Hostname, &d.ProjectID, &created); err != nil {
			return nil, fmt.Errorf("list domains: %w", err)
		}
		d.CreatedAt = fromNanos(created)
		out = append(out, d)
	}
	return out, rows.Err()
}

// AddDomain implements Store.
func (s *Postgres) AddDomain(ctx context.Context, d Domain, maxDomains int) (Domain, error) {
	err := s.pgTx(ctx, func(tx pgx.Tx) error {
		if err := lockProject(ctx, tx, d.ProjectID); err != nil {
			return err
		}
		var owner string
		var created int64
		err := tx.QueryRow(ctx, "SELECT project_id, created_at FROM project_domains WHERE hostname = $1", d.Hostname).Scan(&owner, &created)
		switch {
		case err == nil && owner == d.ProjectID:
			// Adding a name twice changes nothing and answers with the row
			// as first stored.
			d.CreatedAt = fromNanos(created)
			return nil
		case err == nil:
			return &DomainTakenError{Owner: owner}
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM project_domains WHERE project_id = $1", d.ProjectID).Scan(&n); err != nil {
			return err
		}
		if maxDomains > 0 && n >= maxDomains {
			return fmt.Errorf("%w: the project has %d domains", ErrLimit, n)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO project_domains(hostname, project_id, created_at) VALUES ($1, $2, $3)",
			d.Hostname, d.ProjectID, nanos(d.CreatedAt)); err != nil {
			return pgError(err)
		}
		d.CreatedAt = fromNanos(nanos(d.CreatedAt))
		return recordChange(ctx, tx, d.ProjectID)
	})
	if err != nil {
		return Domain{}, fmt.Errorf("add domain %s: %w", d.Hostname, err)
	}
	return d, nil
}

// DeleteDomain implements Store.
func (s *Postgres) DeleteDomain(ctx context.Context, projectID, hostname string) error {
	err := s.pgTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM project_domains WHERE project_id = $1 AND hostname = $2", projectID, hostname)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return recordChange(ctx, tx, projectID)
	})
	if errors.Is(err, ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("remove domain %s: %w", hostname, err)
	}
	return nil
}
