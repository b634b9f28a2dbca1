package fastpath

import (
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
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
// sockets opened non-blocking, these never do.
//
// A socket whose request has not arrived when it is accepted (a third of
// them, with 32 clients on two cores) waits in an epoll instance of the
// listener's own, beside the listener: the accept loop waits on both at
// once, as nginx does, and a goroutine would cost more than the answer.
// A socket that has to wait for anything else becomes a net.Conn (conn)
// and gets a goroutine of its own.

// socketListener is the accept loop's event loop: the listener and the
// sockets it holds, in one epoll instance.
type socketListener struct {
	lfd int // a duplicate of the listener's descriptor: ours to close
	// ep is the epoll instance, opened as an *os.File so that the accept
	// loop waits on it in Go's poller; Shutdown closes it.
	ep     *os.File
	epfd   int
	rc     syscall.RawConn
	held   map[rawSocket]fresh
	queue  []heldSocket // the held sockets in the order of their time limits
	ready  []rawSocket  // held sockets with something to read, not yet taken
	events [64]unix.EpollEvent
}

// heldSocket is a place in socketListener's queue; the socket may have
// been taken since, and its number given to another.
type heldSocket struct {
	s      rawSocket
	number uint64
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
	lfd := -1
	if cerr := lrc.Control(func(fd uintptr) { lfd, err = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); cerr != nil {
		return nil, nil, cerr
	}
	if err != nil {
		return nil, nil, os.NewSyscallError("fcntl", err)
	}
	l, err := newSocketListener(lfd, ln.Addr().String())
	if err != nil {
		unix.Close(lfd)
		return nil, nil, err
	}
	return l, l.ep, nil
}

func newSocketListener(lfd int, name string) (*socketListener, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// Non-blocking, so that os.NewFile gives it to Go's poller.
	err = unix.SetNonblock(epfd, true)
	if err == nil {
		err = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lfd)})
	}
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("epoll", err)
	}
	l := &socketListener{lfd: lfd, epfd: epfd, ep: os.NewFile(uintptr(epfd), "epoll "+name), held: make(map[rawSocket]fresh)}
	if l.rc, err = l.ep.SyscallConn(); err != nil {
		l.ep.Close()
		return nil, err
	}
	return l, nil
}

func (l *socketListener) next() (fresh, error) {
	for {
		// Held sockets that have something to read go before new
		// connections: a stream of those must not starve them.
		if len(l.ready) == 0 && len(l.held) > 0 {
			l.collect()
		}
		if len(l.ready) > 0 {
			s := l.ready[0]
			l.ready = l.ready[1:]
			if a, ok := l.take(s); ok {
				return a, nil
			}
			continue
		}
		if h, ok := l.oldest(); ok && !time.Now().Before(l.held[h.s].by) {
			a, _ := l.take(h.s)
			return a, nil
		}
		s, host, err := l.accept()
		if err != unix.EAGAIN {
			if err != nil {
				return fresh{}, os.NewSyscallError("accept4", err)
			}
			return fresh{s: s, remote: host}, nil
		}
		if err := l.wait(); err != nil {
			return fresh{}, err
		}
	}
}

// accept takes a connection from the listener if one is waiting.
func (l *socketListener) accept() (rawSocket, string, error) {
	for {
		var sa unix.RawSockaddrAny
		size := uint32(unix.SizeofSockaddrAny)
		r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(l.lfd), uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&size)),
			unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		switch e {
		case 0:
			return rawSocket(r), hostOf(&sa), nil
		case unix.EINTR, unix.ECONNABORTED: // as net's Accept: try again
			continue
		}
		return -1, "", e
	}
}

// wait waits in Go's poller for a connection or for a held socket's first
// bytes, until the first held socket's time is up.
func (l *socketListener) wait() error {
	var by time.Time
	if h, ok := l.oldest(); ok {
		by = l.held[h.s].by
	}
	l.ep.SetReadDeadline(by)
	err := l.rc.Read(func(uintptr) bool { return l.collect() })
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return err
}

// collect adds the held sockets epoll reports readable to l.ready, without
// waiting, and reports whether epoll reported anything, the listener
// included.
func (l *socketListener) collect() bool {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(l.epfd), uintptr(unsafe.Pointer(&l.events[0])), uintptr(len(l.events)), 0, 0, 0)
	n := int(r)
	if e != 0 || n == 0 {
		return false
	}
	for _, ev := range l.events[:n] {
		if int(ev.Fd) != l.lfd {
			l.ready = append(l.ready, rawSocket(ev.Fd))
		}
	}
	return true
}

// hold keeps a, with nothing to read yet, until it has or until a.by.
func (l *socketListener) hold(a fresh) bool {
	s, ok := a.s.(rawSocket)
	if !ok {
		return false
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(s)}
	if _, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(l.epfd), unix.EPOLL_CTL_ADD, uintptr(s), uintptr(unsafe.Pointer(&ev)), 0, 0); e != 0 {
		return false
	}
	a.held = true
	l.held[s] = a
	l.queue = append(l.queue, heldSocket{s, a.number})
	return true
}

// oldest is the held socket whose time is up first.
func (l *socketListener) oldest() (heldSocket, bool) {
	for len(l.queue) > 0 {
		h := l.queue[0]
		if a, ok := l.held[h.s]; ok && a.number == h.number {
			return h, true
		}
		l.queue = l.queue[1:]
	}
	l.queue = l.queue[:0]
	return heldSocket{}, false
}

// take ends the hold of s, if it is held.
func (l *socketListener) take(s rawSocket) (fresh, bool) {
	a, ok := l.held[s]
	if !ok {
		return fresh{}, false
	}
	delete(l.held, s)
	unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(l.epfd), unix.EPOLL_CTL_DEL, uintptr(s), 0, 0, 0)
	return a, true
}

// release closes the listener and returns the sockets it held.
func (l *socketListener) release() []fresh {
	var held []fresh
	for h, ok := l.oldest(); ok; h, ok = l.oldest() {
		a, _ := l.take(h.s)
		held = append(held, a)
	}
	l.ep.Close()
	unix.Close(l.lfd)
	return held
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
	raceAcquire(s)
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
	raceRelease(s)
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
