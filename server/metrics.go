package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nessemble/nessemble-registry/registry"
)

// Prometheus metrics, on when Config.Metrics is set. Cached reads, the
// bulk of the traffic, are counted apart (readMetrics): a library
// counter or histogram is one set of atomic words that every core
// writes, and on two cores serving the same route their cache lines
// bounced between them at each request (0.5 µs of CPU a read, 5 % of
// a cached read's cost, in BenchmarkAnswerFastParallel). Everything
// else pays the library's label lookup, small beside what net/http
// costs it.

const metricPrefix = "nessemble_registry_"

// Latency buckets from 50 µs (a cached read) to 10 s (a slow publish).
var latencyBuckets = [...]float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// routeUnmatched labels requests answered before reaching a route: no
// such endpoint, a wrong method, a CORS preflight, a refusal by the rate
// limiter, a bad Host or API version.
const routeUnmatched = "unmatched"

// Help texts, shared by the library's series and readMetrics' (a scrape
// merges both into one family, which must have one help).
const (
	requestsHelp = "HTTP requests answered, by route pattern and status."
	latencyHelp  = "Time from reading a request to its answer, by route pattern."
	answersHelp  = "Cached reads answered, from the answer cache or rendered."
)

type metrics struct {
	requests    *prometheus.CounterVec   // route, status; cached reads' 200 and 304 are in reads
	latency     *prometheus.HistogramVec // route; not the cached reads'
	reads       map[string]*readMetrics  // by route pattern
	rendered    prometheus.Counter
	publishes   *prometheus.CounterVec // result
	logins      *prometheus.CounterVec // result
	resets      *prometheus.CounterVec // step, result
	rateLimited prometheus.Counter
}

// readMetrics counts one cached read route: its 200 and 304 answers,
// its latency and its answers from the cache, in shards that the
// connections share out by number, so that two cores seldom write the
// same cache line. A scrape adds the shards up (readCollector).
type readMetrics struct {
	pattern string
	shards  [readShards]readShard
}

const readShards = 16

// readShard is one share of a route's counts, padded to a multiple of
// 64 bytes (a cache line).
type readShard struct {
	ok, notModified, fromCache, sumNanos atomic.Uint64
	buckets                              [len(latencyBuckets) + 1]atomic.Uint64 // the last one: above every bound
	_                                    [64 - (4+len(latencyBuckets)+1)*8%64]byte
}

func newMetrics(reg prometheus.Registerer, s *Server) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricPrefix + "http_requests_total",
			Help: requestsHelp}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: metricPrefix + "http_request_duration_seconds",
			Help: latencyHelp, Buckets: latencyBuckets[:]}, []string{"route"}),
		reads: make(map[string]*readMetrics),
		rendered: prometheus.NewCounter(prometheus.CounterOpts{Name: metricPrefix + "read_answers_total",
			Help: answersHelp, ConstLabels: prometheus.Labels{"source": "rendered"}}),
		publishes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricPrefix + "publishes_total",
			Help: "Publish requests: accepted, or the reason they were refused."}, []string{"result"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricPrefix + "logins_total",
			Help: "Login requests: succeeded, failed, or locked_out (throttled)."}, []string{"result"}),
		resets: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricPrefix + "password_resets_total",
			Help: "Password reset requests (step request or complete): ok or refused."}, []string{"step", "result"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{Name: metricPrefix + "rate_limited_total",
			Help: "Requests refused by the per-address rate limit."}),
	}
	reg.MustRegister(m.requests, m.latency, readCollector{m}, m.rendered, m.publishes, m.logins, m.resets, m.rateLimited,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: metricPrefix + "cache_entries", Help: "Answers held in the answer cache."},
			func() float64 { n, _ := s.cache.stats(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: metricPrefix + "cache_bytes", Help: "Bytes the answer cache counts for its answers."},
			func() float64 { _, b := s.cache.stats(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: metricPrefix + "build_info", Help: "Always 1; the version label is the server's.",
			ConstLabels: prometheus.Labels{"version": s.cfg.Version}}, func() float64 { return 1 }),
	)
	// Zero series are shown from the start, so that rate() works from the
	// first scrape.
	m.publishes.WithLabelValues("accepted")
	for _, r := range []string{"succeeded", "failed", "locked_out"} {
		m.logins.WithLabelValues(r)
	}
	if s.cfg.Stats != nil {
		reg.MustRegister(&dataCollector{stats: s.cfg.Stats, log: s.log})
	}
	return m
}

