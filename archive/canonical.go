package archive

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"time"
)

// ClientLimit is the size of the nessemble client's fixed buffers: both the
// served .tar.gz and the tar inside it must be smaller.
const ClientLimit = 65536

// ErrTooLarge reports that a canonical tarball would not fit the client.
var ErrTooLarge = errors.New("canonical tarball exceeds the 64 KiB the nessemble client can install")

const tarBlock = 512

// maxTarMtime is the largest time an 11-digit octal ustar field holds.
const maxTarMtime = 1<<33 - 1

// Canonical builds the tarball the registry serves for one version: a gzip
// file named TITLE-VERSION.tar holding lib.asm, package.json (regenerated
// from m) and README.md, shaped so that the nessemble 1.1 client can
// install it (docs/PROTOCOL.md, "The tarball install downloads"):
//
//   - the gzip header has FNAME only and no zero byte before the end of
//     the name, because the client finds the deflate data by scanning for
//     the first zero byte;
//   - the deflate stream has Huffman-coded blocks only (see Deflate);
//   - a member whose size is a multiple of 512 is followed by a filler
//     block that tar readers ignore (an empty pax header, or a zero block
//     at the end), which the client skips as data because it skips one
//     block too many after such a member;
//   - the tar and the gzip file each stay under ClientLimit, or the result
//     is ErrTooLarge.
//
// The output depends only on the arguments. published becomes the mtime of
// every member and of the gzip header; times before 1970 count as 1970.
func Canonical(m Manifest, libAsm, readme []byte, published time.Time) ([]byte, error) {
	name := m.Title + "-" + m.Version + ".tar"
	if strings.IndexByte(name, 0) >= 0 {
		return nil, errors.New("archive: title and version must not contain a NUL byte")
	}
	// Cheap early exit before building anything for oversized input.
	if len(libAsm)+len(readme) >= ClientLimit {
		return nil, fmt.Errorf("%w: lib.asm and README.md alone are %d bytes", ErrTooLarge, len(libAsm)+len(readme))
	}
	pkg, err := canonicalPackageJSON(m)
	if err != nil {
		return nil, err
	}
	mtime := min(max(published.Unix(), 0), maxTarMtime)

	tarball := canonicalTar([]tarMember{
		{"lib.asm", libAsm},
		{"package.json", pkg},
		{"README.md", readme},
	}, mtime)
	if len(tarball) >= ClientLimit {
		return nil, fmt.Errorf("%w: the tar is %d bytes", ErrTooLarge, len(tarball))
	}

	gz := canonicalGzip(name, tarball, mtime)
	if len(gz) >= ClientLimit {
		return nil, fmt.Errorf("%w: the compressed file is %d bytes", ErrTooLarge, len(gz))
	}
	return gz, nil
}

// canonicalPackageJSON writes m with the keys in Manifest order, indented by
// two spaces, without HTML escaping (the client unescapes only \n and \t),
// and with a trailing newline. Missing tags become [] rather than null.
func canonicalPackageJSON(m Manifest) ([]byte, error) {
	if m.Tags == nil {
		m.Tags = []string{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("archive: encode package.json: %w", err)
	}
	return buf.Bytes(), nil
}

type tarMember struct {
	name string
	data []byte
}

// canonicalTar writes a ustar archive of regular files, mode 0644, owned by
// uid/gid 0, without the usual padding to 10 KiB records.
func canonicalTar(members []tarMember, mtime int64) []byte {
	var out []byte
	for i, mem := range members {
		out = append(out, tarHeader(mem.name, '0', 0o644, len(mem.data), mtime)...)
		out = append(out, mem.data...)
		if pad := len(mem.data) % tarBlock; pad != 0 {
			out = append(out, make([]byte, tarBlock-pad)...)
		}
		// The client skips ((size/512)+1)*512 bytes of data, one block
		// too many when the size is a multiple of 512 (zero included), so
		// such a member needs one filler block after it. Between members
		// the filler is an empty pax extended header, which tar readers
		// apply (as nothing) to the next member; a "./" directory entry
		// would also do, but GNU tar then resets the mode and mtime of
		// the directory it extracts into. After the last member the filler
		// is a zero block: some readers refuse a pax header followed by
		// the end of the archive.
		if len(mem.data)%tarBlock == 0 {
			if i < len(members)-1 {
				out = append(out, tarHeader(tarFillerName, 'x', 0o644, 0, mtime)...)
			} else {
				out = append(out, make([]byte, tarBlock)...)
			}
		}
	}
	return append(out, make([]byte, 2*tarBlock)...) // end-of-archive marker
}

// tarFillerName names the filler pax headers, the way GNU tar names its own.
const tarFillerName = "././@PaxHeader"

// tarHeader returns one ustar header block. name must be under 100 bytes.
func tarHeader(name string, typeflag byte, mode, size int, mtime int64) []byte {
	h := make([]byte, tarBlock)
	copy(h[0:100], name)
	octal := func(field []byte, v int64) {
		// Zero-padded digits filling the field, then a NUL.
		copy(field, fmt.Sprintf("%0*o", len(field)-1, v))
	}
	octal(h[100:108], int64(mode))
	octal(h[108:116], 0) // uid
	octal(h[116:124], 0) // gid
	octal(h[124:136], int64(size))
	octal(h[136:148], mtime)
	h[156] = typeflag
	copy(h[257:263], "ustar\x00")
	copy(h[263:265], "00")
	octal(h[329:337], 0) // devmajor
	octal(h[337:345], 0) // devminor

	// The checksum is computed with its own field read as spaces.
	copy(h[148:156], "        ")
	sum := 0
	for _, b := range h {
		sum += int(b)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return h
}

// canonicalGzip wraps tarball in a gzip member (RFC 1952) written by hand:
// compress/gzip writes no file name by default, zero mtime bytes and a
// compress/flate stream, none of which the client can read.
func canonicalGzip(name string, tarball []byte, mtime int64) []byte {
	stream := Deflate(tarball)
	out := make([]byte, 0, 10+len(name)+1+len(stream)+8)
	out = append(out, 0x1f, 0x8b, 8, 0x08) // magic, CM deflate, FLG = FNAME
	// No byte before the name's terminator may be zero; the original
	// server bumped zero mtime bytes to 1 as well.
	mt := binary.LittleEndian.AppendUint32(nil, uint32(mtime))
	for i, b := range mt {
		if b == 0 {
			mt[i] = 1
		}
	}
	out = append(out, mt...)
	out = append(out, 2, 0xff) // XFL (non-zero), OS unknown
	out = append(out, name...)
	out = append(out, 0)
	out = append(out, stream...)
	out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(tarball))
	out = binary.LittleEndian.AppendUint32(out, uint32(len(tarball)))
	return out
}
