package fastpath

import (
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// On Linux the accept loop takes a TCP listener's connections as bare
// file descriptors: accept4, read, writev and close are all that a
// connection answered at once costs, as with nginx. A net.Conn costs five
// more system calls (two epoll_ctl, getsockname, setsockopt, a second
// read), and every call the syscall package makes wakes the runtime's
// monitor thread when the process was idle: with one client opening a
// connection per request, those doubled the CPU a request took. So these
// calls go through RawSyscall, which is for calls that never block; on
// sockets opened non-blocking, these never do. A socket that has to wait
// becomes a net.Conn (conn) and gets a goroutine of its own.

// socketListener accepts through a duplicate of the listener's file
// descriptor, opened as an *os.File: the listener's own RawConn cannot
// wait for reads, a file's can, in Go's poller like any Accept.
type socketListener struct {
	file *os.File // closed by Shutdown, which ends accept
	rc   syscall.RawConn
}

// listenerOf returns how the accept loop takes ln's connections, and what
// a shutdown must close besides ln to end it (nil if nothing).
func listenerOf(ln net.Listener) (listener, io.Closer, error) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return connListener{ln}, nil, nil
	}
	lrc, err := tl.SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	dup := -1
	err = lrc.Control(func(fd uintptr) { dup, err = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) })
	if err != nil {
		return nil, nil, err
	}
	file := os.NewFile(uintptr(dup), ln.Addr().String())
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, nil, err
	}
	return &socketListener{file: file, rc: rc}, file, nil
}

func (l *socketListener) accept() (socket, string, error) {
	var sa unix.RawSockaddrAny
	fd := -1
	var errno syscall.Errno
	err := l.rc.Read(func(lfd uintptr) bool {
		for {
			size := uint32(unix.SizeofSockaddrAny)
			r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, lfd, uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&size)),
				unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
			switch e {
			case unix.EINTR, unix.ECONNABORTED: // as net's Accept: try again
				continue
			case unix.EAGAIN:
				return false // wait in the poller
			}
			fd, errno = int(r), e
			return true
		}
	})
	switch {
	case err != nil: // the file is closed
		return nil, "", err
	case errno != 0:
		return nil, "", os.NewSyscallError("accept4", errno)
	}
	return rawSocket(fd), hostOf(&sa), nil
}

// hostOf is the client address of sa as remoteHost gives it for a
// net.Conn: the IP as net.IP prints it, with the zone of an IPv6 one.
func hostOf(sa *unix.RawSockaddrAny) string {
	switch sa.Addr.Family {
	case unix.AF_INET:
		in := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return net.IP(in.Addr[:]).String()
	case unix.AF_INET6:
		in := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		host := net.IP(in.Addr[:]).String()
		if in.Scope_id != 0 {
			zone := strconv.Itoa(int(in.Scope_id))
			if ifi, err := net.InterfaceByIndex(int(in.Scope_id)); err == nil {
				zone = ifi.Name
			}
			host += "%" + zone
		}
		return host
	}
	return ""
}

// rawSocket is an accepted socket's file descriptor, non-blocking.
type rawSocket int

func (s rawSocket) readNow(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(s), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return readResult(int(r), errnoErr(e))
}

func (s rawSocket) writeNow(b net.Buffers) (net.Buffers, error) {
	var iov [2]unix.Iovec // the head and body of an answer
	n := 0
	for _, p := range b {
		if len(p) > 0 && n < len(iov) {
			iov[n].Base = &p[0]
			iov[n].SetLen(len(p))
			n++
		}
	}
	if n == 0 {
		return nil, nil
	}
	r, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(s), uintptr(unsafe.Pointer(&iov[0])), uintptr(n))
	return writeResult(b, int(r), errnoErr(e))
}

func (s rawSocket) close() { unix.RawSyscall(unix.SYS_CLOSE, uintptr(s), 0, 0) }

// conn makes the socket a net.Conn: net.FileConn takes a duplicate of the
// descriptor, so the socket's own closes.
func (s rawSocket) conn() (net.Conn, error) {
	f := os.NewFile(uintptr(s), "")
	defer f.Close()
	return net.FileConn(f)
}

// errnoErr is e as an error: nil for 0.
func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}
