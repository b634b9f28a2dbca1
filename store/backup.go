package store

import (
	"archive/tar"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A backup is one tar stream (uncompressed: the tarballs are gzip
// already; pipe it through gzip for the database's sake):
//
//	nessemble-registry-backup.json   the manifest (BackupInfo)
//	registry.db                      a consistent snapshot (VACUUM INTO)
//	tarballs/xx/SHA1.tar.gz          every tarball the snapshot names
//
// The snapshot is taken in one read transaction, which in WAL mode blocks
// no writer; the tarballs it names are immutable files that nothing
// removes while a version names them, so they are copied afterwards with
// no lock held.

const (
	backupFormat   = 1
	manifestName   = "nessemble-registry-backup.json"
	maxTarballSize = 16 << 20 // far above the client's 64 KiB
	maxManifest    = 1 << 20
)

// BackupInfo is a backup's manifest: what it holds, to check a restore
// against.
type BackupInfo struct {
	Format   int       `json:"format"`
	Created  time.Time `json:"created"`
	Schema   int       `json:"schema"`
	Packages int64     `json:"packages"`
	Versions int64     `json:"versions"`
	Users    int64     `json:"users"`
	// Database is the snapshot's size and SHA-256.
	DatabaseBytes  int64  `json:"database_bytes"`
	DatabaseSHA256 string `json:"database_sha256"`
	Tarballs       int    `json:"tarballs"`
	TarballBytes   int64  `json:"tarball_bytes"`
}

// Backup writes a consistent backup of the data folder dir to w while
// other processes keep reading and writing it. The snapshot is written
// to a temporary folder (os.TempDir) first. Every tarball is checked
// against its SHA-1 on the way: a backup never carries a damaged one.
func Backup(ctx context.Context, dir string, w io.Writer) (BackupInfo, error) {
	path := filepath.Join(dir, dbFile)
	if _, err := os.Stat(path); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w (is %s a data folder?)", err, dir)
	}
	tmp, err := os.MkdirTemp("", "nessemble-registry-backup-")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp)
	snap := filepath.Join(tmp, dbFile)
	f := files{dir: dir}
	// A removal (store.Remove) deletes tarballs after its commit: one that
	// lands between the snapshot and the copy takes files the snapshot
	// still names. Such a snapshot is taken again; nothing is written to w
	// until one names only files that are there.
	var info BackupInfo
	var sums []string
	for attempt := 1; ; attempt++ {
		if err := os.Remove(snap); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return BackupInfo{}, fmt.Errorf("backup: %w", err)
		}
		info, sums, err = snapshot(ctx, path, snap)
		if err != nil {
			return BackupInfo{}, err
		}
		err = info.sizeTarballs(f, sums)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt == 3 {
			return BackupInfo{}, fmt.Errorf("backup: tarball of a stored version: %w (run check)", err)
		}
	}
	tw := tar.NewWriter(w)
	hdr := func(name string, size int64) *tar.Header {
		return &tar.Header{Name: name, Mode: 0o640, Size: size, ModTime: info.Created, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
	}
	man, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return BackupInfo{}, err
	}
	if err := tw.WriteHeader(hdr(manifestName, int64(len(man)))); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: write: %w", err)
	}
	if _, err := tw.Write(man); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: write: %w", err)
	}
	if err := copyFileTo(tw, hdr(dbFile, info.DatabaseBytes), snap); err != nil {
		return BackupInfo{}, err
	}
	for _, sum := range sums {
		if err := ctx.Err(); err != nil {
			return BackupInfo{}, err
		}
		b, err := f.read(sum) // checks the SHA-1
		if err != nil {
			return BackupInfo{}, fmt.Errorf("backup: %w (run check)", err)
		}
		p, _ := f.path(sum)
		rel, _ := filepath.Rel(dir, p)
		if err := tw.WriteHeader(hdr(filepath.ToSlash(rel), int64(len(b)))); err != nil {
			return BackupInfo{}, fmt.Errorf("backup: write: %w", err)
		}
		if _, err := tw.Write(b); err != nil {
			return BackupInfo{}, fmt.Errorf("backup: write: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: write: %w", err)
	}
	return info, nil
}

// sizeTarballs adds up the sizes of the tarballs sums names: the manifest,
// written first, says how many bytes a restore should expect.
func (info *BackupInfo) sizeTarballs(f files, sums []string) error {
	info.TarballBytes = 0
	for _, sum := range sums {
		p, _ := f.path(sum)
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		info.TarballBytes += st.Size()
	}
	return nil
}

