package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/nessemble/nessemble-registry/reference"
	"github.com/nessemble/nessemble-registry/registry"
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
runs as.

With --database postgres://... or --blobs s3://..., the registry is first
copied (as migrate-data copies it, with the audit trail) into a data
folder in $TMPDIR, verified, and that folder is backed up: the same
format, which restore puts into a data folder or onto PostgreSQL and S3.
It holds every user and version there was when the backup began, each
version whole, but it is not one instant's snapshot (what changes while
it copies may or may not be in it), and it leaves out login tokens,
pending password resets and the versions removed before it began.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := backendOf(cmd)
			if err != nil {
				return err
			}
			if args[0] == "-" {
				if f, ok := cmd.OutOrStdout().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					return fmt.Errorf("backup -: standard output is a terminal; redirect it to a file or a pipe")
				}
			}
			start := time.Now()
			folder := data
			if !b.isFolder() {
				// Copied into a data folder of its own, backed up as one.
				tmp, err := os.MkdirTemp("", "nessemble-registry-backup-copy-")
				if err != nil {
					return fmt.Errorf("backup: %w", err)
				}
				defer os.RemoveAll(tmp)
				if err := copyToFolder(cmd.Context(), b, data, tmp, cmd.ErrOrStderr()); err != nil {
					return fmt.Errorf("backup: %w", err)
				}
				folder = tmp
			}
			var info store.BackupInfo
			if args[0] == "-" {
				w := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<16)
				if info, err = store.Backup(cmd.Context(), folder, w); err == nil {
					err = w.Flush()
				}
			} else {
				info, err = backupToFile(cmd, folder, args[0])
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
result; on any failure it removes what it wrote.

With --database postgres://... or --blobs s3://..., the backup is
restored (and verified) into a data folder in $TMPDIR first, then copied
as migrate-data copies, with the audit trail, onto that database and
bucket, which must hold no user, package, change or audit event; then
check runs on them. A failure after the copy began leaves part of the
backup there, and the error says what to empty before trying again.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := backendOf(cmd)
			if err != nil {
				return err
			}
			if (b.isFolder() || b.blobs == "") && !cmd.Flags().Changed("data") && os.Getenv("NESSEMBLE_REGISTRY_DATA") == "" {
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
			into := data
			var info store.BackupInfo
			if b.isFolder() {
				info, err = store.Restore(cmd.Context(), bufio.NewReaderSize(r, 1<<16), data)
			} else {
				into = b.describe(data)
				info, err = restoreOnto(cmd.Context(), bufio.NewReaderSize(r, 1<<16), b, data, cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %d packages, %d versions, %d users, %d tarballs into %s (backup of %s), in %v; check: ok\n",
				info.Packages, info.Versions, info.Users, info.Tarballs, into, info.Created.Format(time.RFC3339),
				time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	dataFlag(cmd, &data)
	return cmd
}

// isFolder tells whether the backend is the data folder alone (SQLite
// and files), which store.Backup and store.Restore copy file by file.
func (b backend) isFolder() bool {
	return (b.database == "" || b.database == "sqlite") && b.blobs == ""
}

// describe names the backend for messages, without a password.
func (b backend) describe(dir string) string {
	db := "SQLite in " + dir
	if b.isPostgres() {
		db = redactURL(b.database)
	}
	bs := "the files in " + dir
	if b.blobs != "" {
		bs = redactURL(b.blobs)
	}
	return db + " and " + bs
}

func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}

// copyToFolder copies the registry on backend b (data is its data folder)
// into the new SQLite data folder dir, with its audit trail, while it may
// take publishes; progress goes to out.
func copyToFolder(ctx context.Context, b backend, data, dir string, out io.Writer) error {
	src, err := b.open(ctx, data)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := store.Open(ctx, dir)
	if err != nil {
		return err
	}
	defer dst.Close()
	if err := copyData(ctx, src, dst, out, true); err != nil {
		return err
	}
	n, err := copyAudit(ctx, src, dst)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "audit trail: %d events copied\n", n)
	return dst.Close()
}

// restoreOnto restores the backup r into a temporary data folder (which
// store.Restore verifies), then copies it onto backend b, which must be
// empty, and checks the result.
func restoreOnto(ctx context.Context, r io.Reader, b backend, data string, out io.Writer) (store.BackupInfo, error) {
	dst, err := b.open(ctx, data)
	if err != nil {
		return store.BackupInfo{}, err
	}
	defer dst.Close()
	if what, err := holds(ctx, dst); err != nil {
		return store.BackupInfo{}, err
	} else if what != "" {
		return store.BackupInfo{}, fmt.Errorf("restore: %s holds %s; restore goes into an empty registry only, and writes over nothing", b.describe(data), what)
	}
	tmp, err := os.MkdirTemp("", "nessemble-registry-restore-")
	if err != nil {
		return store.BackupInfo{}, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(tmp)
	folder := filepath.Join(tmp, "data")
	info, err := store.Restore(ctx, r, folder)
	if err != nil {
		return store.BackupInfo{}, err // nothing was written to the target
	}
	src, err := store.Open(ctx, folder)
	if err != nil {
		return store.BackupInfo{}, fmt.Errorf("restore: %w", err)
	}
	defer src.Close()
	// From here on the target changes: a failure says what to empty.
	partial := func(err error) error {
		bs := "the tarballs folder of " + data
		if b.blobs != "" {
			bs = "every object of " + redactURL(b.blobs)
		}
		db := "the database " + redactURL(b.database) + " (drop it and create it again)"
		if !b.isPostgres() {
			db = "the SQLite file registry.db (with -wal and -shm) in " + data
		}
		return fmt.Errorf("restore: %w; the target now holds part of the backup: remove %s and %s, then restore again", err, db, bs)
	}
	if err := migrateData(ctx, src, dst, out); err != nil {
		return store.BackupInfo{}, partial(err)
	}
	n, err := copyAudit(ctx, src, dst)
	if err != nil {
		return store.BackupInfo{}, partial(err)
	}
	fmt.Fprintf(out, "audit trail: %d events copied\n", n)
	problems, err := dst.Check(ctx, false)
	if err != nil {
		return store.BackupInfo{}, partial(fmt.Errorf("check: %w", err))
	}
	if len(problems) > 0 {
		return store.BackupInfo{}, partial(fmt.Errorf("check: %d problems, the first: %v", len(problems), problems[0]))
	}
	return info, nil
}

// holds says what of a registry db holds ("" when it is empty): any user,
// package, change, audit event, or a reference other than the embedded
// one.
func holds(ctx context.Context, db dataStore) (string, error) {
	pkgs, users, err := db.Counts(ctx)
	if err != nil {
		return "", err
	}
	if pkgs > 0 || users > 0 {
		return fmt.Sprintf("%d packages and %d users", pkgs, users), nil
	}
	// Packages removed whole leave their changes; the reference's are
	// looked at below.
	for after := int64(0); ; {
		cs, err := db.ChangesSince(ctx, after, 100)
		if err != nil {
			return "", err
		}
		if len(cs) == 0 {
			break
		}
		for _, c := range cs {
			if c.Kind != registry.ChangeReference {
				return "a change log", nil
			}
		}
		after = cs[len(cs)-1].Serial
	}
	es, err := db.Audit(ctx, registry.AuditQuery{Limit: 1})
	if err != nil {
		return "", err
	}
	if len(es) > 0 {
		return "an audit trail", nil
	}
	// serve stores the embedded reference in a registry that has none:
	// that one is no data of the operator's, and the restore replaces it.
	ref, err := db.Reference(ctx)
	if err != nil {
		return "", err
	}
	if len(ref) > 0 {
		embedded, err := reference.Load(reference.Default())
		if err != nil {
			return "", fmt.Errorf("embedded reference: %w", err)
		}
		if !slices.Equal(ref, embedded) {
			return "a reference of its own", nil
		}
	}
	return "", nil
}
