// Package systemd speaks the two small protocols a service needs from
// systemd: readiness and watchdog notifications (sd_notify(3)) and socket
// activation (sd_listen_fds(3)). Without the environment variables that
// systemd sets, every function here does nothing.
package systemd

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

// Notify sends state (for example "READY=1") to the socket named by
// $NOTIFY_SOCKET. Without that variable it does nothing and returns
// false: the service was not started by systemd with Type=notify.
func Notify(state string) (sent bool, err error) {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return false, nil
	}
	// An abstract socket is written with a leading "@".
	if name[0] == '@' {
		name = "\x00" + name[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("sd_notify: %w", err)
	}
	return true, nil
}

// WatchdogInterval is how often systemd expects WATCHDOG=1 (half of
// $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises), or 0 when the
// watchdog is off or meant for another process.
func WatchdogInterval() (time.Duration, error) {
	usec := os.Getenv("WATCHDOG_USEC")
	if usec == "" {
		return 0, nil
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, nil
	}
	n, err := strconv.ParseInt(usec, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("WATCHDOG_USEC=%q: not a positive number of microseconds", usec)
	}
	return time.Duration(n) * time.Microsecond / 2, nil
}

// listenFDsStart is the first descriptor systemd passes (SD_LISTEN_FDS_START).
const listenFDsStart = 3

// Listeners returns the listening sockets systemd passed to this process
// ($LISTEN_FDS, for $LISTEN_PID), or nil when it passed none. It unsets
// the variables, so that no child takes the sockets for its own, and
// marks the descriptors close-on-exec.
func Listeners() ([]net.Listener, error) {
	fds, pid := os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_PID")
	if fds == "" {
		return nil, nil
	}
	defer func() {
		os.Unsetenv("LISTEN_FDS")
		os.Unsetenv("LISTEN_PID")
		os.Unsetenv("LISTEN_FDNAMES")
	}()
	if pid != strconv.Itoa(os.Getpid()) {
		return nil, nil // meant for another process
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 0 || n > 256 {
		return nil, fmt.Errorf("LISTEN_FDS=%q: not a number of descriptors", fds)
	}
	var lns []net.Listener
	for fd := listenFDsStart; fd < listenFDsStart+n; fd++ {
		syscall.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "LISTEN_FD_"+strconv.Itoa(fd))
		ln, err := net.FileListener(f)
		f.Close() // FileListener holds its own duplicate
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("socket activation: descriptor %d: %w", fd, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}
