package collect

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the result label of cxstream_collector_events_total.
const (
	resultAccepted = "accepted"
	resultRejected = "rejected"
)

type metrics struct {
	requests *prometheus.CounterVec
	events   *prometheus.CounterVec
	skipped  prometheus.Counter
	publish  prometheus.Histogram
}

// newMetrics creates the collector's metrics and registers them with reg
// (none when reg is nil).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxstream_collector_requests_total",
			Help: "HTTP tracking API requests by endpoint and response status code.",
		}, []string{"endpoint", "code"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxstream_collector_events_total",
			Help: "Messages (tracking API) and records (channel endpoints) received: accepted (their events published to the interactions topic) or rejected (dead-lettered).",
		}, []string{"result"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxstream_collector_records_skipped_total",
			Help: "Channel records a mapping skips on purpose (kinds of webhook events it has no use for).",
		}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cxstream_collector_publish_duration_seconds",
			Help:    "Time for Kafka to acknowledge one request's messages.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
	m.events.WithLabelValues(resultAccepted)
	m.events.WithLabelValues(resultRejected)
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.requests, m.events, m.skipped, m.publish} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("register collector metrics: %w", err)
	}
	return m, nil
}
