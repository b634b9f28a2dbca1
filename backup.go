package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/nessemble/nessemble-registry/store"
)

func newBackupCmd() *cobra.Command {
	var data string
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent backup of the data folder to FILE (- for standard output)",
		Long: `Write a consistent backup of the data folder to FILE, or to standard output
with -, while serve runs and takes publishes: a snapshot of the database
taken in one read transaction (which blocks no writer) and exactly the
tarballs it names, each checked against its SHA-1, as one tar stream.
FILE is written under a temporary name and renamed when complete, so a
failed backup never leaves a file that looks whole. The snapshot is
staged in $TMPDIR (default /tmp) first. Run it as the user the service
runs as.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			start := time.Now()
			var info store.BackupInfo
			var err error
			if args[0] == "-" {
				if f, ok := cmd.OutOrStdout().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					return fmt.Errorf("backup -: standard output is a terminal; redirect it to a file or a pipe")
				}
				w := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<16)
				if info, err = store.Backup(cmd.Context(), data, w); err == nil {
					err = w.Flush()
				}
			} else {
				info, err = backupToFile(cmd, data, args[0])
			}
			if err != nil {
				return err
			}
			// The summary goes to stderr: stdout may be the backup.
			fmt.Fprintf(cmd.ErrOrStderr(), "backup: %d packages, %d versions, %d users, %d tarballs (%d bytes), database %d bytes, in %v\n",
				info.Packages, info.Versions, info.Users, info.Tarballs, info.TarballBytes, info.DatabaseBytes,
				time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	dataFlag(cmd, &data)
	return cmd
}

// backupToFile writes the backup to a temporary file beside path, syncs
// it, and renames it to path.
func backupToFile(cmd *cobra.Command, data, path string) (store.BackupInfo, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return store.BackupInfo{}, err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	defer tmp.Close()
	w := bufio.NewWriterSize(tmp, 1<<16)
	info, err := store.Backup(cmd.Context(), data, w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return store.BackupInfo{}, err
	}
	return info, nil
}

func newRestoreCmd() *cobra.Command {
	var data string
	cmd := &cobra.Command{
		Use:   "restore FILE --data DIR",
		Short: "Restore a backup (- for standard input) into an empty data folder, and verify it",
		Long: `Restore a backup written by backup (FILE, or standard input with -) into
the data folder DIR, which must be empty or not exist: restore never
writes over a registry. It checks the manifest, every tarball's SHA-1
and the database's SHA-256 as it unpacks, then runs check on the
result; on any failure it removes what it wrote.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("data") && os.Getenv("NESSEMBLE_REGISTRY_DATA") == "" {
				return fmt.Errorf("restore needs --data DIR: the folder to restore into")
			}
			var r io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			start := time.Now()
			info, err := store.Restore(cmd.Context(), bufio.NewReaderSize(r, 1<<16), data)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %d packages, %d versions, %d users, %d tarballs into %s (backup of %s), in %v; check: ok\n",
				info.Packages, info.Versions, info.Users, info.Tarballs, data, info.Created.Format(time.RFC3339),
				time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	dataFlag(cmd, &data)
	return cmd
}
