package archive

import (
	"slices"
)

// This file holds a small DEFLATE (RFC 1951) encoder written for one
// client: the nessemble inflater misreads stored blocks, and Go's
// compress/flate ends every stream with an empty stored block. The encoder
// below therefore only ever writes Huffman-coded blocks (fixed or dynamic),
// and every Huffman code it writes is complete, so that even a minimal
// table-driven inflater decodes it.

// Block types as they appear in the BTYPE field of a block header.
const (
	BlockStored  = 0
	BlockFixed   = 1
	BlockDynamic = 2
)

const (
	deflateWindow   = 32 * 1024 // farthest distance a match may reach back
	deflateMinMatch = 3
	deflateMaxMatch = 258
	deflateHashBits = 15
	deflateMaxChain = 256       // candidates tried per position; bounds the work
	maxBlockTokens  = 16 * 1024 // tokens per block, so codes adapt to the data
	numLitLen       = 286       // literal/length symbols that may appear
	numDist         = 30        // distance symbols that may appear
	endOfBlock      = 256
)

var (
	lengthBase  = [29]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}

	// Order in which a dynamic header lists the code-length code lengths.
	codeLengthOrder = [19]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// lengthCode returns the index (symbol - 257) of the length symbol for a
// match length of 3..258.
func lengthCode(length int) int {
	c := len(lengthBase) - 1
	for lengthBase[c] > length {
		c--
	}
	return c
}

// distCode returns the distance symbol for a distance of 1..32768.
func distCode(dist int) int {
	c := len(distBase) - 1
	for distBase[c] > dist {
		c--
	}
	return c
}

// Deflate compresses data into a raw DEFLATE stream made only of
// Huffman-coded blocks, the last one marked final, with no stored block
// even for incompressible data. The output depends only on data.
func Deflate(data []byte) []byte {
	tokens := lz77(data)
	var w bitWriter
	// Always at least one block, so empty input still gets a final block.
	for start := 0; ; start += maxBlockTokens {
		end := min(start+maxBlockTokens, len(tokens))
		writeBlock(&w, tokens[start:end], end == len(tokens))
		if end == len(tokens) {
			break
		}
	}
	return w.bytes()
}

// token is a literal byte (dist == 0, value in length) or a match of
// length bytes starting dist bytes back.
type token struct {
	length uint16
	dist   uint16
}

// lz77 turns data into literals and back-references, using hash chains
// over 3-byte prefixes and one step of lazy matching.
func lz77(data []byte) []token {
	n := len(data)
	head := make([]int32, 1<<deflateHashBits)
	for i := range head {
		head[i] = -1
	}
	prev := make([]int32, n)
	hash := func(i int) uint32 {
		v := uint32(data[i])<<16 | uint32(data[i+1])<<8 | uint32(data[i+2])
		return (v * 2654435761) >> (32 - deflateHashBits)
	}
	insert := func(i int) {
		if i+deflateMinMatch <= n {
			h := hash(i)
			prev[i] = head[h]
			head[h] = int32(i)
		}
	}
	// find returns the longest earlier match for position i; the nearest
	// one wins ties, which keeps distances (and their extra bits) small.
	find := func(i int) (length, dist int) {
		if i+deflateMinMatch > n {
			return 0, 0
		}
		limit := min(deflateMaxMatch, n-i)
		chain := 0
		for c := int(head[hash(i)]); c >= 0 && i-c <= deflateWindow && chain < deflateMaxChain; c = int(prev[c]) {
			chain++
			if data[c+length] != data[i+length] {
				continue // cannot beat the current best
			}
			l := 0
			for l < limit && data[c+l] == data[i+l] {
				l++
			}
			if l > length {
				length, dist = l, i-c
				if l == limit {
					break
				}
			}
		}
		if length < deflateMinMatch {
			return 0, 0
		}
		return length, dist
	}

	tokens := make([]token, 0, n/2+1)
	for i := 0; i < n; {
		length, dist := find(i)
		insert(i)
		if length > 0 && i+1 < n {
			// Lazy matching: if the next position starts a longer match,
			// a literal here pays for itself.
			if next, _ := find(i + 1); next > length {
				tokens = append(tokens, token{length: uint16(data[i])})
				i++
				continue
			}
		}
		if length == 0 {
			tokens = append(tokens, token{length: uint16(data[i])})
			i++
			continue
		}
		tokens = append(tokens, token{length: uint16(length), dist: uint16(dist)})
		for k := i + 1; k < i+length; k++ {
			insert(k)
		}
		i += length
	}
	return tokens
}

// huffCode is a prefix code: a bit length per symbol and the code itself,
// stored bit-reversed because DEFLATE packs Huffman codes MSB first into an
// LSB-first bit stream.
type huffCode struct {
	lens  []uint8
	codes []uint16
}

