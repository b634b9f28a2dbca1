package auth

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
)

// macSize is the length of an HMAC-SHA1 digest in bytes.
const macSize = sha1.Size

// Sign returns the lowercase hex HMAC-SHA1 of method+"+"+route keyed by
// key, as the nessemble client computes it. route is the bare route (for
// example /package/publish) whatever prefix the request was sent to.
func Sign(key, method, route string) string {
	return hex.EncodeToString(mac(key, method, route))
}

// Verify reports whether got is the HMAC of method and route under key.
// The comparison takes constant time.
func Verify(key, method, route string, got []byte) bool {
	return hmac.Equal(mac(key, method, route), got)
}

func mac(key, method, route string) []byte {
	m := hmac.New(sha1.New, []byte(key))
	m.Write([]byte(method + "+" + route))
	return m.Sum(nil)
}
