package sink

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cxstream/cxstream/pkg/kafkaio"
)

// metrics are the sink's Prometheus series. The table label is the
// ClickHouse table of the insert (cx_events, cx_identity,
// cx_profile_snapshots); it never holds ids.
type metrics struct {
	rowsInserted   *prometheus.CounterVec
	insertDuration *prometheus.HistogramVec
	rowsPerInsert  *prometheus.HistogramVec
	insertErrors   *prometheus.CounterVec
	deadLetters    prometheus.Counter
	lagMessages    *prometheus.GaugeVec
	delay          *prometheus.HistogramVec
	commits        prometheus.Counter
	fetchErrors    *prometheus.CounterVec
}

// newMetrics creates the series and registers them with reg; a nil reg
// leaves them unregistered.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		rowsInserted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxstream_sink_rows_inserted_total",
			Help: "Rows inserted into ClickHouse.",
		}, []string{"table"}),
		insertDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cxstream_sink_insert_duration_seconds",
			Help:    "Duration of each insert attempt, failed ones included.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 14), // 2 ms .. 16 s
		}, []string{"table"}),
		rowsPerInsert: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cxstream_sink_rows_per_insert",
			Help:    "Rows in each successful insert.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9), // 1 .. 65536
		}, []string{"table"}),
		insertErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxstream_sink_insert_errors_total",
			Help: "Failed insert attempts; each is retried.",
		}, []string{"table"}),
		lagMessages: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cxstream_sink_lag_messages",
			Help: "Messages of the topic not yet read by this sink consumer, as of its last fetch (kafka-go reader lag).",
		}, []string{"table"}),
		delay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cxstream_sink_delay_seconds",
			Help:    "Time from a message's append to Kafka to the commit of its batch (rows in ClickHouse), per batch, from the batch's oldest message.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16), // 10 ms .. 5.5 min
		}, []string{"table"}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxstream_sink_deadletters_total",
			Help: "Messages the sink could not decode, written to the dead-letter topic.",
		}),
		commits: kafkaio.CommitCounter("sink"),
		fetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxstream_sink_fetch_errors_total",
			Help: "Failed fetches from Kafka (broker away); each is retried after a backoff.",
		}, []string{"table"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.rowsInserted, m.insertDuration, m.rowsPerInsert, m.insertErrors, m.deadLetters, m.lagMessages, m.delay, m.commits, m.fetchErrors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register sink metrics: %w", err)
		}
	}
	return m, nil
}
