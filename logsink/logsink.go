// Package logsink is the one writer of the registry's log output: the
// access log in batches, every other line at once, never interleaved.
package logsink

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// Writer is the one writer of the registry's log output. The access
// log writes to its Batched side, whose lines go out every flushEvery in
// one write system call rather than one per request; other lines (slog's:
// errors, start and stop) are written at once, after whatever is batched,
// so lines keep their order. Every write holds whole lines, so two lines
// never interleave, whatever the output is (a file, a pipe, journald).
type Writer struct {
	mu   sync.Mutex
	out  io.Writer
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

const flushEvery = 200 * time.Millisecond

// New starts a Writer on w; Close stops it.
func New(w io.Writer) *Writer {
	l := &Writer{out: w, w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go l.flushLoop()
	return l
}

// Write writes p at once, after the lines batched before it.
func (l *Writer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	return l.out.Write(p)
}

// Batched is the side whose lines wait for the next flush.
func (l *Writer) Batched() io.Writer { return batched{l} }

type batched struct{ l *Writer }

func (b batched) Write(p []byte) (int, error) {
	l := b.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(p) > l.w.Available() {
		l.flushLocked() // whole lines only: never split one across writes
	}
	return l.w.Write(p)
}

func (l *Writer) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.mu.Lock()
			l.flushLocked()
			l.mu.Unlock()
		case <-l.stop:
			return
		}
	}
}

func (l *Writer) flushLocked() {
	if l.w.Flush() != nil {
		// A bufio.Writer keeps its first error for good; start afresh so
		// that one failed write (a full disk) does not end all logging.
		l.w.Reset(l.out)
	}
}

// Close stops the flusher and writes what is batched. It may be called
// more than once.
func (l *Writer) Close() error {
	l.once.Do(func() { close(l.stop) })
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	return nil
}
