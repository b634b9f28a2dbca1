//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package blobs

import "os"

// Without flock, a sweep relies on the write lock alone: every temp file
// is written under it (see Dir.Sweep).

func lockFile(*os.File) error { return nil }

func tryLock(*os.File) (bool, error) { return true, nil }
