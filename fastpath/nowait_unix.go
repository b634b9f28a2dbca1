//go:build unix

package fastpath

import (
	"errors"
	"io"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// readNow and writeNow reach under the net.Conn for read and writev
// calls that return at once instead of parking the goroutine.

func (s connSocket) readNow(p []byte) (int, error) {
	rc := rawConn(s.Conn)
	if rc == nil {
		return 0, nil
	}
	n := 0
	var err error
	rc.Read(func(fd uintptr) bool {
		n, err = unix.Read(int(fd), p)
		return true // never wait
	})
	return readResult(n, err)
}

func (s connSocket) writeNow(b net.Buffers) (net.Buffers, error) {
	rc := rawConn(s.Conn)
	if rc == nil {
		return b, nil
	}
	n := 0
	var err error
	rc.Write(func(fd uintptr) bool {
		n, err = unix.Writev(int(fd), b)
		return true // never wait
	})
	return writeResult(b, n, err)
}

// readResult is readNow's answer for what a read call returned.
func readResult(n int, err error) (int, error) {
	switch {
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		return 0, nil
	case err != nil:
		return 0, err
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// writeResult is writeNow's answer for what a writev call of b returned.
func writeResult(b net.Buffers, n int, err error) (net.Buffers, error) {
	switch {
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		return b, nil
	case err != nil:
		return nil, err
	}
	return unsentAfter(b, n), nil
}

func rawConn(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
