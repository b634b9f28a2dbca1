//go:build !linux

package fastpath

import (
	"io"
	"net"
)

// listenerOf returns how the accept loop takes ln's connections: as the
// net.Conns ln accepts, away from Linux (see socket_linux.go).
func listenerOf(ln net.Listener) (listener, io.Closer, error) { return connListener{ln}, nil, nil }
