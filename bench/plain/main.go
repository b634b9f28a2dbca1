// Command plain serves one file from memory with a bare net/http handler
// and the same set of headers the registry sends: the load script's
// measure of what net/http itself costs, apart from the registry's own
// work.
//
//	plain FILE CONTENT-TYPE ADDR
package main

import (
	"log"
	"net/http"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) != 4 {
		log.Fatal("usage: plain FILE CONTENT-TYPE ADDR")
	}
	body, err := os.ReadFile(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	fixed := map[string][]string{
		"Content-Type":                {os.Args[2]},
		"Content-Length":              {strconv.Itoa(len(body))},
		"ETag":                        {`"0123456789abcdef"`},
		"Cache-Control":               {"max-age=60"},
		"Expires":                     {"Thu, 01 Jan 2037 00:00:00 GMT"},
		"Access-Control-Allow-Origin": {"*"},
		"Server":                      {"Nessemble"},
		"X-Response-Time":             {"0.000"},
		"X-RateLimit-Limit":           {"100000000"},
		"X-RateLimit-Remaining":       {"99999999"},
		"X-RateLimit-Reset":           {"2114380800"},
		"Retry-After":                 {"60"},
	}
	log.Fatal(http.ListenAndServe(os.Args[3], http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		for k, v := range fixed {
			h[k] = v
		}
		w.Write(body)
	})))
}
