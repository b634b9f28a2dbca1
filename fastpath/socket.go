package fastpath

import (
	"io"
	"net"
)

// A socket is a connection the accept loop has just accepted, before it
// becomes a conn with a goroutine of its own. The accept loop reads the
// first request from it, and writes the answer, without ever waiting (see
// first). On Linux a TCP listener's sockets are bare file descriptors
// (socket_linux.go); elsewhere they are the listener's net.Conns
// (connSocket).
type socket interface {
	// readNow reads what has arrived; 0 and no error when nothing has,
	// io.EOF when the client has closed.
	readNow(p []byte) (int, error)
	// writeNow writes what the socket takes at once, and returns the rest.
	writeNow(b net.Buffers) (unsent net.Buffers, err error)
	close()
	// conn is the socket as a net.Conn, for a goroutine that may wait.
	// The socket is not to be used after it.
	conn() (net.Conn, error)
}

// listener yields the accept loop's sockets, with the client's host (as
// remoteHost gives it).
type listener interface {
	accept() (s socket, remote string, err error)
}

// connListener is a net.Listener as a listener.
type connListener struct{ ln net.Listener }

func (l connListener) accept() (socket, string, error) {
	c, err := l.ln.Accept()
	if err != nil {
		return nil, "", err
	}
	return connSocket{c}, remoteHost(c.RemoteAddr().String()), nil
}

// connSocket is a net.Conn as a socket (nowait_*.go reads and writes it).
type connSocket struct{ net.Conn }

func (s connSocket) close()                  { s.Conn.Close() }
func (s connSocket) conn() (net.Conn, error) { return s.Conn, nil }

// carried is the reader under a conn's buffer when the accept loop has
// read the connection's first bytes already: those, then the connection.
type carried struct {
	first []byte
	r     io.Reader
}

func (c *carried) Read(p []byte) (int, error) {
	if len(c.first) > 0 {
		n := copy(p, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	return c.r.Read(p)
}

// unsentAfter returns what is left of b once n bytes of it have gone out.
func unsentAfter(b net.Buffers, n int) net.Buffers {
	for len(b) > 0 && n >= len(b[0]) {
		n -= len(b[0])
		b = b[1:]
	}
	if len(b) > 0 {
		b[0] = b[0][n:]
	}
	return b
}
