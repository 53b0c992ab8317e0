package kafkaio

import "github.com/prometheus/client_golang/prometheus"

// CommitCounter returns the counter of a stage's offset commits,
// cxstream_kafka_commits_total{stage=...}: one CommitMessages call each,
// however many messages it commits. Stages of one process register it
// with their own stage label.
func CommitCounter(stage string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{
		Name:        "cxstream_kafka_commits_total",
		Help:        "Offset commits sent to Kafka (one CommitMessages call each), by stage.",
		ConstLabels: prometheus.Labels{"stage": stage},
	})
}
