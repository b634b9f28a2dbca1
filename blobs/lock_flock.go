//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package blobs

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive flock on f, which lasts until f is closed
// or its process dies.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
}

// tryLock takes an exclusive flock on f unless another open file holds
// one: held is false then.
func tryLock(f *os.File) (held bool, err error) {
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}
