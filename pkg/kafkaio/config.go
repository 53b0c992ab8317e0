// Package kafkaio connects cxstream to Kafka through segmentio/kafka-go:
// topic names and creation, a batching writer, batched consumption with
// explicit commits, and dead-letter messages.
package kafkaio

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cxstream/cxstream/pkg/tlsconf"
)

// Config is how cxstream reaches Kafka.
type Config struct {
	// Brokers are the bootstrap addresses (CXSTREAM_KAFKA_BROKERS, comma
	// separated).
	Brokers []string `yaml:"brokers"`
	// Topics are the topic names.
	Topics Topics `yaml:"topics"`
	// Partitions and ReplicationFactor are used when cxstream creates its
	// topics; existing topics are left as they are.
	Partitions        int `yaml:"partitions"`
	ReplicationFactor int `yaml:"replication_factor"`
	// BatchTimeout is how long the writer waits to fill a batch. kafka-go's
	// default of 1 s would stall every synchronous write; a few milliseconds
	// keeps batching without the stall.
	BatchTimeout time.Duration `yaml:"batch_timeout"`
	// BatchSize is the most messages per partition batch.
	BatchSize int `yaml:"batch_size"`
	// MaxWait bounds how long a fetch waits for data (kafka-go defaults to
	// 10 s).
	MaxWait time.Duration `yaml:"max_wait"`
	// TLS and SASL secure the connections to the brokers (off by default).
	TLS  tlsconf.Config `yaml:"tls"`
	SASL SASL           `yaml:"sasl"`
}

// Topics are the names of cxstream's topics.
type Topics struct {
	Interactions string `yaml:"interactions"`
	Timeline     string `yaml:"timeline"`
	Profiles     string `yaml:"profiles"`
	Identity     string `yaml:"identity"`
	Triggers     string `yaml:"triggers"`
	DeadLetter   string `yaml:"deadletter"`
}

// DefaultTopics are the cx.* topics of docs/ARCHITECTURE.md.
func DefaultTopics() Topics {
	return Topics{
		Interactions: "cx.interactions",
		Timeline:     "cx.timeline",
		Profiles:     "cx.profiles",
		Identity:     "cx.identity",
		Triggers:     "cx.triggers",
		DeadLetter:   "cx.deadletter",
	}
}

// Default returns the configuration for a local single broker.
func Default() Config {
	return Config{
		Brokers:           []string{"127.0.0.1:9092"},
		Topics:            DefaultTopics(),
		Partitions:        4,
		ReplicationFactor: 1,
		BatchTimeout:      5 * time.Millisecond,
		BatchSize:         1000,
		MaxWait:           100 * time.Millisecond,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 || strings.TrimSpace(c.Brokers[0]) == "" {
		errs = append(errs, errors.New("kafka.brokers: at least one broker address is required (CXSTREAM_KAFKA_BROKERS)"))
	}
	for name, t := range c.Topics.byRole() {
		if t == "" {
			errs = append(errs, fmt.Errorf("kafka.topics.%s: required", name))
		}
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("kafka.partitions: must be >= 1, got %d", c.Partitions))
	}
	if c.ReplicationFactor < 1 {
		errs = append(errs, fmt.Errorf("kafka.replication_factor: must be >= 1, got %d", c.ReplicationFactor))
	}
	if c.BatchTimeout <= 0 || c.BatchSize < 1 || c.MaxWait <= 0 {
		errs = append(errs, errors.New("kafka.batch_timeout, kafka.batch_size and kafka.max_wait must be positive"))
	}
	errs = append(errs, c.validateSecurity())
	return errors.Join(errs...)
}

func (t Topics) byRole() map[string]string {
	return map[string]string{
		"interactions": t.Interactions,
		"timeline":     t.Timeline,
		"profiles":     t.Profiles,
		"identity":     t.Identity,
		"triggers":     t.Triggers,
		"deadletter":   t.DeadLetter,
	}
}

// Names lists the six topic names.
func (t Topics) Names() []string {
	return []string{t.Interactions, t.Timeline, t.Profiles, t.Identity, t.Triggers, t.DeadLetter}
}
