// Command publish measures publish throughput: publishers at once, each
// publishing its own packages through the HTTP API, spread over one or
// more replicas. For bench/replicas.sh.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"log"
	"strings"
	"sync"
	"time"

	"github.com/nessemble/nessemble-registry/internal/nesclient"
)

func main() {
	registries := flag.String("registries", "http://127.0.0.1:8000", "registry URLs, comma-separated: the publishers are spread over them")
	publishers := flag.Int("publishers", 8, "publishers at once")
	each := flag.Int("each", 25, "versions each publisher publishes")
	prefix := flag.String("prefix", "pub", "title prefix, so that runs on one database do not collide")
	flag.Parse()
	urls := strings.Split(*registries, ",")

	first := nesclient.Client{Registry: urls[0], Timeout: 30 * time.Second}
	user, pass := *prefix+"-user", "bench-password"
	if _, err := first.CreateUser("Bench", user, user+"@example.org", pass); err != nil {
		log.Fatalf("create user: %v", err)
	}
	token, err := first.Login(user, pass)
	if err != nil {
		log.Fatalf("login: %v", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, *publishers)
	start := time.Now()
	for p := range *publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := nesclient.Client{Registry: urls[p%len(urls)], Timeout: 30 * time.Second}
			title := fmt.Sprintf("%s-%03d", *prefix, p)
			for v := range *each {
				if _, err := c.Publish(user, token, upload(title, fmt.Sprintf("1.%d.0", v), user)); err != nil {
					errs <- fmt.Errorf("publish %s 1.%d.0 on %s: %w", title, v, c.Registry, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		log.Fatal(err)
	}
	n := *publishers * *each
	fmt.Printf("%d publishes on %d replica(s) in %.2f s: %.0f/s\n", n, len(urls), took.Seconds(), float64(n)/took.Seconds())
}

// upload builds a tarball as a user would pack it.
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
