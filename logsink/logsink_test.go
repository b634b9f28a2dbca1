package logsink_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/nessemble/nessemble-registry/logsink"
)

// flakyWriter fails its first write, then records each write.
type flakyWriter struct {
	mu     sync.Mutex
	failed bool
	writes []string
}

func (w *flakyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.failed {
		w.failed = true
		return 0, errors.New("disk full")
	}
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

// TestWriter: a direct line goes out after the batched lines before it;
// Close writes what is batched; one failed write does not end logging; and
// no write splits a line.
func TestWriter(t *testing.T) {
	out := &flakyWriter{}
	l := logsink.New(out)
	io.WriteString(l, "lost to the failed write\n")
	batched := l.Batched()
	io.WriteString(batched, "access 1\n")
	io.WriteString(l, "error\n")
	long := strings.Repeat("x", 40<<10) + "\n" // two of these overflow a batch
	io.WriteString(batched, long)
	io.WriteString(batched, long)
	io.WriteString(batched, "access 2\n")
	l.Close()
	l.Close() // a second Close is harmless
	all := strings.Join(out.writes, "")
	if want := "access 1\nerror\n" + long + long + "access 2\n"; all != want {
		t.Fatalf("wrote %d bytes, not the lines in order", len(all))
	}
	for _, w := range out.writes {
		if !strings.HasSuffix(w, "\n") {
			t.Fatalf("a write ends mid-line: ...%q", w[max(0, len(w)-20):])
		}
	}
	var buf bytes.Buffer
	l2 := logsink.New(&buf)
	io.WriteString(l2.Batched(), "kept\n")
	l2.Close()
	if buf.String() != "kept\n" {
		t.Fatalf("Close wrote %q", buf.String())
	}
}
