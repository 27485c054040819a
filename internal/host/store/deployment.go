package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

const deploymentColumns = `d.id, d.project_id, d.created_at, d.config, d.redirects, d.headers, d.run_worker_first,
	d.env, coalesce(d.entrypoint, ''), d.compatibility_date, d.compatibility_flags, d.assets_count,
	coalesce(p.active_deployment_id = d.id, 0), d.branch, d.branch_slug, NOT d.production`

const deploymentFrom = ` FROM deployments d JOIN projects p ON p.id = d.project_id `

func scanDeployment(row rowScanner) (Deployment, error) {
	var d Deployment
	var created int64
	var env, flags string
	err := row.Scan(&d.ID, &d.ProjectID, &created, &d.Config, &d.Redirects, &d.Headers, &d.RunWorkerFirst,
		&env, &d.Entrypoint, &d.CompatibilityDate, &flags, &d.AssetsCount, &d.Active,
		&d.Branch, &d.BranchSlug, &d.Preview)
	if errors.Is(err, sql.ErrNoRows) {
		return d, ErrNotFound
	}
	if err != nil {
		return d, err
	}
	d.CreatedAt = fromNanos(created)
	if err := json.Unmarshal([]byte(env), &d.Env); err != nil {
		return d, fmt.Errorf("deployment %s env: %w", d.ID, err)
	}
	if err := json.Unmarshal([]byte(flags), &d.CompatibilityFlags); err != nil {
		return d, fmt.Errorf("deployment %s flags: %w", d.ID, err)
	}
	return d, nil
}

// Deploy implements Store. Everything happens in one transaction: the
// session is spent, the deployment and its rows are written and the project's
// pointer moves, so readers see the old deployment or the new one, never a mix.
func (s *SQLite) Deploy(ctx context.Context, nd NewDeployment) (DeployResult, error) {
	var res DeployResult
	d := nd.Deployment
	env, err := json.Marshal(orEmpty(d.Env))
	if err != nil {
		return res, fmt.Errorf("deploy: %w", err)
	}
	flags, err := json.Marshal(orEmptySlice(d.CompatibilityFlags))
	if err != nil {
		return res, fmt.Errorf("deploy: %w", err)
	}
	// Sorted before the transaction: the store has one writer, and every
	// other project's writes wait while it is held.
	assets, err := sortedAssets(nd.Assets)
	if err != nil {
		return res, fmt.Errorf("deploy: %w", err)
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if nd.SessionID != "" {
			r, err := tx.ExecContext(ctx, "UPDATE upload_sessions SET used = 1 WHERE id = ? AND project_id = ? AND used = 0", nd.SessionID, d.ProjectID)
			if err != nil {
				return err
			}
			if n, _ := r.RowsAffected(); n == 0 {
				return fmt.Errorf("%w: the completion token was already used or its session is gone", ErrConflict)
			}
		}
		var entry any
		if d.Entrypoint != "" {
			entry = d.Entrypoint
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO deployments(id, project_id, created_at, config, redirects, headers,
			run_worker_first, env, entrypoint, compatibility_date, compatibility_flags, assets_count, branch, branch_slug, production)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.ID, d.ProjectID, nanos(d.CreatedAt), d.Config, d.Redirects, d.Headers, d.RunWorkerFirst,
			string(env), entry, d.CompatibilityDate, string(flags), len(nd.Assets), d.Branch, d.BranchSlug, !d.Preview); err != nil {
			return domainError(err)
		}
		if err := insertAssets(ctx, tx, d.ID, assets); err != nil {
			return err
		}
		for _, m := range nd.Modules {
			if _, err := tx.ExecContext(ctx, "INSERT INTO deployment_modules(deployment_id, name, type, hash) VALUES (?, ?, ?, ?)",
				d.ID, m.Name, m.Type, m.Hash); err != nil {
				return fmt.Errorf("module %s: %w", m.Name, domainError(err))
			}
		}
		if nd.SessionID != "" {
			// newAssets counts paths whose content the session asked for:
			// the files the project did not have when the deploy began, all
			// uploaded since (the completion token is only issued then).
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM deployment_assets a
				JOIN session_hashes s ON s.session_id = ? AND s.hash = a.hash
				WHERE a.deployment_id = ?`, nd.SessionID, d.ID).Scan(&res.NewAssets); err != nil {
				return err
			}
		}
		// The blobs must still be on the host: garbage collection may have
		// taken one that the session counted as already uploaded.
		var lost int
		if err := tx.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM deployment_assets a WHERE a.deployment_id = ?1
				AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = a.hash)) +
			(SELECT count(*) FROM deployment_modules m WHERE m.deployment_id = ?1
				AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = m.hash))`, d.ID).Scan(&lost); err != nil {
			return err
		}
		if lost > 0 {
			return fmt.Errorf("%w: %d files of this deployment are no longer stored; start a new upload", ErrNotFound, lost)
		}
		now := nanos(time.Now())
		// A preview leaves the live pointer where it is: the update then
		// writes it back unchanged, and still proves the project exists.
		q := "UPDATE projects SET active_deployment_id = CASE WHEN ?4 THEN ?1 ELSE active_deployment_id END, updated_at = ?2 WHERE id = ?3"
		args := []any{d.ID, now, d.ProjectID, !d.Preview}
		if nd.NewName != nil {
			q = "UPDATE projects SET active_deployment_id = CASE WHEN ?4 THEN ?1 ELSE active_deployment_id END, updated_at = ?2, name = ?5 WHERE id = ?3"
			args = append(args, *nd.NewName)
		}
		r, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if res.Project, err = projectTx(ctx, tx, d.ProjectID); err != nil {
			return err
		}
		res.Deployment, err = scanDeployment(tx.QueryRowContext(ctx, "SELECT "+deploymentColumns+deploymentFrom+"WHERE d.id = ?", d.ID))
		return err
	})
	if err != nil {
		return DeployResult{}, fmt.Errorf("deploy: %w", err)
	}
	return res, nil
}

