package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/nessemble/nessemble-registry/registry"
)

// uploadPrefix begins the name of every temporary file put writes.
const uploadPrefix = "upload-"

// files keeps tarballs on disk, named by their SHA-1 so that no path is
// ever built from user input and a file, once written, never changes.
type files struct {
	dir    string // the data folder
	noSync bool   // see Options.NoSync
}

func (f files) path(shasum string) (string, error) {
	if !isHexSHA1(shasum) {
		return "", fmt.Errorf("bad shasum %q", shasum)
	}
	return filepath.Join(f.dir, tarballDir, shasum[:2], shasum+".tar.gz"), nil
}

// put writes data under its shasum durably: temp file, fsync, rename,
// fsync of the folder (and of tarballs/ when the shard folder is new).
// created is false when a file of that name was already there: then a
// failed publish must not remove it, since a stored version may name it.
// One of the wrong size is rewritten; one of the right size is kept
// (check compares every tarball with its SHA-1).
func (f files) put(shasum string, data []byte) (created bool, err error) {
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
	// files it can lock (see DB.sweep).
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

func (f files) remove(shasum string) {
	if p, err := f.path(shasum); err == nil {
		os.Remove(p)
	}
}

func (f files) read(shasum string) ([]byte, error) {
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
	if got := sha1Hex(b); got != shasum {
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

func isHexSHA1(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
