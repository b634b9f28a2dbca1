package nesclient_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bitWriter packs a deflate bit stream, least significant bit first.
type bitWriter struct {
	buf []byte
	acc uint32
	n   uint
}

func (w *bitWriter) bits(v uint32, n uint) {
	w.acc |= v << w.n
	w.n += n
	for w.n >= 8 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
		w.n -= 8
	}
}

// code writes a Huffman code, which deflate packs most significant bit
// first.
func (w *bitWriter) code(c uint32, n uint) {
	var r uint32
	for i := uint(0); i < n; i++ {
		r = r<<1 | (c>>i)&1
	}
	w.bits(r, n)
}

// fixedSym writes one literal/length symbol with the fixed code.
func (w *bitWriter) fixedSym(s int) {
	switch {
	case s < 144:
		w.code(uint32(0x30+s), 8)
	case s < 256:
		w.code(uint32(0x190+s-144), 9)
	case s < 280:
		w.code(uint32(s-256), 7)
	default:
		w.code(uint32(0xc0+s-280), 8)
	}
}

func (w *bitWriter) done() []byte {
	if w.n > 0 {
		w.buf = append(w.buf, byte(w.acc))
	}
	return w.buf
}

// fixedDeflate encodes data as one final fixed-Huffman block of literals,
// the simplest stream the client's inflater accepts.
func fixedDeflate(data []byte) []byte {
	var w bitWriter
	w.bits(1, 1) // BFINAL
	w.bits(1, 2) // BTYPE 01: fixed Huffman
	for _, b := range data {
		w.fixedSym(int(b))
	}
	w.fixedSym(256)
	return w.done()
}

// clientGzip wraps a deflate stream in the gzip header the client can
// skip: FNAME only, non-zero mtime bytes, XFL 2, OS 0xff.
func clientGzip(deflate, raw []byte) []byte {
	b := []byte{0x1f, 0x8b, 8, 0x08, 0x11, 0x22, 0x33, 0x44, 2, 0xff}
	b = append(b, "pkg.tar\x00"...)
	b = append(b, deflate...)
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(raw))
	return binary.LittleEndian.AppendUint32(b, uint32(len(raw)))
}

type member struct{ name, body string }

func makeTar(t *testing.T, members ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		hdr := &tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.body)), ModTime: time.Unix(1500000000, 0), Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, m.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	libAsm      = "; foo\nLDA #$01\nRTS\n"
	packageJSON = `{"title": "foo", "description": "A foo", "version": "1.0.0", "author": "alice", "license": "MIT", "tags": ["a"]}`
	readme      = "# foo\n\nDoes foo.\n"
)

// goodTarball is a package tarball the real client can install.
func goodTarball(t *testing.T) []byte {
	raw := makeTar(t, member{"foo/lib.asm", libAsm}, member{"foo/package.json", packageJSON}, member{"foo/README.md", readme})
	return clientGzip(fixedDeflate(raw), raw)
}

// rawServer answers each connection with the next of responses, verbatim,
// and then closes the connection or, with keepOpen, holds it open until
// the test ends. It returns the registry URL and the requests received.
func rawServer(t *testing.T, keepOpen bool, responses ...string) (string, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reqs := make(chan string, len(responses))
	var open []net.Conn
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range open {
			c.Close()
		}
	})
	go func() {
		defer close(done)
		for _, resp := range responses {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			reqs <- readRequest(c)
			io.WriteString(c, resp)
			if keepOpen {
				open = append(open, c)
			} else {
				c.Close()
			}
		}
	}()
	return "http://" + ln.Addr().String(), reqs
}

// readRequest reads a request head and its Content-Length body.
func readRequest(c net.Conn) string {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	var sb strings.Builder
	n := 0
	for {
		line, err := br.ReadString('\n')
		sb.WriteString(line)
		if err != nil || line == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, n)
	io.ReadFull(br, body)
	sb.Write(body)
	return sb.String()
}

// writeJSON answers like a well-behaved registry: exact type, explicit
// length.
func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	io.WriteString(w, body)
}
