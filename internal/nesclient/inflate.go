package nesclient

import (
	"errors"
	"fmt"
)

// MaxBuffer is the size of the client's fixed buffers for the compressed
// tarball and for the tar it inflates to; each must stay below it.
const MaxBuffer = 65536

// ErrStoredBlock reports a stored (uncompressed) deflate block. The
// client's inflater reads the length of such a block as a single byte and
// fails, so a tarball served to it must use Huffman-coded blocks only.
var ErrStoredBlock = errors.New("deflate stream has a stored block (the client cannot inflate it)")

// Inflate decodes a raw RFC 1951 deflate stream like the client's inflater:
// fixed and dynamic Huffman blocks only, output below MaxBuffer bytes.
// Anything after the final block (a gzip trailer) is ignored. On error the
// output decoded so far is returned too, which helps to see where a stream
// went wrong.
func Inflate(in []byte) ([]byte, error) {
	s := &inflater{in: in}
	for {
		final, err := s.bits(1)
		if err != nil {
			return s.out, err
		}
		typ, err := s.bits(2)
		if err != nil {
			return s.out, err
		}
		switch typ {
		case 0:
			return s.out, ErrStoredBlock
		case 1:
			err = s.codes(&fixedLit, &fixedDist)
		case 2:
			err = s.dynamic()
		default:
			err = errors.New("inflate: invalid block type 3")
		}
		if err != nil {
			return s.out, err
		}
		if final == 1 {
			return s.out, nil
		}
	}
}

type inflater struct {
	in     []byte
	pos    int    // next input byte
	bitbuf uint32 // pending bits, least significant first
	bitcnt uint
	out    []byte
}

var errShort = errors.New("inflate: stream ends before its final block")

// bits returns the next n bits of the stream, least significant bit first.
func (s *inflater) bits(n uint) (int, error) {
	for s.bitcnt < n {
		if s.pos == len(s.in) {
			return 0, errShort
		}
		s.bitbuf |= uint32(s.in[s.pos]) << s.bitcnt
		s.pos++
		s.bitcnt += 8
	}
	v := int(s.bitbuf & (1<<n - 1))
	s.bitbuf >>= n
	s.bitcnt -= n
	return v, nil
}

// huffman is a canonical Huffman code: how many codes have each length,
// and the symbols ordered by code.
type huffman struct {
	count  [16]int
	symbol []int
}

// newHuffman builds a code from code lengths (0 = symbol unused). It
// rejects over-subscribed lengths; an incomplete code is allowed and an
// unassigned code is caught when decoded.
func newHuffman(lengths []int) (*huffman, error) {
	h := &huffman{symbol: make([]int, 0, len(lengths))}
	for _, l := range lengths {
		h.count[l]++
	}
	left := 1
	for l := 1; l < 16; l++ {
		left = left<<1 - h.count[l]
		if left < 0 {
			return nil, errors.New("inflate: over-subscribed Huffman code")
		}
	}
	for l := 1; l < 16; l++ {
		for sym, sl := range lengths {
			if sl == l {
				h.symbol = append(h.symbol, sym)
			}
		}
	}
	return h, nil
}

// decode reads one symbol. Huffman codes are packed starting with their
// most significant bit, so the code is built one bit at a time and
// compared with the first code of each length.
func (s *inflater) decode(h *huffman) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		b, err := s.bits(1)
		if err != nil {
			return 0, err
		}
		code |= b
		n := h.count[l]
		if code-first < n {
			return h.symbol[index+code-first], nil
		}
		index += n
		first = (first + n) << 1
		code <<= 1
	}
	return 0, errors.New("inflate: invalid Huffman code")
}