// sortedAssets returns assets in path order, the order of the table's key,
// refusing a path listed twice.
func sortedAssets(assets []Asset) ([]Asset, error) {
	sorted := slices.Clone(assets)
	slices.SortFunc(sorted, func(a, b Asset) int { return strings.Compare(a.Path, b.Path) })
	for i, a := range sorted {
		if i > 0 && sorted[i-1].Path == a.Path {
			return nil, fmt.Errorf("asset %s: %w: listed twice", a.Path, ErrConflict)
		}
	}
	return sorted, nil
}

// insertAssets writes a deployment's assets, sorted by sortedAssets, so
// that rows are appended rather than scattered, and several rows per
// statement.
func insertAssets(ctx context.Context, tx *sql.Tx, deploymentID string, sorted []Asset) error {
	args := make([]any, 0, maxBatch)
	for len(sorted) > 0 {
		batch := sorted[:min(len(sorted), maxBatch/5)]
		sorted = sorted[len(batch):]
		args = args[:0]
		for _, a := range batch {
			args = append(args, deploymentID, a.Path, a.Hash, a.Size, a.ContentType)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO deployment_assets(deployment_id, path, hash, size, content_type) VALUES "+rowsOf(len(batch), 5), args...); err != nil {
			return fmt.Errorf("assets: %w", domainError(err))
		}
	}
	return nil
}

