package host

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
)

// requestClass says what answered a request. Metrics are labelled by class
// and status class, never by project: a label per project would let
// tenants grow the host's memory and every scrape without bound.
type requestClass uint8

const (
	classNone   requestClass = iota // no project: unknown host, bad target, no deployment
	classAsset                      // the asset pipeline
	classWorker                     // server code
	classAPI                        // the management API
	numClasses
)

var classNames = [numClasses]string{"none", "asset", "server_code", "api"}

// metrics are the host's Prometheus collectors, on a registry of their own
// (nothing global), served at /__metrics.
type metrics struct {
	reg *prometheus.Registry
	// requests, duration and bytes are resolved per label up front, so
	// counting a request is a few atomic adds and no map lookup.
	requests [numClasses][6]prometheus.Counter // [class][status/100]
	duration [numClasses]prometheus.Observer
	bytes    [numClasses]prometheus.Counter
	runs     *prometheus.CounterVec
	uploads  prometheus.Counter
	upBytes  prometheus.Counter
	deploys  *prometheus.HistogramVec
	gcRuns   *prometheus.CounterVec
	gcBlobs  prometheus.Counter
}

func newMetrics(h *Host) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{reg: reg}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cfhost_http_requests_total",
		Help: "Requests served, by what answered them (asset, server_code, api, none) and status class.",
	}, []string{"class", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cfhost_http_request_duration_seconds",
		Help:    "Time from a request's arrival to its handler's return, by what answered it.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"class"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cfhost_http_response_bytes_total",
		Help: "Response body bytes written, by what answered the request.",
	}, []string{"class"})
	for c := range numClasses {
		for s := 1; s <= 5; s++ {
			m.requests[c][s] = requests.WithLabelValues(classNames[c], string(rune('0'+s))+"xx")
		}
		m.requests[c][0] = m.requests[c][5] // a status outside 100-599 counts as an error
		m.duration[c] = duration.WithLabelValues(classNames[c])
		m.bytes[c] = bytes.WithLabelValues(classNames[c])
	}
	m.runs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cfhost_server_code_runs_total",
		Help: "Requests answered by server code, by outcome: ok, error (500), failed (502: trap, out of memory, bad output), busy (503), timeout (504), other.",
	}, []string{"outcome"})
	m.uploads = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cfhost_upload_buckets_total",
		Help: "Upload requests (buckets) accepted.",
	})
	m.upBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cfhost_upload_request_bytes_total",
		Help: "Bytes of upload request bodies accepted.",
	})
	m.deploys = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cfhost_deploys_duration_seconds",
		Help:    "Deploy (finalize) requests and their durations, by result (ok or error).",
		Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
	}, []string{"result"})
	m.gcRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cfhost_gc_runs_total",
		Help: "Garbage collection runs, by result (ok or error).",
	}, []string{"result"})
	m.gcBlobs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cfhost_gc_deleted_blobs_total",
		Help: "Blobs deleted by garbage collection.",
	})
	dbDir := h.cfg.DataDir
	reg.MustRegister(requests, duration, bytes, m.runs, m.uploads, m.upBytes, m.deploys, m.gcRuns, m.gcBlobs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cfhost_server_code_running",
			Help: "Server-code runs in progress.",
		}, func() float64 { return float64(h.worker.Stats().Running) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cfhost_server_code_queued",
			Help: "Requests waiting for a server-code slot.",
		}, func() float64 { return float64(h.worker.Stats().Waiting) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "cfhost_asset_cache_hits_total",
			Help: "Asset representations served from memory.",
		}, func() float64 { hits, _ := h.cache.Stats(); return float64(hits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "cfhost_asset_cache_misses_total",
			Help: "Asset representations read from the database.",
		}, func() float64 { _, misses := h.cache.Stats(); return float64(misses) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cfhost_asset_cache_bytes",
			Help: "Asset bytes held in memory.",
		}, func() float64 { return float64(h.cache.Used()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cfhost_database_bytes",
			Help: "Size of the database file and its write-ahead log.",
		}, func() float64 {
			var n int64
			for _, f := range []string{"cfhost.db", "cfhost.db-wal"} {
				if fi, err := os.Stat(filepath.Join(dbDir, f)); err == nil {
					n += fi.Size()
				}
			}
			return float64(n)
		}),
	)
	return m
}

// observe counts one served request.
func (m *metrics) observe(class requestClass, status int, bytes int64, d time.Duration) {
	s := status / 100
	if s < 1 || s > 5 {
		s = 0
	}
	m.requests[class][s].Inc()
	m.duration[class].Observe(d.Seconds())
	m.bytes[class].Add(float64(bytes))
	if class == classWorker {
		m.runs.WithLabelValues(runOutcome(status)).Inc()
	}
}

// observeAPI counts the upload protocol's steps from the API calls that
// carry them, so the handlers need no instrumentation of their own.
func (m *metrics) observeAPI(r *http.Request, path string, status int, d time.Duration) {
	if r.Method != http.MethodPost || !strings.HasPrefix(path, "/__api/projects/") {
		return
	}
	ok := status < 300
	switch {
	case strings.HasSuffix(path, "/assets/upload") && ok:
		m.uploads.Inc()
		m.upBytes.Add(float64(max(r.ContentLength, 0)))
	case strings.HasSuffix(path, "/deploy"):
		result := "ok"
		if !ok {
			result = "error"
		}
		m.deploys.WithLabelValues(result).Observe(d.Seconds())
	}
}

// runOutcome names what a server-code run ended as, from the status the
// runtime gives each kind of failure.
func runOutcome(status int) string {
	switch {
	case status == http.StatusBadGateway:
		return "failed"
	case status == http.StatusServiceUnavailable:
		return "busy"
	case status == http.StatusGatewayTimeout:
		return "timeout"
	case status == http.StatusInternalServerError:
		return "error"
	case status < 500:
		return "ok"
	}
	return "other"
}

// MetricsHandler serves the metrics in Prometheus' text format, without
// authentication: for a separate listener only the operator can reach
// (cfhost serve --metrics-listen). On the main listener, /__metrics asks
// for the admin token.
func (h *Host) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(h.metrics.reg, promhttp.HandlerOpts{})
}

// serveMetrics answers /__metrics on the main listener, for the admin
// token only.
func (h *Host) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if err := h.authorize(w, r, "", true); err != nil {
		h.writeError(w, r, err)
		return
	}
	h.MetricsHandler().ServeHTTP(w, r)
}

func (m *metrics) gcRan(res store.GCResult, err error) {
	if err != nil {
		m.gcRuns.WithLabelValues("error").Inc()
		return
	}
	m.gcRuns.WithLabelValues("ok").Inc()
	m.gcBlobs.Add(float64(res.Blobs))
}
