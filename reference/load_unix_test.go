//go:build unix

package reference_test

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/nessemble/nessemble-registry/reference"
)

func TestLoadDirRefusesFifo(t *testing.T) {
	dir := writeTree(t, map[string]string{"a/ok.txt": "ok"})
	if err := syscall.Mkfifo(filepath.Join(dir, "a", "PIPE.txt"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := reference.LoadDir(dir)
	wantRefused(t, err, "a/PIPE.txt")
}
