package server

import (
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// accessLog writes one line per request, in the same shape as the slog
// text or JSON handler, but formatted by hand into a pooled buffer: slog's
// general path (a caller lookup, attribute slices) cost a tenth of the
// server's CPU per cached answer. The binary hands it a logsink.Writer's
// batched side, so that lines cost a write system call per batch.
type accessLog struct {
	w    io.Writer
	json bool
	pool sync.Pool
}

func newAccessLog(w io.Writer, json bool) *accessLog {
	if w == nil {
		return nil
	}
	return &accessLog{w: w, json: json, pool: sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}}
}

// write logs one answered request; bytes counts the body bytes sent.
func (a *accessLog) write(method, path string, status, bytes int, start time.Time, remote string) {
	bp := a.pool.Get().(*[]byte)
	b := (*bp)[:0]
	now := time.Now()
	dur := now.Sub(start)
	if a.json {
		b = append(b, `{"time":"`...)
		b = now.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","level":"INFO","msg":"request","method":`...)
		b = appendJSONString(b, method)
		b = append(b, `,"path":`...)
		b = appendJSONString(b, path)
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, `,"bytes":`...)
		b = strconv.AppendInt(b, int64(bytes), 10)
		b = append(b, `,"duration":`...)
		b = strconv.AppendInt(b, int64(dur), 10)
		b = append(b, `,"remote":`...)
		b = appendJSONString(b, remote)
		b = append(b, "}\n"...)
	} else {
		b = append(b, "time="...)
		b = now.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
		b = append(b, " level=INFO msg=request method="...)
		b = appendTextValue(b, method)
		b = append(b, " path="...)
		b = appendTextValue(b, path)
		b = append(b, " status="...)
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, " bytes="...)
		b = strconv.AppendInt(b, int64(bytes), 10)
		b = append(b, " duration="...)
		b = append(b, dur.String()...)
		b = append(b, " remote="...)
		b = appendTextValue(b, remote)
		b = append(b, '\n')
	}
	a.w.Write(b)
	*bp = b
	a.pool.Put(bp)
}

// appendTextValue quotes s as slog's text handler would: only when it
// holds spaces, quotes, '=', control or non-ASCII characters.
func appendTextValue(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '"' || c == '=' || c >= utf8.RuneSelf {
			return strconv.AppendQuote(b, s)
		}
	}
	if s == "" {
		return append(b, `""`...)
	}
	return append(b, s...)
}

// appendJSONString writes s as a JSON string (invalid UTF-8 becomes U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}
