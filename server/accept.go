package server

import (
	"strconv"
	"strings"
)

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

// prefersHTML reports whether an Accept header prefers a web page to the
// API's answers: text/html (or application/xhtml+xml) named with a
// quality above zero and at least that of application/json and
// text/plain, the earlier named winning a tie. Wildcards do not count,
// so curl's "*/*", scripts and the nessemble client keep their answers;
// every browser names text/html first.
func prefersHTML(accept string) bool {
	if len(accept) > maxAcceptLen {
		accept = accept[:maxAcceptLen]
	}
	var page, other float64 = -1, -1 // the best quality of each kind
	pageFirst := false               // a page type was named before the others
	for accept != "" {
		var part string
		part, accept, _ = strings.Cut(accept, ",")
		mt, params, _ := strings.Cut(part, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		isPage := mt == "text/html" || mt == "application/xhtml+xml"
		if !isPage && mt != "application/json" && mt != "text/plain" {
			continue
		}
		q := quality(params)
		switch {
		case isPage && q > page:
			page = q
			pageFirst = pageFirst || other < 0
		case !isPage && q > other:
			other = q
		}
	}
	return page > 0 && (page > other || page == other && pageFirst)
}

// quality is the q parameter of a media range's parameters, 1 when there
// is none, 0 when it is not a number from 0 to 1.
func quality(params string) float64 {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(q >= 0 && q <= 1) { // NaN too
			return 0
		}
		return q
	}
	return 1
}