// forRead makes the counts of the cached read route pattern.
func (m *metrics) forRead(pattern string) *readMetrics {
	rm := &readMetrics{pattern: pattern}
	m.reads[pattern] = rm
	return rm
}

// count counts one answer of the route, in the shard of connection conn
// (0 for net/http's).
func (rm *readMetrics) count(conn uint64, notModified, fromCache bool, start time.Time) {
	sh := &rm.shards[conn%readShards]
	if notModified {
		sh.notModified.Add(1)
	} else {
		sh.ok.Add(1)
	}
	if fromCache {
		sh.fromCache.Add(1)
	}
	sh.observe(time.Since(start))
}

func (sh *readShard) observe(d time.Duration) {
	// Bounds are inclusive (Prometheus' "le"): the first bound >= d.
	sh.buckets[sort.SearchFloat64s(latencyBuckets[:], d.Seconds())].Add(1)
	sh.sumNanos.Add(uint64(max(d, 0)))
}

// request counts one request answered through net/http.
func (m *metrics) request(route string, status int, start time.Time) {
	if route == "" {
		route = routeUnmatched
	}
	if rm := m.reads[route]; rm != nil {
		switch status {
		case http.StatusOK, http.StatusNotModified:
			rm.count(0, status == http.StatusNotModified, false, start)
			return
		}
		rm.shards[0].observe(time.Since(start))
	} else {
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	}
	m.requests.WithLabelValues(route, statusLabel(status)).Inc()
}

// readCollector reports the cached reads' counts, each the sum of its
// route's shards, as series of the families the library's collectors
// hold for the other routes. It is unchecked (describes nothing): its
// series have the same names as theirs, which a checked collector may
// not.
type readCollector struct{ m *metrics }

var readDescs = struct{ requests, latency, fromCache *prometheus.Desc }{
	prometheus.NewDesc(metricPrefix+"http_requests_total", requestsHelp, []string{"route", "status"}, nil),
	prometheus.NewDesc(metricPrefix+"http_request_duration_seconds", latencyHelp, []string{"route"}, nil),
	prometheus.NewDesc(metricPrefix+"read_answers_total", answersHelp, nil, prometheus.Labels{"source": "cache"}),
}

func (readCollector) Describe(chan<- *prometheus.Desc) {}

func (rc readCollector) Collect(ch chan<- prometheus.Metric) {
	var fromCache uint64
	for _, rm := range rc.m.reads {
		var ok, notModified, sumNanos uint64
		var buckets [len(latencyBuckets) + 1]uint64
		for i := range rm.shards {
			sh := &rm.shards[i]
			ok += sh.ok.Load()
			notModified += sh.notModified.Load()
			fromCache += sh.fromCache.Load()
			sumNanos += sh.sumNanos.Load()
			for j := range buckets {
				buckets[j] += sh.buckets[j].Load()
			}
		}
		ch <- prometheus.MustNewConstMetric(readDescs.requests, prometheus.CounterValue, float64(ok), rm.pattern, "200")
		ch <- prometheus.MustNewConstMetric(readDescs.requests, prometheus.CounterValue, float64(notModified), rm.pattern, "304")
		cumulative := make(map[float64]uint64, len(latencyBuckets))
		var count uint64
		for j, bound := range latencyBuckets {
			count += buckets[j]
			cumulative[bound] = count
		}
		count += buckets[len(latencyBuckets)]
		ch <- prometheus.MustNewConstHistogram(readDescs.latency, count, float64(sumNanos)/1e9, cumulative, rm.pattern)
	}
	ch <- prometheus.MustNewConstMetric(readDescs.fromCache, prometheus.CounterValue, float64(fromCache))
}

