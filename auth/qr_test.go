package auth_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/auth"
)

func otpQR(t *testing.T, user string) *auth.QRCode {
	t.Helper()
	q, err := auth.QR(auth.OTPAuthURL(user, resetToken))
	if err != nil {
		t.Fatalf("QR for user %q: %v", user, err)
	}
	return q
}

// TestQRStructure checks the fixed patterns every QR code has, which pins
// down the quiet zone, the orientation and the coordinate convention.
func TestQRStructure(t *testing.T) {
	q := otpQR(t, strings.Repeat("u", 32))
	size := q.Size()
	n := size - 2 // without the quiet zone
	if size >= 128 || n < 21 || (n-17)%4 != 0 {
		t.Fatalf("side %d is not a QR size plus a quiet zone of 1", size)
	}
	for i := range size {
		for _, p := range [][2]int{{i, 0}, {i, size - 1}, {0, i}, {size - 1, i}} {
			if q.Dark(p[0], p[1]) {
				t.Fatalf("quiet-zone module %v is dark", p)
			}
		}
	}
	// Finder patterns: top-left, top-right, bottom-left corners.
	for _, origin := range [][2]int{{1, 1}, {1 + n - 7, 1}, {1, 1 + n - 7}} {
		for dy := range 7 {
			for dx := range 7 {
				ring := max(abs(dx-3), abs(dy-3))
				want := ring != 2 // dark outer ring and centre, light ring between
				if got := q.Dark(origin[0]+dx, origin[1]+dy); got != want {
					t.Fatalf("finder at %v: module (%d,%d) dark=%v, want %v", origin, dx, dy, got, want)
				}
			}
		}
	}
	// Timing patterns alternate along row 6 and column 6, dark on even.
	for i := 8; i < n-8; i++ {
		if q.Dark(1+i, 1+6) != (i%2 == 0) || q.Dark(1+6, 1+i) != (i%2 == 0) {
			t.Fatalf("timing pattern broken at %d", i)
		}
	}
	// The always-dark module sits beside the bottom-left finder.
	if !q.Dark(1+8, 1+n-8) {
		t.Error("the dark module is missing")
	}
	// Both copies of the format information, read most significant bit
	// first as a decoder does, must hold the same valid BCH word for
	// level M. A transposed or mirrored matrix would fail here.
	read := func(cells [][2]int) int {
		w := 0
		for _, c := range cells {
			w <<= 1
			if q.Dark(1+c[0], 1+c[1]) {
				w |= 1
			}
		}
		return w
	}
	var copy1, copy2 [][2]int
	for _, x := range []int{0, 1, 2, 3, 4, 5, 7, 8} {
		copy1 = append(copy1, [2]int{x, 8})
	}
	for _, y := range []int{7, 5, 4, 3, 2, 1, 0} {
		copy1 = append(copy1, [2]int{8, y})
	}
	for i := 1; i <= 7; i++ {
		copy2 = append(copy2, [2]int{8, n - i})
	}
	for x := n - 8; x < n; x++ {
		copy2 = append(copy2, [2]int{x, 8})
	}
	w1, w2 := read(copy1), read(copy2)
	data := (w1 ^ 0x5412) >> 10
	if w1 != w2 || formatWord(data) != w1 || data>>3 != 0b00 {
		t.Errorf("format information %015b / %015b is not a level-M format word", w1, w2)
	}
	if q.Dark(-1, 0) || q.Dark(0, -1) || q.Dark(size, 0) || q.Dark(0, size) {
		t.Error("modules outside the code are dark")
	}
}

func TestQRData(t *testing.T) {
	for _, user := range []string{"al", strings.Repeat("u", 32), strings.Repeat("é", 127)} {
		q := otpQR(t, user)
		raw, err := base64.StdEncoding.DecodeString(q.Data())
		if err != nil {
			t.Fatal(err)
		}
		size := int(raw[0])
		if size != q.Size() || size >= 128 {
			t.Fatalf("side byte %d, Size() %d", size, q.Size())
		}
		if want := 1 + (size*size+7)/8; len(raw) != want {
			t.Fatalf("data is %d bytes, want %d", len(raw), want)
		}
		bits := raw[1:]
		for y := range size {
			for x := range size {
				i := y*size + x
				dark := bits[i/8]>>(7-i%8)&1 == 1
				if dark != q.Dark(x, y) {
					t.Fatalf("user %q: module (%d,%d) is %v in Data, %v in Dark", user, x, y, dark, q.Dark(x, y))
				}
			}
		}
		if pad := size * size % 8; pad != 0 && bits[len(bits)-1]&(0xff>>pad) != 0 {
			t.Errorf("padding bits of the last byte are not zero: %08b", bits[len(bits)-1])
		}
	}
}

func TestQRPNG(t *testing.T) {
	q := otpQR(t, "alice")
	for _, scale := range []int{1, 3, 8} {
		b, err := q.PNG(scale)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		side := q.Size() * scale
		if r := img.Bounds(); r.Min.X != 0 || r.Min.Y != 0 || r.Dx() != side || r.Dy() != side {
			t.Fatalf("scale %d: bounds %v, want %dx%d", scale, r, side, side)
		}
		for py := range side {
			for px := range side {
				g := color.GrayModel.Convert(img.At(px, py)).(color.Gray).Y
				dark := q.Dark(px/scale, py/scale)
				if dark && g != 0 || !dark && g != 255 {
					t.Fatalf("scale %d: pixel (%d,%d) is gray %d, module dark=%v", scale, px, py, g, dark)
				}
			}
		}
	}
	for _, scale := range []int{0, -1, 65} {
		if _, err := q.PNG(scale); err == nil {
			t.Errorf("PNG(%d) succeeded", scale)
		}
	}
}

func TestQRSizeLimit(t *testing.T) {
	// The longest usernames the headers allow still fit.
	for _, user := range []string{strings.Repeat("u", 254), strings.Repeat("é", 127), strings.Repeat(":", 254)} {
		if q := otpQR(t, user); q.Size() >= 128 {
			t.Errorf("side %d for a %d-byte username", q.Size(), len(user))
		}
	}
	_, err := auth.QR(strings.Repeat("a", 1500))
	if !errors.Is(err, auth.ErrQRTooLarge) {
		t.Errorf("QR of 1500 bytes: %v, want ErrQRTooLarge", err)
	}
	if _, err := auth.QR(strings.Repeat("a", 5000)); err == nil {
		t.Error("QR of 5000 bytes succeeded")
	}
}

// formatWord returns the masked BCH(15,5) format word of the 5 data bits
// (error-correction level and mask pattern) of a QR code.
func formatWord(data int) int {
	rem := data << 10
	for bit := 14; bit >= 10; bit-- {
		if rem&(1<<bit) != 0 {
			rem ^= 0x537 << (bit - 10)
		}
	}
	return (data<<10 | rem) ^ 0x5412
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
