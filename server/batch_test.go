package server

import (
	"bytes"
	"errors"
	"sync"
	"testing"
)

// flakyWriter fails its first write, then records.
type flakyWriter struct {
	mu     sync.Mutex
	failed bool
	got    bytes.Buffer
}

func (w *flakyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.failed {
		w.failed = true
		return 0, errors.New("disk full")
	}
	return w.got.Write(p)
}

// TestBatchWriter: Close flushes what is buffered, and one failed write
// does not end logging.
func TestBatchWriter(t *testing.T) {
	out := &flakyWriter{}
	b := newBatchWriter(out)
	b.Write([]byte("lost with the failed write\n"))
	b.flush() // fails
	b.Write([]byte("one\n"))
	b.Write([]byte("two\n"))
	b.Close()
	b.Close() // a second Close is harmless
	if got := out.got.String(); got != "one\ntwo\n" {
		t.Fatalf("after Close %q, want both lines after the failed write", got)
	}
}