// snapshot copies the database at path to snap in one read transaction
// and returns its manifest and the tarballs it names, read from the copy.
func snapshot(ctx context.Context, path, snap string) (BackupInfo, []string, error) {
	// Not Open: a backup must not migrate the folder it copies, nor
	// refuse a newer one. busy_timeout rides out a writer's checkpoint.
	src, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return BackupInfo{}, nil, fmt.Errorf("backup: %w", err)
	}
	defer src.Close()
	created := time.Now().UTC().Truncate(time.Second)
	if _, err := src.ExecContext(ctx, "VACUUM INTO ?", snap); err != nil {
		return BackupInfo{}, nil, fmt.Errorf("backup: snapshot of the database: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(snap))
	if err != nil {
		return BackupInfo{}, nil, fmt.Errorf("backup: %w", err)
	}
	defer db.Close()
	info := BackupInfo{Format: backupFormat, Created: created}
	err = db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM packages), (SELECT count(*) FROM versions),
		(SELECT count(*) FROM users)`).Scan(&info.Packages, &info.Versions, &info.Users)
	if err == nil {
		err = db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&info.Schema)
	}
	if err != nil {
		return BackupInfo{}, nil, fmt.Errorf("backup: read the snapshot: %w", err)
	}
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT shasum FROM versions WHERE removed_at IS NULL ORDER BY shasum`)
	if err != nil {
		return BackupInfo{}, nil, fmt.Errorf("backup: read the snapshot: %w", err)
	}
	defer rows.Close()
	var sums []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return BackupInfo{}, nil, err
		}
		if !isHexSHA1(s) {
			return BackupInfo{}, nil, fmt.Errorf("backup: a version names the tarball %q (run check)", s)
		}
		sums = append(sums, s)
	}
	if err := rows.Err(); err != nil {
		return BackupInfo{}, nil, err
	}
	info.Tarballs = len(sums)
	sz, sum, err := fileSHA256(snap)
	if err != nil {
		return BackupInfo{}, nil, fmt.Errorf("backup: %w", err)
	}
	info.DatabaseBytes, info.DatabaseSHA256 = sz, sum
	return info, sums, nil
}

func copyFileTo(tw *tar.Writer, h *tar.Header, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("backup: write: %w", err)
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("backup: write: %w", err)
	}
	return nil
}

