// Command seed fills a running registry with generated packages through
// its HTTP API, the way users publish: for the load script in bench/.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"log"
	"strings"

	"github.com/nessemble/nessemble-registry/internal/nesclient"
)

func main() {
	registry := flag.String("registry", "http://127.0.0.1:8000", "registry URL")
	packages := flag.Int("packages", 100, "packages to publish")
	versions := flag.Int("versions", 3, "versions per package")
	flag.Parse()

	cl := nesclient.Client{Registry: *registry}
	const user, pass = "bench", "bench-password"
	if _, err := cl.CreateUser("Bench Mark", user, "bench@example.org", pass); err != nil {
		log.Fatalf("create user: %v", err)
	}
	token, err := cl.Login(user, pass)
	if err != nil {
		log.Fatalf("login: %v", err)
	}
	for i := 0; i < *packages; i++ {
		for v := 0; v < *versions; v++ {
			title := fmt.Sprintf("bench-%04d", i)
			if _, err := cl.Publish(user, token, upload(title, fmt.Sprintf("1.%d.0", v), user)); err != nil {
				log.Fatalf("publish %s: %v", title, err)
			}
		}
	}
	fmt.Printf("seeded %d packages x %d versions\n", *packages, *versions)
}

// upload builds a tarball as a user would pack it: one folder holding
// lib.asm, package.json and README.md.
func upload(title, version, author string) []byte {
	files := []struct{ name, body string }{
		{"lib.asm", strings.Repeat("; "+title+" routine\n  lda #$00\n  sta $2000\n  rts\n", 20)},
		{"package.json", fmt.Sprintf(`{"title": %q, "description": "Generated package %s for load tests", "version": %q,
  "author": %q, "license": "MIT", "tags": ["bench", "generated"]}`, title, title, version, author)},
		{"README.md", "# " + title + "\n\n" + strings.Repeat("A generated package for the load script. ", 30) + "\n"},
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		tw.WriteHeader(&tar.Header{Name: "lib/" + f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(f.body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}
