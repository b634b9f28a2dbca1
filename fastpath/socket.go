package fastpath

import (
	"io"
	"net"
	"time"
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
	// The socket is not to be used after it, even if it fails: it is
	// closed then.
	conn() (net.Conn, error)
}

// listener yields the sockets the accept loop serves.
type listener interface {
	// next returns a socket just accepted, with its client's host (as
	// remoteHost gives it); or one that hold kept (held set) that has
	// something to read now, or whose time (by) is up.
	next() (fresh, error)
	// hold keeps a, which has nothing to read yet, for next; false if the
	// listener cannot.
	hold(a fresh) bool
	// release ends the listener, at the end of the accept loop, and
	// returns the sockets it held.
	release() []fresh
}

// fresh is a socket accepted and not yet a conn.
type fresh struct {
	s      socket
	remote string    // the client's host
	number uint64    // Request.Conn
	by     time.Time // when its first request head is due
	held   bool      // it has been held
}

// connListener is a net.Listener as a listener, which holds nothing.
type connListener struct{ ln net.Listener }

func (l connListener) next() (fresh, error) {
	c, err := l.ln.Accept()
	if err != nil {
		return fresh{}, err
	}
	return fresh{s: connSocket{c}, remote: remoteHost(c.RemoteAddr().String())}, nil
}

func (connListener) hold(fresh) bool  { return false }
func (connListener) release() []fresh { return nil }

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
