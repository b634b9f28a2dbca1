package blobs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/nessemble/nessemble-registry/registry"
)

// Folders inside the data folder.
const (
	tarballDir = "tarballs"
	tmpDir     = "tmp"
)

// uploadPrefix begins the name of every temporary file Put writes.
const uploadPrefix = "upload-"

// Dir keeps tarballs in the data folder, under tarballs/, named by their
// SHA-1, written through tmp/.
type Dir struct {
	dir    string // the data folder
	noSync bool   // see Options.NoSync
}

var _ Store = Dir{}

// OpenDir opens (creating if needed) the tarball folders of the data
// folder dir.
func OpenDir(dir string, noSync bool) (Dir, error) {
	for _, d := range []string{dir, filepath.Join(dir, tarballDir), filepath.Join(dir, tmpDir)} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return Dir{}, fmt.Errorf("create data folder: %w", err)
		}
	}
	if !noSync {
		// The entries of tarballs/ and tmp/ must outlive a power cut too.
		if err := syncDir(dir); err != nil {
			return Dir{}, fmt.Errorf("create data folder: %w", err)
		}
	}
	return Dir{dir: dir, noSync: noSync}, nil
}

func (f Dir) String() string { return filepath.Join(f.dir, tarballDir) }

func (f Dir) path(shasum string) (string, error) {
	if !IsSHA1(shasum) {
		return "", fmt.Errorf("bad shasum %q", shasum)
	}
	return filepath.Join(f.dir, tarballDir, shasum[:2], shasum+".tar.gz"), nil
}

// Put writes data under its shasum durably: temp file, fsync, rename,
// fsync of the folder (and of tarballs/ when the shard folder is new).
// One of the wrong size is rewritten; one of the right size is kept
// (check compares every tarball with its SHA-1).
func (f Dir) Put(_ context.Context, shasum string, data []byte) (created bool, err error) {
	final, err := f.path(shasum)
	if err != nil {
		return false, err
	}
	existed := false
	if st, err := os.Stat(final); err == nil {
		if st.Size() == int64(len(data)) {
			return false, nil
		}
		existed = true
	}
	dir := filepath.Dir(final)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
			return false, putError(err)
		}
		if !f.noSync {
			if err := syncDir(filepath.Dir(dir)); err != nil {
				return false, putError(err)
			}
		}
	}
	tmp, err := os.CreateTemp(filepath.Join(f.dir, tmpDir), uploadPrefix+"*")
	if err != nil {
		return false, putError(err)
	}
	// The temp file stays locked for as long as it has its temp name, so
	// it is closed only after the rename: a sweep removes only the temp
	// files it can lock (see Dir.Sweep).
	renamed := false
	defer func() {
		if !renamed {
			os.Remove(tmp.Name())
		}
		tmp.Close()
	}()
	err = lockFile(tmp)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil && !f.noSync {
		err = tmp.Sync()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), final)
		renamed = err == nil
	}
	if err == nil && !f.noSync {
		err = syncDir(dir)
	}
	if err == nil {
		err = tmp.Close()
	}
	if err != nil {
		// Once renamed, the file is this publish's to remove, unless it
		// replaced one of the wrong size that a stored version may name.
		return renamed && !existed, putError(err)
	}
	return !existed, nil
}

// putError wraps a failed write of put, marking a full disk as registry.ErrNoSpace.
func putError(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG) {
		return fmt.Errorf("store tarball: %w: %w", registry.ErrNoSpace, err)
	}
	return fmt.Errorf("store tarball: %w", err)
}