var (
	lenBase  = [29]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra = [29]uint{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase = [30]int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtr = [30]uint{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}

	fixedLit, fixedDist = fixedCodes()
)

// fixedCodes builds the predefined codes of block type 1 (RFC 1951 3.2.6).
func fixedCodes() (huffman, huffman) {
	var lit [288]int
	for i := range lit {
		switch {
		case i < 144:
			lit[i] = 8
		case i < 256:
			lit[i] = 9
		case i < 280:
			lit[i] = 7
		default:
			lit[i] = 8
		}
	}
	var dist [30]int
	for i := range dist {
		dist[i] = 5
	}
	l, _ := newHuffman(lit[:])
	d, _ := newHuffman(dist[:])
	return *l, *d
}

// codes decodes one block's literals and length/distance pairs up to its
// end-of-block symbol.
func (s *inflater) codes(lit, dist *huffman) error {
	for {
		sym, err := s.decode(lit)
		if err != nil {
			return err
		}
		switch {
		case sym < 256:
			if len(s.out) >= MaxBuffer-1 {
				return fmt.Errorf("inflated data reaches %d bytes (the client's buffer)", MaxBuffer)
			}
			s.out = append(s.out, byte(sym))
			continue
		case sym == 256:
			return nil
		case sym > 285:
			return fmt.Errorf("inflate: invalid length symbol %d", sym)
		}
		sym -= 257
		extra, err := s.bits(lenExtra[sym])
		if err != nil {
			return err
		}
		length := lenBase[sym] + extra
		dsym, err := s.decode(dist)
		if err != nil {
			return err
		}
		if dsym >= 30 {
			return fmt.Errorf("inflate: invalid distance symbol %d", dsym)
		}
		if extra, err = s.bits(distExtr[dsym]); err != nil {
			return err
		}
		d := distBase[dsym] + extra
		if d > len(s.out) {
			return errors.New("inflate: distance reaches before the start of the output")
		}
		if len(s.out)+length >= MaxBuffer {
			return fmt.Errorf("inflated data reaches %d bytes (the client's buffer)", MaxBuffer)
		}
		// Byte by byte: the copy may overlap what it produces.
		for i := 0; i < length; i++ {
			s.out = append(s.out, s.out[len(s.out)-d])
		}
	}
}

// clOrder is the order in which code length code lengths are sent.
var clOrder = [19]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// dynamic reads the code descriptions of a block type 2, then its data.
func (s *inflater) dynamic() error {
	var hdr [3]int
	for i, n := range []uint{5, 5, 4} {
		v, err := s.bits(n)
		if err != nil {
			return err
		}
		hdr[i] = v
	}
	nlen, ndist, ncode := hdr[0]+257, hdr[1]+1, hdr[2]+4
	if nlen > 286 || ndist > 30 {
		return errors.New("inflate: bad code counts")
	}
	var clLens [19]int
	for i := 0; i < ncode; i++ {
		v, err := s.bits(3)
		if err != nil {
			return err
		}
		clLens[clOrder[i]] = v
	}
	cl, err := newHuffman(clLens[:])
	if err != nil {
		return err
	}
	lengths := make([]int, 0, nlen+ndist)
	for len(lengths) < nlen+ndist {
		sym, err := s.decode(cl)
		if err != nil {
			return err
		}
		if sym < 16 {
			lengths = append(lengths, sym)
			continue
		}
		rep, fill := 0, 0
		var v int
		switch sym {
		case 16:
			if len(lengths) == 0 {
				return errors.New("inflate: repeat with no previous length")
			}
			fill = lengths[len(lengths)-1]
			v, err = s.bits(2)
			rep = 3 + v
		case 17:
			v, err = s.bits(3)
			rep = 3 + v
		default:
			v, err = s.bits(7)
			rep = 11 + v
		}
		if err != nil {
			return err
		}
		if len(lengths)+rep > nlen+ndist {
			return errors.New("inflate: code lengths overflow")
		}
		for ; rep > 0; rep-- {
			lengths = append(lengths, fill)
		}
	}
	if lengths[256] == 0 {
		return errors.New("inflate: no end-of-block code")
	}
	lit, err := newHuffman(lengths[:nlen])
	if err != nil {
		return err
	}
	dist, err := newHuffman(lengths[nlen:])
	if err != nil {
		return err
	}
	return s.codes(lit, dist)
}
