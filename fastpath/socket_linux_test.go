package fastpath

import (
	"net"
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestTCPListenersGiveSockets: on Linux the accept loop takes a TCP
// listener's connections as bare sockets, and any other as net.Conns.
func TestTCPListenersGiveSockets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l, _, err := listenerOf(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer l.release()
	if _, ok := l.(*socketListener); !ok {
		t.Errorf("a TCP listener gives %T", l)
	}
	if l, _, _ := listenerOf(struct{ net.Listener }{ln}); l != (connListener{struct{ net.Listener }{ln}}) {
		t.Errorf("another listener gives %T", l)
	}
}

// TestHostOf: the client host of an accepted socket reads as net's own
// address of the connection does, which the caps, the rate limits and
// the logs see for connections net/http serves.
func TestHostOf(t *testing.T) {
	lo, err := net.InterfaceByIndex(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"127.0.0.1", "10.1.2.3", "::1", "2001:db8::5", "::ffff:192.0.2.7", "fe80::1%" + lo.Name} {
		a := netip.MustParseAddr(s)
		var sa unix.RawSockaddrAny
		var zone string
		if a.Is4() {
			in := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sa))
			in.Family, in.Addr = unix.AF_INET, a.As4()
		} else {
			in := (*unix.RawSockaddrInet6)(unsafe.Pointer(&sa))
			in.Family, in.Addr = unix.AF_INET6, a.As16()
			if a.Zone() != "" {
				in.Scope_id, zone = uint32(lo.Index), lo.Name
			}
		}
		want := remoteHost((&net.TCPAddr{IP: net.IP(a.AsSlice()), Port: 4321, Zone: zone}).String())
		if got := hostOf(&sa); got != want {
			t.Errorf("%s: hostOf gives %q, net %q", s, got, want)
		}
	}
}
