package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/cfdeploy/cfdeploy/internal/host"
)

// dataDirSetting reads --data-dir as serve does (flag, CFHOST_DATA_DIR,
// default), for the commands that work on a data dir without serving it.
func dataDirSetting(cmd *cobra.Command, dst *string) error {
	if os.Getenv("CFHOST_DATABASE") != "" {
		return errors.New("CFHOST_DATABASE is set: that host keeps its data in PostgreSQL, which cfhost backup and restore do not cover (they copy DATA_DIR/cfhost.db); use pg_dump and pg_restore")
	}
	v := viper.New()
	v.SetEnvPrefix("CFHOST")
	v.AutomaticEnv()
	return loadSettings(cmd.Flags(), v, []setting{dataDirFlag(dst)})
}

func dataDirFlag(dst *string) setting {
	return stringSetting("data-dir", "./cfhost-data", "the data directory (as cfhost serve --data-dir)", dst)
}

func newBackupCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the database to FILE, also while cfhost serves",
		Long: `Write a consistent copy of DATA_DIR/cfhost.db — every project, deployment, blob,
setting and the upload-token secret — to FILE, which must not exist. cfhost serve may
keep running: the copy is the state of one moment, taken beside the server's writes.

The API token file (DATA_DIR/api-token) is not in the database: keep it too, or pass
the token with --api-token after a restore.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := dataDirSetting(cmd, &dataDir); err != nil {
				return usageError{err}
			}
			if err := host.Backup(cmd.Context(), dataDir, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Backed up %s to %s\n", dataDir, args[0])
			return nil
		},
	}
	dataDirFlag(&dataDir).define(cmd.Flags())
	return cmd
}

func newRestoreCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the database with a backup (cfhost serve must be stopped)",
		Long: `Replace DATA_DIR/cfhost.db with the backup FILE written by cfhost backup. The
backup is checked first; the database it replaces is kept beside it as
cfhost.db.before-restore-<time>. Refused while a cfhost serves from DATA_DIR.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := dataDirSetting(cmd, &dataDir); err != nil {
				return usageError{err}
			}
			kept, err := host.Restore(cmd.Context(), dataDir, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Restored %s from %s\n", dataDir, args[0])
			if kept != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "The database it replaced is kept as %s\n", kept)
			}
			return nil
		},
	}
	dataDirFlag(&dataDir).define(cmd.Flags())
	return cmd
}
