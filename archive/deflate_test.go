package archive_test

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/nessemble/nessemble-registry/archive"
)

// randomBytes returns n pseudo-random bytes from a fixed seed.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// sampleText returns about n bytes of assembler-like text: repetitive
// enough to compress, varied enough to need real matching.
func sampleText(n int) []byte {
	ops := []string{"LDA", "STA", "LDX", "JSR", "RTS", "INX", "BNE", "AND", "ORA", "CMP"}
	r := rand.New(rand.NewPCG(7, 11))
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "label_%d:\n\t%s #$%02X ; step %d of the routine\n",
			r.IntN(500), ops[r.IntN(len(ops))], r.IntN(256), i)
	}
	return []byte(b.String()[:n])
}

// allBytes returns each byte value once, in order.
func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// deflateInputs are named inputs covering the shapes the encoder must
// handle, including sizes around its 16 Ki-token block boundaries.
var deflateInputs = sync.OnceValue(func() map[string][]byte {
	in := map[string][]byte{
		"empty":         {},
		"one byte":      {'x'},
		"two bytes":     {0, 0},
		"three same":    {'a', 'a', 'a'},
		"zeros 100KiB":  make([]byte, 100*1024),
		"random 70KiB":  randomBytes(70*1024, 1),
		"text 60KiB":    sampleText(60 * 1024),
		"repeat abc":    bytes.Repeat([]byte("abc"), 10000),
		"all byte vals": allBytes(),
		"mixed 256KiB":  append(sampleText(128*1024), randomBytes(128*1024, 2)...),
	}
	// Random bytes are nearly one token per byte, so these sizes land on
	// either side of the 16 Ki-token block boundaries.
	for _, n := range []int{16383, 16384, 16385, 32768, 32769, 65535, 65536, 65537} {
		in[fmt.Sprintf("random %d", n)] = randomBytes(n, uint64(n))
	}
	for _, n := range []int{16384, 65537} {
		in[fmt.Sprintf("text %d", n)] = sampleText(n)
	}
	return in
})

// checkDeflate asserts that stream inflates to want with compress/flate
// and consists of Huffman blocks only, one final block at the very end.
func checkDeflate(t testing.TB, want, stream []byte) []int {
	t.Helper()
	got, err := io.ReadAll(flate.NewReader(bytes.NewReader(stream)))
	if err != nil {
		t.Fatalf("compress/flate cannot read the stream: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("round trip changed the data: got %d bytes, want %d", len(got), len(want))
	}
	types, err := archive.DeflateBlockTypes(stream)
	if err != nil {
		t.Fatalf("block walk: %v (types so far %v)", err, types)
	}
	if len(types) == 0 {
		t.Fatal("no blocks")
	}
	for i, bt := range types {
		if bt != archive.BlockFixed && bt != archive.BlockDynamic {
			t.Fatalf("block %d has type %d", i, bt)
		}
	}
	return types
}

func TestDeflateRoundTrip(t *testing.T) {
	for name, in := range deflateInputs() {
		t.Run(name, func(t *testing.T) {
			checkDeflate(t, in, archive.Deflate(in))
		})
	}
}

func TestDeflateEmpty(t *testing.T) {
	// One final fixed block holding only end-of-block: bits 1, 01, 0000000.
	if got, want := archive.Deflate(nil), []byte{0x03, 0x00}; !bytes.Equal(got, want) {
		t.Fatalf("Deflate(nil) = % x, want % x", got, want)
	}
}

func TestDeflateRatio(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		maxSize int
	}{
		{"zeros", make([]byte, 100*1024), 1024},
		{"repeat", bytes.Repeat([]byte("LDA #$00\nSTA $2000\n"), 3000), 1024},
		{"text", sampleText(60 * 1024), 60 * 1024 / 3},
		// Incompressible data may grow, but only by a little.
		{"random", randomBytes(70*1024, 3), 70*1024 + 70*1024/64 + 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := archive.Deflate(tt.in)
			if len(out) > tt.maxSize {
				t.Errorf("%d bytes compress to %d, want at most %d", len(tt.in), len(out), tt.maxSize)
			}
		})
	}
}

func TestDeflateBlocks(t *testing.T) {
	// 70 KiB of random bytes is nearly all literals: several blocks, none
	// stored, and a dynamic code pays off against the fixed one.
	types := checkDeflate(t, randomBytes(70*1024, 4), archive.Deflate(randomBytes(70*1024, 4)))
	if len(types) < 4 {
		t.Errorf("got %d blocks for 70 KiB of literals, want at least 4", len(types))
	}
	for i, bt := range types {
		if bt != archive.BlockDynamic {
			t.Errorf("block %d of random data has type %d, want dynamic", i, bt)
		}
	}
	// A short text is cheaper with the fixed code.
	if types := checkDeflate(t, []byte("hi"), archive.Deflate([]byte("hi"))); len(types) != 1 || types[0] != archive.BlockFixed {
		t.Errorf("block types for a 2-byte input = %v, want [fixed]", types)
	}
}

func TestDeflateDeterministic(t *testing.T) {
	for _, name := range []string{"empty", "zeros 100KiB", "random 70KiB", "text 60KiB", "repeat abc"} {
		in := deflateInputs()[name]
		a := archive.Deflate(in)
		b := archive.Deflate(bytes.Clone(in))
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two runs differ", name)
		}
	}
}

func TestDeflateBlockTypesRejects(t *testing.T) {
	var stored bytes.Buffer
	fw, err := flate.NewWriter(&stored, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(sampleText(4096))
	fw.Close()

	good := archive.Deflate(sampleText(4096))
	tests := map[string][]byte{
		"compress/flate output": stored.Bytes(), // ends with an empty stored block
		"stored block":          {0x01, 0x00, 0x00, 0xff, 0xff},
		"reserved type":         {0x07, 0x00},
		"empty stream":          {},
		"truncated":             good[:len(good)-1],
		"trailing byte":         append(bytes.Clone(good), 0),
		"no final block":        {0x02, 0x00, 0x00}, // non-final fixed empty block, then nothing
	}
	for name, stream := range tests {
		if types, err := archive.DeflateBlockTypes(stream); err == nil {
			t.Errorf("%s: no error, types %v", name, types)
		}
	}
}

func FuzzDeflate(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("a"))
	f.Add([]byte("hello hello hello hello"))
	f.Add(make([]byte, 1000))
	f.Add(randomBytes(300, 5))
	f.Add(sampleText(2000))
	f.Fuzz(func(t *testing.T, in []byte) {
		out := archive.Deflate(in)
		checkDeflate(t, in, out)
		if !bytes.Equal(out, archive.Deflate(in)) {
			t.Fatal("not deterministic")
		}
	})
}
