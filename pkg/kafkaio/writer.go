package kafkaio

import (
	"github.com/segmentio/kafka-go"
)

// NewWriter returns a writer for any of cxstream's topics: each message names
// its topic. Writes wait for all in-sync replicas (the zero value of
// kafka.Writer.RequiredAcks would be fire-and-forget), keys are partitioned
// with murmur2 like the Java client so that direct producers and cxstream
// agree on partitions, and batches flush after cfg.BatchTimeout.
//
// WriteMessages blocks until every message is acknowledged or failed; it is
// safe for concurrent use, and concurrent callers share batches.
func NewWriter(cfg Config) *kafka.Writer {
	w := &kafka.Writer{
		Addr:                   kafka.TCP(cfg.Brokers...),
		Balancer:               kafka.Murmur2Balancer{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           cfg.BatchTimeout,
		BatchSize:              cfg.BatchSize,
		BatchBytes:             16 << 20,
		Compression:            kafka.Snappy,
		AllowAutoTopicCreation: false,
	}
	if t := cfg.transport(); t != nil {
		w.Transport = t
	}
	return w
}
