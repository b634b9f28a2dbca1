package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestReadMetricsAddUp: cached reads answered at once on many
// connections, by the fast path and by net/http, are counted exactly,
// across the shards, with their latencies and cache hits, and a scrape
// merges them with the library's series into valid families.
func TestReadMetricsAddUp(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newFrontEnv(t, Config{RateLimit: -1, Metrics: reg})
	read := func(c net.Conn, br *bufio.Reader) error {
		io.WriteString(c, "GET /package/pad HTTP/1.1\r\nHost: registry\r\n\r\n")
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, res.Body)
		if res.StatusCode != 200 {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	}
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(20 * time.Second))
		return c, bufio.NewReader(c)
	}
	// One read first, so that the parallel ones all find it cached.
	if err := read(dial()); err != nil {
		t.Fatalf("first read: %v", err)
	}
	const conns, each = 20, 25
	var wg sync.WaitGroup
	for range conns {
		c, br := dial()
		wg.Go(func() {
			for range each {
				if err := read(c, br); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// net/http's path: HTTP/1.0 is not the fast path's.
	for _, target := range []string{"/package/pad", "/package/nosuch"} {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET "+target+" HTTP/1.0\r\nHost: registry\r\n\r\n")
		io.Copy(io.Discard, c)
		c.Close()
	}

	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	got := func(name string, labels ...string) float64 {
		for _, f := range fams {
			if f.GetName() != name {
				continue
			}
			for _, m := range f.Metric {
				if hasLabels(m, labels) {
					if h := m.GetHistogram(); h != nil {
						return float64(h.GetSampleCount())
					}
					return m.GetCounter().GetValue()
				}
			}
		}
		return -1
	}
	const reads = 1 + conns*each + 1
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"nessemble_registry_http_requests_total", []string{"route", "/package/*path", "status", "200"}, reads},
		{"nessemble_registry_http_requests_total", []string{"route", "/package/*path", "status", "304"}, 0},
		{"nessemble_registry_http_requests_total", []string{"route", "/package/*path", "status", "404"}, 1},
		{"nessemble_registry_http_request_duration_seconds", []string{"route", "/package/*path"}, reads + 1},
		{"nessemble_registry_read_answers_total", []string{"source", "rendered"}, 1},
		{"nessemble_registry_read_answers_total", []string{"source", "cache"}, reads - 1},
	} {
		if g := got(tc.name, tc.labels...); g != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, g, tc.want)
		}
	}
}

func hasLabels(m *dto.Metric, labels []string) bool {
	if len(m.Label) != len(labels)/2 {
		return false
	}
	for i := 0; i < len(labels); i += 2 {
		found := false
		for _, l := range m.Label {
			found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
		}
		if !found {
			return false
		}
	}
	return true
}
