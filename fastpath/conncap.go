package fastpath

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// connCaps bounds the connections open at once, per client address and in
// total. A connection that sends nothing costs the server its memory (a
// goroutine and buffers) until the head timeout drops it, so without caps
// one address opening connections faster than that timeout closes them
// holds as much memory as it likes. A connection counts from its accept
// until it is closed, whether the fast path or net/http holds it. The caps
// refuse the excess at accept, before any of that memory is spent.
type connCaps struct {
	max, perAddr              int
	refusedTotal, refusedAddr []byte // the answers to connections over a cap
	log                       *slog.Logger

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

func (k *connCaps) init(max, perAddr int, refusedTotal, refusedAddr []byte, log *slog.Logger) {
	k.max, k.perAddr, k.log = max, perAddr, log
	k.refusedTotal, k.refusedAddr = refusedTotal, refusedAddr
	k.byAddr = make(map[string]int)
}

// admit counts a new connection from addr, or returns the answer that
// refuses it.
func (k *connCaps) admit(addr string) (refused []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := k.byAddr[addr]
	switch {
	case k.perAddr > 0 && n >= k.perAddr:
		refused = k.refusedAddr
		k.overAddr++
	case k.max > 0 && k.open >= k.max:
		refused = k.refusedTotal
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

// refuse writes s its refusal, if the socket takes it at once (the accept
// loop waits for no client), and closes it.
func refuse(s socket, answer []byte) {
	s.writeNow(net.Buffers{answer}) // what the socket does not take is dropped
	s.close()
}
