package archive

// The block walker below is test support: it decodes a stream the way a
// strict inflater would and reports each block's type, so that the tests
// can prove Deflate never writes a stored block. It lives in a test file
// so that the registry binary does not carry a second inflater; being in
// package archive, it is still visible to the archive_test tests.

import (
	"errors"
	"fmt"
)

// DeflateBlockTypes decodes a raw DEFLATE stream and returns the BTYPE of
// each block in order (BlockFixed or BlockDynamic). It returns an error for
// a stored or reserved block, for any decoding error, when the stream ends
// before a final block, and when bytes follow the final block. It is
// stricter than RFC 1951 in one way that matters to the nessemble client:
// it also refuses incomplete Huffman codes, which Deflate never writes.
func DeflateBlockTypes(stream []byte) ([]int, error) {
	types, _, err := inflate(stream)
	return types, err
}

var errDeflateEOF = errors.New("deflate: unexpected end of stream")

// bitReader reads a DEFLATE stream LSB first.
type bitReader struct {
	in   []byte
	pos  int // next byte to load
	acc  uint32
	nacc uint
}

func (r *bitReader) bits(n uint) (int, error) {
	for r.nacc < n {
		if r.pos >= len(r.in) {
			return 0, errDeflateEOF
		}
		r.acc |= uint32(r.in[r.pos]) << r.nacc
		r.pos++
		r.nacc += 8
	}
	v := int(r.acc & (1<<n - 1))
	r.acc >>= n
	r.nacc -= n
	return v, nil
}

// huffDecoder decodes a canonical code one bit at a time: count[l] codes
// have length l, and symbols lists them in code order.
type huffDecoder struct {
	count   [16]int
	symbols []int
}

func newHuffDecoder(lens []uint8) (*huffDecoder, error) {
	h := &huffDecoder{}
	for _, l := range lens {
		h.count[l]++
	}
	h.count[0] = 0
	left := 1
	for l := 1; l < 16; l++ {
		left = left<<1 - h.count[l]
		if left < 0 {
			return nil, errors.New("deflate: over-subscribed Huffman code")
		}
	}
	if left > 0 {
		return nil, errors.New("deflate: incomplete Huffman code")
	}
	for l := 1; l < 16; l++ {
		for s, sl := range lens {
			if int(sl) == l {
				h.symbols = append(h.symbols, s)
			}
		}
	}
	return h, nil
}

func (h *huffDecoder) decode(r *bitReader) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		b, err := r.bits(1)
		if err != nil {
			return 0, err
		}
		code |= b
		if code-first < h.count[l] {
			return h.symbols[index+code-first], nil
		}
		index += h.count[l]
		first = (first + h.count[l]) << 1
		code <<= 1
	}
	return 0, errors.New("deflate: invalid Huffman code")
}

// inflate decodes stream, returning the block types and the output.
func inflate(stream []byte) (types []int, out []byte, err error) {
	r := &bitReader{in: stream}
	fixedLitDec, _ := newHuffDecoder(fixedLit.lens)
	fixedDistDec, _ := newHuffDecoder(fixedDist.lens)
	for {
		final, err := r.bits(1)
		if err != nil {
			return types, out, err
		}
		btype, err := r.bits(2)
		if err != nil {
			return types, out, err
		}
		var lit, dist *huffDecoder
		switch btype {
		case BlockFixed:
			lit, dist = fixedLitDec, fixedDistDec
		case BlockDynamic:
			if lit, dist, err = readDynamicHeader(r); err != nil {
				return types, out, err
			}
		case BlockStored:
			return types, out, fmt.Errorf("deflate: block %d is a stored block", len(types))
		default:
			return types, out, fmt.Errorf("deflate: block %d has reserved type 3", len(types))
		}
		types = append(types, btype)
		if out, err = inflateBlock(r, lit, dist, out); err != nil {
			return types, out, err
		}
		if final == 1 {
			break
		}
	}
	if r.pos != len(stream) {
		return types, out, fmt.Errorf("deflate: %d bytes after the final block", len(stream)-r.pos)
	}
	return types, out, nil
}

func readDynamicHeader(r *bitReader) (lit, dist *huffDecoder, err error) {
	var hdr [3]int
	for i, n := range []uint{5, 5, 4} {
		if hdr[i], err = r.bits(n); err != nil {
			return nil, nil, err
		}
	}
	nlit, ndist, nclen := hdr[0]+257, hdr[1]+1, hdr[2]+4
	if nlit > numLitLen || ndist > numDist {
		return nil, nil, errors.New("deflate: too many length or distance codes")
	}
	clenLens := make([]uint8, 19)
	for _, s := range codeLengthOrder[:nclen] {
		v, err := r.bits(3)
		if err != nil {
			return nil, nil, err
		}
		clenLens[s] = uint8(v)
	}
	clen, err := newHuffDecoder(clenLens)
	if err != nil {
		return nil, nil, err
	}
	lens := make([]uint8, 0, nlit+ndist)
	for len(lens) < nlit+ndist {
		sym, err := clen.decode(r)
		if err != nil {
			return nil, nil, err
		}
		if sym < 16 {
			lens = append(lens, uint8(sym))
			continue
		}
		var value uint8
		var repeat int
		switch sym {
		case 16:
			if len(lens) == 0 {
				return nil, nil, errors.New("deflate: repeat with no previous length")
			}
			value = lens[len(lens)-1]
			repeat, err = r.bits(2)
			repeat += 3
		case 17:
			repeat, err = r.bits(3)
			repeat += 3
		default:
			repeat, err = r.bits(7)
			repeat += 11
		}
		if err != nil {
			return nil, nil, err
		}
		if len(lens)+repeat > nlit+ndist {
			return nil, nil, errors.New("deflate: code lengths overrun")
		}
		for range repeat {
			lens = append(lens, value)
		}
	}
	if lens[endOfBlock] == 0 {
		return nil, nil, errors.New("deflate: no end-of-block code")
	}
	if lit, err = newHuffDecoder(lens[:nlit]); err != nil {
		return nil, nil, err
	}
	if dist, err = newHuffDecoder(lens[nlit:]); err != nil {
		return nil, nil, err
	}
	return lit, dist, nil
}

func inflateBlock(r *bitReader, lit, dist *huffDecoder, out []byte) ([]byte, error) {
	for {
		sym, err := lit.decode(r)
		if err != nil {
			return out, err
		}
		switch {
		case sym < endOfBlock:
			out = append(out, byte(sym))
			continue
		case sym == endOfBlock:
			return out, nil
		case sym >= numLitLen:
			return out, fmt.Errorf("deflate: invalid length symbol %d", sym)
		}
		lc := sym - 257
		extra, err := r.bits(lengthExtra[lc])
		if err != nil {
			return out, err
		}
		length := lengthBase[lc] + extra
		dc, err := dist.decode(r)
		if err != nil {
			return out, err
		}
		if dc >= numDist {
			return out, fmt.Errorf("deflate: invalid distance symbol %d", dc)
		}
		if extra, err = r.bits(distExtra[dc]); err != nil {
			return out, err
		}
		d := distBase[dc] + extra
		if d > len(out) {
			return out, errors.New("deflate: distance reaches before the start")
		}
		for range length {
			out = append(out, out[len(out)-d])
		}
	}
}
