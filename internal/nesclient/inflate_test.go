package nesclient_test

import (
	"bytes"
	"compress/flate"
	"errors"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/internal/nesclient"
)

func TestInflateFixedHuffman(t *testing.T) {
	// "abc" as literals, then length 6 at distance 3: "abcabcabc".
	var w bitWriter
	w.bits(1, 1)
	w.bits(1, 2)
	for _, b := range []byte("abc") {
		w.fixedSym(int(b))
	}
	w.fixedSym(260)                    // length 6, no extra bits
	w.code(2, 5)                       // distance code 2: distance 3
	w.fixedSym(256)                    // end of block
	in := append(w.done(), 0xde, 0xad) // trailing bytes (a gzip trailer) are ignored
	out, err := nesclient.Inflate(in)
	if err != nil || string(out) != "abcabcabc" {
		t.Fatalf("got %q, %v", out, err)
	}

	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	if out, err := nesclient.Inflate(fixedDeflate(all)); err != nil || !bytes.Equal(out, all) {
		t.Fatalf("all bytes: %v", err)
	}
}

// compress/flate always ends with an empty stored block, so the client
// cannot read its output. Everything before that block is Huffman-coded
// and must decode correctly, which exercises the dynamic path.
func TestInflateRejectsGoFlateOutput(t *testing.T) {
	data := []byte(strings.Repeat("LDA #$01\nSTA $2000\nJSR foo ; the quick brown fox\n", 200) + "end")
	for _, level := range []int{flate.BestCompression, flate.HuffmanOnly} {
		var buf bytes.Buffer
		fw, _ := flate.NewWriter(&buf, level)
		fw.Write(data)
		fw.Close()
		out, err := nesclient.Inflate(buf.Bytes())
		if !errors.Is(err, nesclient.ErrStoredBlock) {
			t.Errorf("level %d: err = %v, want a stored block error", level, err)
		}
		if !bytes.Equal(out, data) {
			t.Errorf("level %d: decoded %d bytes before the stored block, want %d", level, len(out), len(data))
		}
	}
}

func TestInflateErrors(t *testing.T) {
	var tooFar bitWriter
	tooFar.bits(1, 1)
	tooFar.bits(1, 2)
	tooFar.fixedSym('a')
	tooFar.fixedSym(257) // length 3
	tooFar.code(1, 5)    // distance 2, but only 1 byte out
	tooFar.fixedSym(256)

	var big bitWriter // 'a' then copies of 258 bytes until the buffer is full
	big.bits(1, 1)
	big.bits(1, 2)
	big.fixedSym('a')
	for i := 0; i < 65536/258+1; i++ {
		big.fixedSym(285)
		big.code(0, 5)
	}
	big.fixedSym(256)

	var notFinal bitWriter
	notFinal.bits(0, 1)
	notFinal.bits(1, 2)
	notFinal.fixedSym(256)
	notFinal.bits(0, 1) // a second non-final block cut short
	notFinal.bits(1, 2)

	tests := map[string]struct {
		in   []byte
		want string
	}{
		"block type 3":  {[]byte{0x07}, "block type"},
		"empty":         {nil, "ends before"},
		"no final":      {notFinal.done(), "ends before"},
		"truncated":     {fixedDeflate([]byte("hello"))[:3], "ends before"},
		"distance":      {tooFar.done(), "distance"},
		"output limit":  {big.done(), "65536"},
		"stored, final": {[]byte{0x01, 0, 0, 0xff, 0xff}, "stored block"},
	}
	for name, tt := range tests {
		if _, err := nesclient.Inflate(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tt.want)
		}
	}
}
