package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
)

// Backup writes a consistent copy of the data dir's database to dest. A
// cfhost may be serving from dataDir meanwhile: the copy is taken in one
// read transaction beside it. The API token file and caches are not part of
// it (the token is a file an operator keeps; caches are rebuilt).
func Backup(ctx context.Context, dataDir, dest string) error {
	return store.BackupSQLite(ctx, filepath.Join(dataDir, "cfhost.db"), dest)
}

// Restore replaces the data dir's database with the backup at src. It
// takes the data dir's lock, so it refuses while a cfhost serves from it,
// and keeps the database it replaces beside it; kept names that file.
// Compiled-code caches are left: they are keyed by content and stay valid.
func Restore(ctx context.Context, dataDir, src string) (kept string, err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return "", err
	}
	defer unlock()
	return store.RestoreSQLite(ctx, src, filepath.Join(dataDir, "cfhost.db"))
}
