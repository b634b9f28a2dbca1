package auth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"github.com/boombuler/barcode/qr"
)

// MaxQRSide bounds the side of a QR code, quiet zone included: the client
// reads it from one signed byte.
const MaxQRSide = 127

// quietZone is the light margin, in modules, kept on each side.
const quietZone = 1

// maxPNGScale bounds the pixels per module of QRCode.PNG.
const maxPNGScale = 64

// ErrQRTooLarge is returned when content needs a QR code wider than
// MaxQRSide modules.
var ErrQRTooLarge = errors.New("auth: content too long for a QR code")

// QRCode is the module matrix of a QR code with its quiet zone.
type QRCode struct {
	size int
	dark []bool // size*size modules, row by row
}

// QR encodes content as a QR code with its quiet zone. Level M (15%
// recovery) keeps otpauth URLs well under MaxQRSide: 59 modules for a
// 32-character username and a 64-character token, 119 for a 254-byte
// username that must be percent-encoded throughout.
func QR(content string) (*QRCode, error) {
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("auth: encode QR code: %w", err)
	}
	b := code.Bounds()
	n := b.Dx()
	size := n + 2*quietZone
	if size > MaxQRSide {
		return nil, ErrQRTooLarge
	}
	q := &QRCode{size: size, dark: make([]bool, size*size)}
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			c := color.GrayModel.Convert(code.At(b.Min.X+x, b.Min.Y+y)).(color.Gray)
			q.dark[(y+quietZone)*size+x+quietZone] = c.Y < 128
		}
	}
	return q, nil
}

// Size returns the side of the code in modules, quiet zone included.
func (q *QRCode) Size() int { return q.size }

// Dark reports whether the module at column x, row y is dark. Modules
// outside the code are light.
func (q *QRCode) Dark(x, y int) bool {
	if x < 0 || y < 0 || x >= q.size || y >= q.size {
		return false
	}
	return q.dark[y*q.size+x]
}

// Data returns the code in the form the client draws: standard base64 of
// one byte holding the side, then the modules row by row, 1 for dark,
// eight per byte with the most significant bit first and the last byte
// padded with zero bits.
func (q *QRCode) Data() string {
	buf := make([]byte, 1+(len(q.dark)+7)/8)
	buf[0] = byte(q.size)
	for i, d := range q.dark {
		if d {
			buf[1+i/8] |= 0x80 >> (i % 8)
		}
	}
	return base64.StdEncoding.EncodeToString(buf)
}

// PNG renders the code black on white, each module scale by scale pixels,
// so the image is exactly Size()*scale pixels square.
func (q *QRCode) PNG(scale int) ([]byte, error) {
	if scale < 1 || scale > maxPNGScale {
		return nil, fmt.Errorf("auth: QR scale out of range 1..%d", maxPNGScale)
	}
	side := q.size * scale
	palette := color.Palette{color.White, color.Black}
	img := image.NewPaletted(image.Rect(0, 0, side, side), palette)
	for py := 0; py < side; py++ {
		row := img.Pix[py*img.Stride : py*img.Stride+side]
		for px := range row {
			if q.dark[(py/scale)*q.size+px/scale] {
				row[px] = 1
			}
		}
	}
	var out bytes.Buffer
	if err := png.Encode(&out, img); err != nil {
		return nil, fmt.Errorf("auth: encode PNG: %w", err)
	}
	return out.Bytes(), nil
}
