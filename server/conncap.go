package server

import (
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"
)

// connCaps bounds the connections open at once, per client address and in
// total. A connection that sends nothing costs the server its memory (a
// goroutine and buffers) until the head timeout drops it, so without caps
// one address opening connections faster than that timeout closes them
// holds as much memory as it likes. A connection counts from its accept
// until it is closed, whether the front or net/http holds it. The caps
// refuse the excess at accept, before any of that memory is spent.
type connCaps struct {
	max, perAddr int
	log          *slog.Logger

	mu     sync.Mutex
	open   int
	byAddr map[string]int
	// Refusals since the last report, which goes out at most once per
	// refusalReportEvery rather than once per refused connection.
	overAddr, overTotal int
	lastAddr            string
	reported            time.Time
	report              *time.Timer // nil when no report is due
}

const refusalReportEvery = time.Minute

// The fixed answers to a connection over a cap. 503, not 429: the nessemble
// client takes every status but 404 and 503 for success (PROTOCOL.md), and
// for 503 says the registry cannot be reached, which is what happened.
var (
	refusedAddr  = refusal("Too many connections from your address; close some or try again later")
	refusedTotal = refusal("The registry has too many open connections; try again later")
)

func refusal(msg string) []byte {
	body := `{"status":503,"error":"` + msg + `"}`
	return []byte("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) +
		"\r\nContent-Type: application/json\r\nRetry-After: 10\r\nServer: " + hdrServer[0] + "\r\n\r\n" + body)
}

func (k *connCaps) init(max, perAddr int, log *slog.Logger) {
	k.max, k.perAddr, k.log = max, perAddr, log
	k.byAddr = make(map[string]int)
}

// admit counts a new connection from addr, or returns the answer that
// refuses it.
func (k *connCaps) admit(addr string) (refused []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := k.byAddr[addr]
	switch {
	case n >= k.perAddr:
		refused = refusedAddr
		k.overAddr++
	case k.open >= k.max:
		refused = refusedTotal
		k.overTotal++
	default:
		k.byAddr[addr] = n + 1
		k.open++
		return nil
	}
	k.lastAddr = addr
	if k.report == nil {
		// Off the accept loop, which must not wait for the log.
		k.report = time.AfterFunc(max(time.Until(k.reported.Add(refusalReportEvery)), 0), k.flush)
	}
	return refused
}

// release uncounts a connection from addr that admit counted.
func (k *connCaps) release(addr string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.open--
	if n := k.byAddr[addr] - 1; n > 0 {
		k.byAddr[addr] = n
	} else {
		delete(k.byAddr, addr)
	}
}

// flush logs the refusals since the last report, if there were any.
func (k *connCaps) flush() {
	k.mu.Lock()
	if k.report != nil {
		k.report.Stop()
		k.report = nil
	}
	overAddr, overTotal, last := k.overAddr, k.overTotal, k.lastAddr
	k.overAddr, k.overTotal = 0, 0
	if overAddr+overTotal > 0 {
		k.reported = time.Now()
	}
	k.mu.Unlock()
	if overAddr+overTotal > 0 {
		k.log.Warn("connections refused", "over_addr_cap", overAddr, "over_total_cap", overTotal,
			"last_addr", last, "max_conns", k.max, "max_conns_per_addr", k.perAddr)
	}
}

// refuse writes c its refusal, if the socket takes it at once (the accept
// loop waits for no client), and closes it.
func refuse(c net.Conn, answer []byte) {
	writeNow(c, answer)
	c.Close()
}
