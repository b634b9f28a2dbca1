//go:build unix

package fastpath

import (
	"net"
	"syscall"
)

// writeNow makes one write of b to c that never waits: what the socket
// does not take at once is dropped.
func writeNow(c net.Conn, b []byte) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	rc.Write(func(fd uintptr) bool {
		syscall.Write(int(fd), b)
		return true
	})
}
