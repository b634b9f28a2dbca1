package server

import "strings"

// maxAcceptLen bounds how much of an Accept header is looked at.
const maxAcceptLen = 1024

// acceptVersion finds a version parameter in an Accept header
// ("application/json;version=1"); ok is false when there is none.
func acceptVersion(accept string) (version string, ok bool) {
	if len(accept) > maxAcceptLen {
		accept = accept[:maxAcceptLen]
	}
	for accept != "" {
		var part string
		part, accept, _ = strings.Cut(accept, ",")
		_, params, _ := strings.Cut(part, ";")
		for params != "" {
			var p string
			p, params, _ = strings.Cut(params, ";")
			k, v, _ := strings.Cut(p, "=")
			if strings.EqualFold(strings.TrimSpace(k), "version") {
				return strings.Trim(strings.TrimSpace(v), `"`), true
			}
		}
	}
	return "", false
}

// unsupportedVersion returns the API version an Accept header asks for,
// and whether it is one this registry does not speak.
func unsupportedVersion(accept string) (version string, bad bool) {
	v, ok := acceptVersion(accept)
	return v, ok && v != "1"
}

// accepts reports whether the Accept header lists mediaType, ignoring
// parameters and case; "*/*" does not count.
func accepts(accept, mediaType string) bool {
	if len(accept) > maxAcceptLen {
		accept = accept[:maxAcceptLen]
	}
	for accept != "" {
		var part string
		part, accept, _ = strings.Cut(accept, ",")
		mt, _, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(mt), mediaType) {
			return true
		}
	}
	return false
}
