//go:build unix

package fastpath

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// headWaiting reports whether a whole request head of at most len(buf)
// bytes has arrived on c, without reading it or waiting for it.
func headWaiting(c net.Conn, buf []byte) bool {
	rc := rawConn(c)
	if rc == nil {
		return false
	}
	n := 0
	rc.Read(func(fd uintptr) bool {
		n, _, _ = unix.Recvfrom(int(fd), buf, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return true // never wait
	})
	return n > 0 && headEnd(buf[:n]) > 0
}

// writeNow makes one write of b to c that never waits, and returns what
// the socket did not take at once.
func writeNow(c net.Conn, b net.Buffers) (unsent net.Buffers, err error) {
	rc := rawConn(c)
	if rc == nil {
		return b, nil
	}
	n := 0
	rc.Write(func(fd uintptr) bool {
		n, err = unix.Writev(int(fd), b)
		return true // never wait
	})
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		n, err = 0, nil
	}
	if err != nil {
		return nil, err
	}
	for len(b) > 0 && n >= len(b[0]) {
		n -= len(b[0])
		b = b[1:]
	}
	if len(b) > 0 {
		b[0] = b[0][n:]
	}
	return b, nil
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
