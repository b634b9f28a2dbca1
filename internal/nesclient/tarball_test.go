package nesclient_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/internal/nesclient"
)

func TestUnpackTarball(t *testing.T) {
	files, err := nesclient.UnpackTarball(goodTarball(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"lib.asm": libAsm, "package.json": packageJSON, "README.md": readme} {
		if string(files[name]) != want {
			t.Errorf("%s = %q, want %q", name, files[name], want)
		}
	}
}

func TestUnpackTarballRejects(t *testing.T) {
	raw := makeTar(t, member{"lib.asm", libAsm}, member{"package.json", packageJSON}, member{"README.md", readme})
	goGzip := func(name string, mtime time.Time) []byte {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Name, zw.ModTime = name, mtime
		zw.Write(raw)
		zw.Close()
		return buf.Bytes()
	}
	big := make([]byte, 65536)
	copy(big, clientGzip(fixedDeflate(raw), raw))

	tests := map[string]struct {
		body []byte
		want string
	}{
		// Flags 0: the first zero byte is inside the header.
		"compress/gzip defaults": {goGzip("", time.Time{}), "inflate from byte 4"},
		// A header the client can skip, but a stored block at the end.
		"compress/gzip with name": {goGzip("pkg.tar", time.Unix(0x5a5a5a5a, 0)), "stored block"},
		"missing README":          {clientGzip(fixedDeflate(raw[:2048]), raw[:2048]), "README.md"},
		"64 KiB body":             {big, "buffer"},
		"no zero byte":            {[]byte{0x1f, 0x8b}, "no zero byte"},
	}
	for name, tt := range tests {
		if _, err := nesclient.UnpackTarball(tt.body); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tt.want)
		}
	}
	if _, err := nesclient.UnpackTarball(goGzip("pkg.tar", time.Unix(0x5a5a5a5a, 0))); !errors.Is(err, nesclient.ErrStoredBlock) {
		t.Errorf("err = %v, want ErrStoredBlock", err)
	}
}

// A member of exactly 512 bytes makes the client skip one block too many,
// so it reads the next member's data as a header and misses that member.
func TestWalkTarOffByOne(t *testing.T) {
	block := strings.Repeat("x", 511) + "\n"
	raw := makeTar(t, member{"README.md", block}, member{"lib.asm", libAsm}, member{"package.json", packageJSON})
	files, err := nesclient.WalkTar(raw)
	if err != nil {
		t.Fatal(err)
	}
	if string(files["README.md"]) != block {
		t.Errorf("README.md = %q", files["README.md"])
	}
	if _, ok := files["lib.asm"]; ok {
		t.Error("lib.asm found: the client's off-by-one is not modelled")
	}
	if _, err := nesclient.UnpackTarball(clientGzip(fixedDeflate(raw), raw)); err == nil || !strings.Contains(err.Error(), "lib.asm") {
		t.Errorf("err = %v, want lib.asm missing", err)
	}

	// The same members survive with the 512-byte one last.
	raw = makeTar(t, member{"lib.asm", libAsm}, member{"package.json", packageJSON}, member{"README.md", block})
	if _, err := nesclient.UnpackTarball(clientGzip(fixedDeflate(raw), raw)); err != nil {
		t.Error(err)
	}
}

func TestWalkTarFirstMatchWins(t *testing.T) {
	raw := makeTar(t, member{"a/lib.asm", "first"}, member{"b/lib.asm", "second"}, member{"notlib.asm.bak", "no"})
	files, err := nesclient.WalkTar(raw)
	if err != nil || string(files["lib.asm"]) != "first" || len(files) != 1 {
		t.Errorf("files = %q, err = %v", files, err)
	}
	// A size running past the data is an error, not a silent truncation.
	if _, err := nesclient.WalkTar(raw[:512+2]); err == nil {
		t.Error("truncated member accepted")
	}
}
