package store_test

import (
	"testing"

	"github.com/nessemble/nessemble-registry/internal/storagetest"
)

// TestCompliance runs the storage suite on SQLite and files; every
// handle of one test opens the same data folder, as another process
// would.
func TestCompliance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) func(t *testing.T) storagetest.Storage {
		dir := t.TempDir()
		return func(t *testing.T) storagetest.Storage { return open(t, dir) }
	})
}