// Deployments implements Store.
func (s *SQLite) Deployments(ctx context.Context, projectID string) ([]Deployment, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+deploymentColumns+deploymentFrom+"WHERE d.project_id = ? ORDER BY d.created_at DESC, d.rowid DESC", projectID)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	defer rows.Close()
	var out []Deployment
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			return nil, fmt.Errorf("list deployments: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Deployment implements Store.
func (s *SQLite) Deployment(ctx context.Context, projectID, deploymentID string) (Deployment, error) {
	d, err := scanDeployment(s.r.QueryRowContext(ctx, "SELECT "+deploymentColumns+deploymentFrom+"WHERE d.id = ? AND d.project_id = ?", deploymentID, projectID))
	if err != nil && err != ErrNotFound {
		return d, fmt.Errorf("read deployment: %w", err)
	}
	return d, err
}

// Activate implements Store.
func (s *SQLite) Activate(ctx context.Context, projectID, deploymentID string) (Project, Deployment, error) {
	var p Project
	var d Deployment
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE projects SET active_deployment_id = ?, updated_at = ?
			WHERE id = ? AND EXISTS (SELECT 1 FROM deployments WHERE id = ? AND project_id = ?)`,
			deploymentID, nanos(time.Now()), projectID, deploymentID, projectID)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if p, err = projectTx(ctx, tx, projectID); err != nil {
			return err
		}
		d, err = scanDeployment(tx.QueryRowContext(ctx, "SELECT "+deploymentColumns+deploymentFrom+"WHERE d.id = ?", deploymentID))
		return err
	})
	if err != nil {
		return p, d, fmt.Errorf("activate deployment: %w", err)
	}
	return p, d, nil
}

// ActiveSnapshot implements Store.
func (s *SQLite) ActiveSnapshot(ctx context.Context, projectID string) (Snapshot, error) {
	return s.snapshot(ctx, "WHERE p.id = ? AND d.id = p.active_deployment_id", projectID)
}

// PreviewSnapshot implements Store.
func (s *SQLite) PreviewSnapshot(ctx context.Context, projectID, short, branch string) (Snapshot, error) {
	if short != "" {
		// The short id is a prefix of the id: a range of the primary key.
		return s.snapshot(ctx, "WHERE d.id >= ?1 AND d.id < ?1 || '~' AND d.project_id = ?2 ORDER BY d.created_at DESC LIMIT 1", short, projectID)
	}
	return s.snapshot(ctx, "WHERE d.project_id = ? AND d.branch_slug = ? ORDER BY d.created_at DESC, d.rowid DESC LIMIT 1", projectID, branch)
}

// snapshot reads the deployment that where selects, with its assets and
// modules.
func (s *SQLite) snapshot(ctx context.Context, where string, args ...any) (Snapshot, error) {
	var snap Snapshot
	// A read transaction pins one WAL snapshot, so the deployment row and
	// its assets come from the same committed state.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return snap, fmt.Errorf("read deployment: %w", err)
	}
	defer tx.Rollback()
	snap.Deployment, err = scanDeployment(tx.QueryRowContext(ctx, "SELECT "+deploymentColumns+deploymentFrom+where, args...))
	if err != nil {
		return snap, err
	}
	rows, err := tx.QueryContext(ctx, "SELECT path, hash, size, content_type FROM deployment_assets WHERE deployment_id = ?", snap.Deployment.ID)
	if err != nil {
		return snap, fmt.Errorf("read deployment assets: %w", err)
	}
	snap.Assets = make([]Asset, 0, snap.Deployment.AssetsCount)
	for rows.Next() {
		var a Asset
		if err := rows.Scan(&a.Path, &a.Hash, &a.Size, &a.ContentType); err != nil {
			rows.Close()
			return snap, err
		}
		snap.Assets = append(snap.Assets, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return snap, err
	}
	mrows, err := tx.QueryContext(ctx, "SELECT name, type, hash FROM deployment_modules WHERE deployment_id = ? ORDER BY name", snap.Deployment.ID)
	if err != nil {
		return snap, fmt.Errorf("read deployment modules: %w", err)
	}
	defer mrows.Close()
	for mrows.Next() {
		var m Module
		if err := mrows.Scan(&m.Name, &m.Type, &m.Hash); err != nil {
			return snap, err
		}
		snap.Modules = append(snap.Modules, m)
	}
	return snap, mrows.Err()
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func orEmptySlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