func fileSHA256(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

// Restore unpacks a backup from r into dir, which must be empty or not
// exist yet, and verifies it: the manifest's counts and checksums, every
// tarball's SHA-1, and a clean Check of the restored folder. On any
// failure it removes what it wrote, so dir is left as it was found.
func Restore(ctx context.Context, r io.Reader, dir string) (info BackupInfo, err error) {
	created, err := emptyDir(dir)
	if err != nil {
		return BackupInfo{}, err
	}
	defer func() {
		if err == nil {
			return
		}
		if created {
			os.RemoveAll(dir)
			return
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}()
	info, err = unpack(ctx, r, dir)
	if err != nil {
		return BackupInfo{}, err
	}
	if err := verifyRestored(ctx, dir, info); err != nil {
		return BackupInfo{}, err
	}
	return info, nil
}

// emptyDir makes sure dir is an empty folder, creating it if need be.
func emptyDir(dir string) (created bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return false, fmt.Errorf("restore: %w", err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("restore: %w", err)
	case len(entries) > 0:
		return false, fmt.Errorf("restore: %s is not empty: restore into a new or empty folder, never over a registry", dir)
	}
	return false, nil
}

// unpack writes the members of a backup into dir, checking each as it
// comes.
func unpack(ctx context.Context, r io.Reader, dir string) (BackupInfo, error) {
	tr := tar.NewReader(r)
	next := func() (*tar.Header, error) {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("restore: not a complete backup: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("restore: %s: not a regular file; this is not a registry backup", h.Name)
		}
		return h, nil
	}
	h, err := next()
	if err != nil || h.Name != manifestName || h.Size > maxManifest {
		return BackupInfo{}, fmt.Errorf("restore: not a registry backup: it must begin with %s", manifestName)
	}
	var info BackupInfo
	if err := json.NewDecoder(tr).Decode(&info); err != nil {
		return BackupInfo{}, fmt.Errorf("restore: %s: %w", manifestName, err)
	}
	if info.Format != backupFormat {
		return BackupInfo{}, fmt.Errorf("restore: backup format %d; this binary reads format %d", info.Format, backupFormat)
	}
	h, err = next()
	if err != nil || h.Name != dbFile {
		return BackupInfo{}, fmt.Errorf("restore: not a complete backup: %s must follow the manifest", dbFile)
	}
	if err := writeMember(filepath.Join(dir, dbFile), tr, h.Size, func(b []byte) error { return nil }); err != nil {
		return BackupInfo{}, err
	}
	if sz, sum, err := fileSHA256(filepath.Join(dir, dbFile)); err != nil {
		return BackupInfo{}, fmt.Errorf("restore: %w", err)
	} else if sz != info.DatabaseBytes || sum != info.DatabaseSHA256 {
		return BackupInfo{}, fmt.Errorf("restore: %s does not match the manifest (damaged backup)", dbFile)
	}
	f := files{dir: dir}
	for _, d := range []string{tarballDir, tmpDir} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o750); err != nil {
			return BackupInfo{}, fmt.Errorf("restore: %w", err)
		}
	}
	n := 0
	shards := map[string]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return BackupInfo{}, err
		}
		h, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return BackupInfo{}, err
		}
		// Only names the registry gives its tarballs: no path of the
		// archive's choosing is ever opened.
		rest, ok := strings.CutPrefix(h.Name, tarballDir+"/")
		sum, ok2 := strings.CutSuffix(rest, ".tar.gz")
		if len(sum) > 3 && sum[2] == '/' {
			sum = sum[3:]
		}
		want, perr := f.path(sum)
		if !ok || !ok2 || perr != nil || filepath.ToSlash(want) != filepath.ToSlash(filepath.Join(dir, h.Name)) {
			return BackupInfo{}, fmt.Errorf("restore: unexpected member %q; this is not a registry backup", h.Name)
		}
		if h.Size > maxTarballSize {
			return BackupInfo{}, fmt.Errorf("restore: %s: %d bytes, more than any tarball the registry writes", h.Name, h.Size)
		}
		if err := os.MkdirAll(filepath.Dir(want), 0o750); err != nil {
			return BackupInfo{}, fmt.Errorf("restore: %w", err)
		}
		shards[filepath.Dir(want)] = true
		err = writeMember(want, tr, h.Size, func(b []byte) error {
			if s := sha1.Sum(b); hex.EncodeToString(s[:]) != sum {
				return fmt.Errorf("restore: %s does not match its SHA-1 (damaged backup)", h.Name)
			}
			return nil
		})
		if err != nil {
			return BackupInfo{}, err
		}
		n++
	}
	// The files' entries must outlive a power cut too.
	shards[filepath.Join(dir, tarballDir)] = true
	for d := range shards {
		if err := syncDir(d); err != nil {
			return BackupInfo{}, fmt.Errorf("restore: %w", err)
		}
	}
	if n != info.Tarballs {
		return BackupInfo{}, fmt.Errorf("restore: %d tarballs, the manifest says %d (damaged or cut short backup)", n, info.Tarballs)
	}
	return info, nil
}

// writeMember writes size bytes of r to a new file at path, after check
// accepts them, and syncs it. The whole member is read into memory: a
// snapshot of the database can be large, so it is streamed instead when
// check has nothing to look at (the manifest's SHA-256 covers it).
func writeMember(path string, r io.Reader, size int64, check func([]byte) error) error {
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer out.Close()
	if size <= maxTarballSize {
		b := make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("restore: not a complete backup: %w", err)
		}
		if err := check(b); err != nil {
			return err
		}
		if _, err := out.Write(b); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	} else if n, err := io.Copy(out, r); err != nil || n != size {
		return fmt.Errorf("restore: not a complete backup: %v", err)
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return out.Close()
}

// verifyRestored opens the restored folder (migrating a backup of an
// older schema, refusing a newer one) and requires a clean check and the
// manifest's counts.
func verifyRestored(ctx context.Context, dir string, info BackupInfo) error {
	db, err := Open(ctx, dir)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer db.Close()
	probs, err := db.Check(ctx, false)
	if err != nil {
		return fmt.Errorf("restore: check: %w", err)
	}
	if len(probs) > 0 {
		return fmt.Errorf("restore: check of the restored folder: %s: %s", probs[0].Path, probs[0].What)
	}
	st, err := db.Stats(ctx)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if st.Packages != info.Packages || st.Versions != info.Versions || st.Users != info.Users {
		return fmt.Errorf("restore: restored %d packages, %d versions, %d users; the manifest says %d, %d, %d",
			st.Packages, st.Versions, st.Users, info.Packages, info.Versions, info.Users)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return db.Close()
}
