package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nessemble/nessemble-registry/registry"
)

// Prometheus metrics, on when Config.Metrics is set. Cached reads are
// counted through series resolved once per route (readMetrics): a
// counter's Inc and a histogram's Observe are a few atomic adds, with no
// label lookup per request. Everything else pays one label lookup, small
// beside what net/http costs it.

const metricPrefix = "nessemble_registry_"

// Latency buckets from 50 µs (a cached read) to 10 s (a slow publish).
var latencyBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// routeUnmatched labels requests answered before reaching a route: no
// such endpoint, a wrong method, a CORS preflight, a refusal by the rate
// limiter, a bad Host or API version.
const routeUnmatched = "unmatched"

type metrics struct {
	requests    *prometheus.CounterVec   // route, status
	latency     *prometheus.HistogramVec // route
	cacheHits   prometheus.Counter
	rendered    prometheus.Counter
	publishes   *prometheus.CounterVec // result
	logins      *prometheus.CounterVec // result
	resets      *prometheus.CounterVec // step, result
	rateLimited prometheus.Counter
}

// readMetrics are one cached read route's series, resolved once.
type readMetrics struct {
	ok, notModified prometheus.Counter
	latency         prometheus.Observer
}

func newMetrics(reg prometheus.Registerer, s *Server) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricPrefix + "http_requests_total",
			Help: "HTTP requests answered, by route pattern and status."}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: metricPrefix + "http_request_duration_seconds",
			Help: "Time from reading a request to its answer, by route pattern.", Buckets: latencyBuckets}, []string{"route"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{Name: metricPrefix + "read_answers_total",
			Help: "Cached reads answered, from the answer cache or rendered.", ConstLabels: prometheus.Labels{"source": "cache"}}),
		rendered: prometheus.NewCounter(prometheus.CounterOpts{Name: metricPrefix + "read_answers_total",
			Help: "Cached reads answered, from the answer cache or rendered.", ConstLabels: prometheus.Labels{"source": "rendered"}}),
		publishes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricPrefix + "publishes_total",
			Help: "Publish requests: accepted, or the reason they were refused."}, []string{"result"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricPrefix + "logins_total",
			Help: "Login requests: succeeded, failed, or locked_out (throttled)."}, []string{"result"}),
		resets: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricPrefix + "password_resets_total",
			Help: "Password reset requests (step request or complete): ok or refused."}, []string{"step", "result"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{Name: metricPrefix + "rate_limited_total",
			Help: "Requests refused by the per-address rate limit."}),
	}
	reg.MustRegister(m.requests, m.latency, m.cacheHits, m.rendered, m.publishes, m.logins, m.resets, m.rateLimited,
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

func (m *metrics) forRead(pattern string) *readMetrics {
	return &readMetrics{
		ok:          m.requests.WithLabelValues(pattern, "200"),
		notModified: m.requests.WithLabelValues(pattern, "304"),
		latency:     m.latency.WithLabelValues(pattern),
	}
}

// count counts one cached read answered by the fast path.
func (rm *readMetrics) count(notModified bool, start time.Time) {
	if notModified {
		rm.notModified.Inc()
	} else {
		rm.ok.Inc()
	}
	rm.latency.Observe(time.Since(start).Seconds())
}

// request counts one request answered through net/http.
func (m *metrics) request(route string, status int, start time.Time) {
	if route == "" {
		route = routeUnmatched
	}
	m.requests.WithLabelValues(route, statusLabel(status)).Inc()
	m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
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
