package nesclient

import (
	"bytes"
	"fmt"
	"strings"
)

// Members are the tar members install looks for, matched by name suffix.
var Members = []string{"lib.asm", "package.json", "README.md"}

// UnpackTarball applies the client's checks to a downloaded tarball body
// after the HTTP ones (see Install) and returns what it would write to
// ~/.nessemble/packages/NAME/, keyed by the entries of Members.
//
// The client skips the gzip header by looking for the first zero byte,
// which only lands on the deflate data when the header has a file name and
// no zero byte before the name's terminator (flags 0x08, non-zero mtime
// bytes and XFL). It then inflates with its own inflater (see Inflate).
func UnpackTarball(body []byte) (map[string][]byte, error) {
	if len(body) >= MaxBuffer {
		return nil, fmt.Errorf("tarball is %d bytes; the client's buffer holds less than %d", len(body), MaxBuffer)
	}
	i := bytes.IndexByte(body, 0)
	if i < 0 {
		return nil, fmt.Errorf("tarball has no zero byte to end the gzip header")
	}
	tar, err := Inflate(body[i+1:])
	if err != nil {
		return nil, fmt.Errorf("inflate from byte %d (after the first zero byte): %w", i+1, err)
	}
	files, err := WalkTar(tar)
	if err != nil {
		return nil, err
	}
	for _, m := range Members {
		if _, ok := files[m]; !ok {
			return nil, fmt.Errorf("tarball: no member ending in %s found the client's way", m)
		}
	}
	return files, nil
}

// WalkTar walks a tar archive the way the client does and returns the
// members it finds, keyed by the suffix they matched. It reads only each
// header's 100-byte name and octal size, takes the first member whose name
// ends with each entry of Members, and stops at an empty name or the end
// of the data. It skips ((size/512)+1)*512 data bytes, one block too many
// when size is a positive multiple of 512, so the member after such a
// member is never seen; this is the client's bug, modelled on purpose. A
// matched member whose data runs past the end of the archive is an error.
func WalkTar(tar []byte) (map[string][]byte, error) {
	files := map[string][]byte{}
	for off := 0; off+512 <= len(tar); {
		hdr := tar[off : off+512]
		name := cString(hdr[:100])
		if name == "" {
			break
		}
		size := octal(hdr[124:136])
		data := off + 512
		for _, m := range Members {
			if _, seen := files[m]; !seen && strings.HasSuffix(name, m) {
				if data+size > len(tar) {
					return nil, fmt.Errorf("tar member %q: %d bytes run past the end of the archive", name, size)
				}
				files[m] = tar[data : data+size]
				break
			}
		}
		off = data + (size/512+1)*512
	}
	return files, nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// octal reads a size field like strtol(field, NULL, 8): leading blanks,
// then octal digits up to the first other byte.
func octal(b []byte) int {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	n := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '7'; i++ {
		n = n*8 + int(b[i]-'0')
	}
	return n
}
