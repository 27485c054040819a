package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Domain is a hostname routed to a project.
type Domain struct {
	Hostname  string
	ProjectID string
	CreatedAt time.Time
}

// Domains implements Store.
func (s *SQLite) Domains(ctx context.Context, projectID string) ([]Domain, error) {
	q, args := "SELECT hostname, project_id, created_at FROM project_domains ORDER BY hostname", []any{}
	if projectID != "" {
		q, args = "SELECT hostname, project_id, created_at FROM project_domains WHERE project_id = ? ORDER BY hostname", []any{projectID}
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
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

// DomainTakenError is AddDomain's refusal of a hostname another project
// holds; it matches ErrConflict.
type DomainTakenError struct{ Owner string }

func (e *DomainTakenError) Error() string { return "the hostname belongs to project " + e.Owner }
func (e *DomainTakenError) Unwrap() error { return ErrConflict }

// AddDomain implements Store.
func (s *SQLite) AddDomain(ctx context.Context, d Domain, maxDomains int) (Domain, error) {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var owner string
		err := tx.QueryRowContext(ctx, "SELECT project_id FROM project_domains WHERE hostname = ?", d.Hostname).Scan(&owner)
		switch {
		case err == nil && owner == d.ProjectID:
			return errAlreadyOurs
		case err == nil:
			return &DomainTakenError{Owner: owner}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM project_domains WHERE project_id = ?", d.ProjectID).Scan(&n); err != nil {
			return err
		}
		if maxDomains > 0 && n >= maxDomains {
			return fmt.Errorf("%w: the project has %d domains", ErrLimit, n)
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO project_domains(hostname, project_id, created_at) VALUES (?, ?, ?)",
			d.Hostname, d.ProjectID, nanos(d.CreatedAt))
		return domainError(err)
	})
	if errors.Is(err, errAlreadyOurs) {
		// Adding a name twice is not an error: the second add changes
		// nothing, and answers with the row as first stored.
		var created int64
		err = s.r.QueryRowContext(ctx, "SELECT created_at FROM project_domains WHERE hostname = ?", d.Hostname).Scan(&created)
		if err == nil {
			d.CreatedAt = fromNanos(created)
			return d, nil
		}
	}
	if err != nil {
		return Domain{}, fmt.Errorf("add domain %s: %w", d.Hostname, err)
	}
	d.CreatedAt = fromNanos(nanos(d.CreatedAt))
	return d, nil
}

var errAlreadyOurs = errors.New("domain already added")

// DeleteDomain implements Store.
func (s *SQLite) DeleteDomain(ctx context.Context, projectID, hostname string) error {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM project_domains WHERE project_id = ? AND hostname = ?", projectID, hostname)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("remove domain %s: %w", hostname, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
