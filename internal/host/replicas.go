package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
)

// openStore opens the store the configuration names: the shared PostgreSQL
// database of Config.Database, or the data directory's SQLite file.
func openStore(ctx context.Context, cfg Config) (store.Store, *store.SQLite, *store.Postgres, error) {
	if cfg.Database == "" {
		db, err := store.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "cfhost.db"))
		if err != nil {
			return nil, nil, nil, err
		}
		return db, db, nil, nil
	}
	if !strings.HasPrefix(cfg.Database, "postgres://") && !strings.HasPrefix(cfg.Database, "postgresql://") {
		return nil, nil, nil, errors.New("--database: only PostgreSQL (postgres://...) is supported")
	}
	pg, err := store.OpenPostgres(ctx, cfg.Database)
	if err != nil {
		return nil, nil, nil, err
	}
	pg.SetSwitchDelay(cfg.SwitchDelay)
	return pg, nil, pg, nil
}

// apiToken returns the management token when none is configured. On its
// own data directory a host keeps it in DATA_DIR/api-token. Replicas on a
// shared database must all accept the same token, so there it lives in the
// database (the first replica's wins: a token file it finds, or a new
// one), and each replica writes it to its api-token file for the operator.
func apiToken(ctx context.Context, cfg Config, pg *store.Postgres) (string, error) {
	path := filepath.Join(cfg.DataDir, "api-token")
	if pg == nil {
		return loadOrCreateToken(path, cfg.Logger)
	}
	proposed := randomHex(32)
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) != "" {
		proposed = strings.TrimSpace(string(b))
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read api token: %w", err)
	}
	tok, err := pg.InitSetting(ctx, "api_token", proposed)
	if err != nil {
		return "", err
	}
	if tok != proposed || proposed != readTrimmed(path) {
		if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("write api token file: %w", err)
		}
		cfg.Logger.Info("API token of the shared database written", "path", path)
	}
	return tok, nil
}

func readTrimmed(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// Job numbers of the background work that one replica at a time does.
const (
	jobGC = iota
	jobCompress
)

// exclusive runs fn, on a shared database only when no other replica is
// running the same job (and reports false when one is); alone on its data
// directory a host always runs it.
func (h *Host) exclusive(ctx context.Context, job int, fn func(ctx context.Context) error) (bool, error) {
	if h.pg == nil {
		return true, fn(ctx)
	}
	return h.pg.TryJob(ctx, job, fn)
}

// waitLive returns once a production deploy, rollback or promote just
// committed is live on every replica (Config.SwitchDelay), so that the
// client that asked sees it wherever its next request goes.
func (h *Host) waitLive(ctx context.Context) {
	if h.pg == nil {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(h.cfg.SwitchDelay):
	}
}

// watchChanges keeps this replica's caches in step with changes that other
// replicas make, until ctx ends.
func (h *Host) watchChanges(ctx context.Context) {
	h.pg.WatchChanges(ctx, h.cfg.DatabasePoll, func(projectID string) { h.applyChange(ctx, projectID) },
		func(err error) { h.log.Warn("database change feed lost; reconnecting", "err", err) })
}

// applyChange drops what this host caches of a project that changed
// anywhere ("" for every project): its compiled sites, the slug map, and
// the custom-domain table, which is read afresh; or, for a blob that
// gained variants, what the asset cache holds of it.
func (h *Host) applyChange(ctx context.Context, projectID string) {
	if hash, ok := strings.CutPrefix(projectID, store.BlobChangePrefix); ok {
		h.cache.Invalidate(hash) // it may hold "no variant" for the blob
		return
	}
	if projectID == "" {
		h.sites.forgetAll()
	} else {
		h.sites.forget(projectID)
	}
	h.sites.forgetSlugs()
	if err := h.reloadDomains(ctx); err != nil && ctx.Err() == nil {
		h.log.Error("reload custom domains", "err", err)
	}
}

// databaseHealth reports which store the host runs on, and for a shared
// database whether it answers and its schema version.
func (h *Host) databaseHealth(ctx context.Context) (kind string, version int, err error) {
	if h.pg == nil {
		return "sqlite", 0, nil
	}
	v, err := h.pg.Health(ctx)
	return "postgres", v, err
}