// newHuffCode assigns canonical codes (RFC 1951 section 3.2.2) to lens.
func newHuffCode(lens []uint8) huffCode {
	var count [16]int
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	var next [16]int
	code := 0
	for bits := 1; bits < 16; bits++ {
		code = (code + count[bits-1]) << 1
		next[bits] = code
	}
	codes := make([]uint16, len(lens))
	for s, l := range lens {
		if l == 0 {
			continue
		}
		c := next[l]
		next[l]++
		var rev uint16
		for b := 0; b < int(l); b++ {
			rev = rev<<1 | uint16(c>>b&1)
		}
		codes[s] = rev
	}
	return huffCode{lens: lens, codes: codes}
}

func (h huffCode) write(w *bitWriter, sym int) {
	w.write(uint32(h.codes[sym]), uint(h.lens[sym]))
}

// huffmanLengths returns code lengths of at most maxBits for the given
// symbol frequencies. The result is always a complete code with at least
// two symbols: a lone symbol gets a dummy partner, since a one-symbol code
// is legal DEFLATE but trips up small inflaters.
func huffmanLengths(freq []int, maxBits int) []uint8 {
	lens := make([]uint8, len(freq))
	var syms []int
	for s, f := range freq {
		if f > 0 {
			syms = append(syms, s)
		}
	}
	if len(syms) < 2 {
		for s := 0; len(syms) < 2; s++ {
			if freq[s] == 0 {
				syms = append(syms, s)
			}
		}
		for _, s := range syms {
			lens[s] = 1
		}
		return lens
	}
	f := slices.Clone(freq)
	for {
		if huffmanDepths(syms, f, lens) <= maxBits {
			return lens
		}
		// Too deep: flatten the distribution and try again. Frequencies
		// stay positive, so this ends at worst with a balanced tree.
		for _, s := range syms {
			f[s] = (f[s] + 1) / 2
		}
	}
}

// huffmanDepths builds a Huffman tree over syms (with two queues over
// leaves sorted by frequency, then symbol, so ties break the same way every
// time), stores each leaf depth in lens and returns the largest depth.
func huffmanDepths(syms []int, freq []int, lens []uint8) int {
	leaves := slices.Clone(syms)
	slices.SortStableFunc(leaves, func(a, b int) int { return freq[a] - freq[b] })
	n := len(leaves)
	weight := make([]int, 0, 2*n-1)
	for _, s := range leaves {
		weight = append(weight, freq[s])
	}
	parent := make([]int, 2*n-1)
	nextLeaf, nextInner := 0, n
	pick := func() int {
		if nextLeaf < n && (nextInner >= len(weight) || weight[nextLeaf] <= weight[nextInner]) {
			nextLeaf++
			return nextLeaf - 1
		}
		nextInner++
		return nextInner - 1
	}
	for len(weight) < 2*n-1 {
		a, b := pick(), pick()
		parent[a], parent[b] = len(weight), len(weight)
		weight = append(weight, weight[a]+weight[b])
	}
	// Parents always come after their children, so walk down from the root.
	depth := make([]int, 2*n-1)
	maxDepth := 0
	for k := 2*n - 3; k >= 0; k-- {
		depth[k] = depth[parent[k]] + 1
		if k < n {
			maxDepth = max(maxDepth, depth[k])
		}
	}
	for i, s := range leaves {
		lens[s] = uint8(depth[i])
	}
	return maxDepth
}

// Fixed codes of RFC 1951 section 3.2.6. The distance code has 32 entries
// (30 and 31 never occur) so that it is complete.
var fixedLit, fixedDist = func() (huffCode, huffCode) {
	lit := make([]uint8, 288)
	for s := range lit {
		switch {
		case s < 144:
			lit[s] = 8
		case s < 256:
			lit[s] = 9
		case s < 280:
			lit[s] = 7
		default:
			lit[s] = 8
		}
	}
	dist := make([]uint8, 32)
	for s := range dist {
		dist[s] = 5
	}
	return newHuffCode(lit), newHuffCode(dist)
}()

// codeLengthSym is one symbol of the run-length coded code lengths of a
// dynamic header: 0..15 a length, 16/17/18 a repeat with extra bits.
type codeLengthSym struct {
	sym, extra uint8
}

var codeLengthExtraBits = [19]uint{16: 2, 17: 3, 18: 7}

// runLengths run-length codes lens with the repeat symbols 16, 17 and 18.
func runLengths(lens []uint8) []codeLengthSym {
	var out []codeLengthSym
	for i := 0; i < len(lens); {
		l := lens[i]
		run := 1
		for i+run < len(lens) && lens[i+run] == l {
			run++
		}
		i += run
		if l == 0 {
			for run >= 11 {
				r := min(run, 138)
				out = append(out, codeLengthSym{18, uint8(r - 11)})
				run -= r
			}
			if run >= 3 {
				out = append(out, codeLengthSym{17, uint8(run - 3)})
				run = 0
			}
		} else {
			out = append(out, codeLengthSym{l, 0})
			run--
			for run >= 3 {
				r := min(run, 6)
				out = append(out, codeLengthSym{16, uint8(r - 3)})
				run -= r
			}
		}
		for ; run > 0; run-- {
			out = append(out, codeLengthSym{l, 0})
		}
	}
	return out
}

// dynamicBlock holds the codes and the encoded header of a dynamic block.
type dynamicBlock struct {
	lit, dist, clen huffCode
	nclen           int
	seq             []codeLengthSym
	headerBits      int
}