// Remove deletes the tarball sum.
func (f Dir) Remove(_ context.Context, shasum string) error {
	p, err := f.path(shasum)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Get reads the tarball sum and checks it against its name.
func (f Dir) Get(_ context.Context, shasum string) ([]byte, error) {
	p, err := f.path(shasum)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: tarball %s is missing", registry.ErrDamaged, p)
	}
	if err != nil {
		return nil, err
	}
	// The file is named by its SHA-1, so checking costs one hash: a
	// truncated or altered file is never served as the version.
	if got := SHA1(b); got != shasum {
		return nil, fmt.Errorf("%w: tarball %s has SHA-1 %s", registry.ErrDamaged, p, got)
	}
	return b, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Verify checks that the tarball sum is there and matches its name.
func (f Dir) Verify(_ context.Context, sum string) (where, what string, err error) {
	p, err := f.path(sum)
	if err != nil {
		return sum, "invalid shasum " + sum, nil
	}
	data, err := os.ReadFile(p)
	switch {
	case err != nil:
		return p, "tarball missing or unreadable", nil
	case SHA1(data) != sum:
		return p, "tarball does not match its SHA-1", nil
	}
	return p, "", nil
}

// Sweep lists the files beside the stored tarballs, and removes each one
// that remove says to.
//
// A file is only a leftover if no live process is still writing it, and
// two guards make sure of that. The caller sweeps under the lock that
// every publish holds from creating its temporary file to committing its
// row, in whichever process: so no publish is under way meanwhile, and
// every tarball of a committed row is in known. And a temporary file is
// locked (flock) by its writer, as long as it exists under that name
// (see Put): one that cannot be locked belongs to a live process and is
// skipped, even one that does not take the publish lock. Both locks die
// with their process, so a crash never leaves one held.
func (f Dir) Sweep(_ context.Context, known map[string]bool, remove func(Problem) bool) ([]Problem, error) {
	var probs []Problem
	err := filepath.WalkDir(filepath.Join(f.dir, tarballDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		sum, _ := strings.CutSuffix(d.Name(), ".tar.gz")
		if known[sum] {
			return nil
		}
		// Only a name Put would have given is a leftover.
		pr := Problem{Path: p, What: "file the registry did not write"}
		if want, err := f.path(sum); err == nil && want == p && d.Type().IsRegular() {
			pr = Problem{Path: p, What: "tarball of an interrupted publish, no version refers to it", Leftover: true}
		}
		probs = append(probs, removeIf(pr, remove))
		return nil
	})
	if err != nil {
		return probs, err
	}
	tmps, err := os.ReadDir(filepath.Join(f.dir, tmpDir))
	if err != nil {
		return probs, err
	}
	for _, t := range tmps {
		p := filepath.Join(f.dir, tmpDir, t.Name())
		if !strings.HasPrefix(t.Name(), uploadPrefix) || !t.Type().IsRegular() {
			probs = append(probs, removeIf(Problem{Path: p, What: "file the registry did not write"}, remove))
			continue
		}
		pr, ok, err := sweepTemp(p, remove)
		if err != nil {
			return probs, err
		}
		if ok {
			probs = append(probs, pr)
		}
	}
	return probs, nil
}

// sweepTemp looks at one temporary upload: ok is false when a live
// process holds it (or it is gone already). It is removed, if at all,
// while locked, so that its writer cannot be midway.
func sweepTemp(path string, remove func(Problem) bool) (p Problem, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Problem{}, false, nil
	}
	if err != nil {
		return Problem{}, false, err
	}
	defer f.Close()
	if held, err := tryLock(f); err != nil || !held {
		return Problem{}, false, err
	}
	return removeIf(Problem{Path: path, What: "temporary upload of an interrupted publish", Leftover: true}, remove), true, nil
}

func removeIf(p Problem, remove func(Problem) bool) Problem {
	if remove(p) && os.RemoveAll(p.Path) == nil {
		p.Repair = true
	}
	return p
}

// The layout of a data folder's tarballs, for the backup and restore of
// a data folder (store.Backup, store.Restore), which copy it file by file.
const (
	TarballDir = tarballDir // the tarballs, in shards by the SHA-1's first two digits
	TmpDir     = tmpDir     // temporary uploads
)

// At is the Dir of the data folder dir, which must exist (see OpenDir):
// it creates nothing.
func At(dir string) Dir { return Dir{dir: dir} }

// Path is the file that holds the tarball sum.
func (f Dir) Path(sum string) (string, error) { return f.path(sum) }

// SyncDir makes a folder's entries durable (fsync of the folder).
func SyncDir(dir string) error { return syncDir(dir) }

// Ready writes, syncs and removes a file in the data folder: a full disk
// or a read-only mount fails here before a publish does. The file is
// named and locked like a publish's temporary file, so that a sweep by
// check or by another server leaves it alone.
func (f Dir) Ready(context.Context) (problem string, err error) {
	const bad = "the data folder is not writable"
	t, err := os.CreateTemp(filepath.Join(f.dir, tmpDir), uploadPrefix+"ready-*")
	if err != nil {
		return bad, err
	}
	defer os.Remove(t.Name())
	defer t.Close()
	if err := lockFile(t); err != nil {
		return bad, err
	}
	if _, err := t.Write([]byte{'\n'}); err != nil {
		return bad, err
	}
	if err := t.Sync(); err != nil {
		return bad, err
	}
	return "", nil
}
