//go:build !unix

package fastpath

import "net"

// headWaiting cannot tell without the system calls of unix: start leaves
// every connection to its own goroutine.
func headWaiting(net.Conn, []byte) bool { return false }

// writeNow writes nothing where a write that never waits takes more than
// the syscall package: the refused connection is only closed.
func writeNow(_ net.Conn, b net.Buffers) (net.Buffers, error) { return b, nil }