// statusLabel formats a status without allocating for the usual ones.
func statusLabel(status int) string {
	if status >= 100 && status < 600 {
		return statusLabels[status-100]
	}
	return strconv.Itoa(status)
}

var statusLabels = func() (l [500]string) {
	for i := range l {
		l[i] = strconv.Itoa(i + 100)
	}
	return l
}()

// Outcome counters of the routes that change state.
type outcome int

const (
	outPublish outcome = iota + 1
	outLogin
	outResetRequest
	outResetComplete
)

// counted is h, counting its outcome in the metrics when they are on.
func (s *Server) counted(what outcome, h handler) handler {
	if s.m == nil {
		return h
	}
	return func(c *call) error {
		err := h(c)
		s.m.outcome(what, err)
		return err
	}
}

func (m *metrics) outcome(what outcome, err error) {
	switch what {
	case outPublish:
		r := "accepted"
		if err != nil {
			r = refusalReason(err)
		}
		m.publishes.WithLabelValues(r).Inc()
	case outLogin:
		var re *registry.Error
		switch {
		case err == nil:
			m.logins.WithLabelValues("succeeded").Inc()
		case errors.As(err, &re) && re.Kind == registry.TooMany:
			m.logins.WithLabelValues("locked_out").Inc()
		default:
			m.logins.WithLabelValues("failed").Inc()
		}
	case outResetRequest, outResetComplete:
		step, r := "request", "ok"
		if what == outResetComplete {
			step = "complete"
		}
		if err != nil {
			r = "refused"
		}
		m.resets.WithLabelValues(step, r).Inc()
	}
}

// refusalReason names why a request was refused, from the status the
// error sink gives it: one word per kind of refusal, so the label's
// values are few.
func refusalReason(err error) string {
	var ae *apiError
	var re *registry.Error
	var mbe *http.MaxBytesError
	status := 0
	switch {
	case errors.As(err, &ae):
		status = ae.status
	case errors.As(err, &re):
		status = kindStatus[re.Kind]
	case errors.As(err, &mbe):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, registry.ErrNoSpace):
		return "disk_full"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	if r, ok := statusReasons[status]; ok {
		return r
	}
	return "internal_error"
}

var statusReasons = map[int]string{
	http.StatusBadRequest:            "invalid",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "wrong_method",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "too_large",
	http.StatusUnprocessableEntity:   "refused",
	http.StatusTooManyRequests:       "too_many",
}

// dataCollector reports what the data folder holds, asked at each scrape.
type dataCollector struct {
	stats func(context.Context) (registry.Stats, error)
	log   *slog.Logger
}

var dataDescs = struct{ packages, versions, users, dbBytes, tarBytes *prometheus.Desc }{
	prometheus.NewDesc(metricPrefix+"packages", "Packages in the registry.", nil, nil),
	prometheus.NewDesc(metricPrefix+"versions", "Versions in the registry.", nil, nil),
	prometheus.NewDesc(metricPrefix+"users", "User accounts.", nil, nil),
	prometheus.NewDesc(metricPrefix+"database_bytes", "Size of the SQLite database and its write-ahead log.", nil, nil),
	prometheus.NewDesc(metricPrefix+"tarball_bytes", "Size of the tarballs the versions name.", nil, nil),
}

func (d *dataCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- dataDescs.packages
	ch <- dataDescs.versions
	ch <- dataDescs.users
	ch <- dataDescs.dbBytes
	ch <- dataDescs.tarBytes
}

func (d *dataCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := d.stats(ctx)
	if err != nil {
		// The scrape shows the error; the log says why.
		d.log.Error("metrics: could not count the data folder", "err", err)
		ch <- prometheus.NewInvalidMetric(dataDescs.packages, err)
		return
	}
	for _, v := range []struct {
		d *prometheus.Desc
		n int64
	}{{dataDescs.packages, st.Packages}, {dataDescs.versions, st.Versions}, {dataDescs.users, st.Users},
		{dataDescs.dbBytes, st.DatabaseBytes}, {dataDescs.tarBytes, st.TarballBytes}} {
		ch <- prometheus.MustNewConstMetric(v.d, prometheus.GaugeValue, float64(v.n))
	}
}