func newDynamicBlock(litFreq, distFreq []int) dynamicBlock {
	d := dynamicBlock{
		lit:  newHuffCode(huffmanLengths(litFreq, 15)),
		dist: newHuffCode(huffmanLengths(distFreq, 15)),
	}
	nlit := numLitLen
	for nlit > 257 && d.lit.lens[nlit-1] == 0 {
		nlit--
	}
	ndist := numDist
	for ndist > 1 && d.dist.lens[ndist-1] == 0 {
		ndist--
	}
	d.lit.lens, d.lit.codes = d.lit.lens[:nlit], d.lit.codes[:nlit]
	d.dist.lens, d.dist.codes = d.dist.lens[:ndist], d.dist.codes[:ndist]
	// The two length lists are run-length coded separately: no repeat
	// crosses from one into the other, which some inflaters do not expect.
	d.seq = append(runLengths(d.lit.lens), runLengths(d.dist.lens)...)
	clenFreq := make([]int, 19)
	for _, c := range d.seq {
		clenFreq[c.sym]++
	}
	d.clen = newHuffCode(huffmanLengths(clenFreq, 7))
	d.nclen = 19
	for d.nclen > 4 && d.clen.lens[codeLengthOrder[d.nclen-1]] == 0 {
		d.nclen--
	}
	d.headerBits = 5 + 5 + 4 + 3*d.nclen
	for _, c := range d.seq {
		d.headerBits += int(d.clen.lens[c.sym]) + int(codeLengthExtraBits[c.sym])
	}
	return d
}

func (d dynamicBlock) writeHeader(w *bitWriter) {
	w.write(uint32(len(d.lit.lens)-257), 5)
	w.write(uint32(len(d.dist.lens)-1), 5)
	w.write(uint32(d.nclen-4), 4)
	for _, s := range codeLengthOrder[:d.nclen] {
		w.write(uint32(d.clen.lens[s]), 3)
	}
	for _, c := range d.seq {
		d.clen.write(w, int(c.sym))
		if n := codeLengthExtraBits[c.sym]; n > 0 {
			w.write(uint32(c.extra), n)
		}
	}
}

// symbolBits is the size in bits of the block's symbols (and their extra
// bits) under the given codes.
func symbolBits(lit, dist huffCode, litFreq, distFreq []int) int {
	bits := 0
	// Symbols that do not occur may lie beyond a trimmed code.
	for s, f := range litFreq {
		if f == 0 {
			continue
		}
		bits += f * int(lit.lens[s])
		if s > endOfBlock {
			bits += f * int(lengthExtra[s-257])
		}
	}
	for s, f := range distFreq {
		if f == 0 {
			continue
		}
		bits += f * (int(dist.lens[s]) + int(distExtra[s]))
	}
	return bits
}

// writeBlock writes tokens as one block, fixed or dynamic, whichever is
// smaller.
func writeBlock(w *bitWriter, tokens []token, final bool) {
	litFreq := make([]int, numLitLen)
	distFreq := make([]int, numDist)
	for _, t := range tokens {
		if t.dist == 0 {
			litFreq[t.length]++
		} else {
			litFreq[257+lengthCode(int(t.length))]++
			distFreq[distCode(int(t.dist))]++
		}
	}
	litFreq[endOfBlock] = 1

	dyn := newDynamicBlock(litFreq, distFreq)
	lit, dist := fixedLit, fixedDist
	fixedBits := symbolBits(fixedLit, fixedDist, litFreq, distFreq)
	dynBits := dyn.headerBits + symbolBits(dyn.lit, dyn.dist, litFreq, distFreq)

	if final {
		w.write(1, 1)
	} else {
		w.write(0, 1)
	}
	if dynBits < fixedBits {
		w.write(BlockDynamic, 2)
		dyn.writeHeader(w)
		lit, dist = dyn.lit, dyn.dist
	} else {
		w.write(BlockFixed, 2)
	}
	for _, t := range tokens {
		if t.dist == 0 {
			lit.write(w, int(t.length))
			continue
		}
		lc := lengthCode(int(t.length))
		lit.write(w, 257+lc)
		w.write(uint32(int(t.length)-lengthBase[lc]), lengthExtra[lc])
		dc := distCode(int(t.dist))
		dist.write(w, dc)
		w.write(uint32(int(t.dist)-distBase[dc]), distExtra[dc])
	}
	lit.write(w, endOfBlock)
}

// bitWriter packs values LSB first, as DEFLATE requires.
type bitWriter struct {
	out  []byte
	acc  uint64
	nacc uint
}

func (w *bitWriter) write(v uint32, n uint) {
	w.acc |= uint64(v) << w.nacc
	w.nacc += n
	for w.nacc >= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.nacc -= 8
	}
}

// bytes flushes the last partial byte (padded with zero bits).
func (w *bitWriter) bytes() []byte {
	if w.nacc > 0 {
		w.out = append(w.out, byte(w.acc))
		w.acc, w.nacc = 0, 0
	}
	return w.out
}
