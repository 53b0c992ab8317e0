package sink

import (
	"errors"
	"fmt"
	"time"
)

// Config tunes the sink.
type Config struct {
	// Group is the Kafka consumer group of every sink replica.
	Group string `yaml:"group"`
	// BatchRows is the most messages read into one insert.
	BatchRows int `yaml:"batch_rows"`
	// FlushInterval is how long a batch may wait for more rows after its
	// first one before it is inserted.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// FlushIdle inserts a batch early once no row has arrived for this long
	// (0: only BatchRows and FlushInterval end a batch). Under load rows keep
	// coming and batches fill to BatchRows, which is what ClickHouse wants
	// (few large inserts); when the stream pauses, what arrived is stored
	// within FlushIdle instead of waiting out FlushInterval.
	FlushIdle time.Duration `yaml:"flush_idle"`
	// RetryMin and RetryMax bound the exponential backoff between attempts of
	// a failed insert, dead-letter write or commit.
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// ShutdownTimeout is how long a batch fetched before shutdown still gets
	// to be inserted and committed once Run's context ends.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Default returns batches of up to 10,000 rows, inserted at the latest 5 s
// after their first row or 1 s after their last, retries from 100 ms to
// 10 s, and 10 s to drain on shutdown.
func Default() Config {
	return Config{
		Group:           "cxstream-sink",
		BatchRows:       10000,
		FlushInterval:   5 * time.Second,
		FlushIdle:       time.Second,
		RetryMin:        100 * time.Millisecond,
		RetryMax:        10 * time.Second,
		ShutdownTimeout: 10 * time.Second,
	}
}

// Validate checks the configuration; each error names the field and how to
// fix it.
func (c Config) Validate() error {
	d := Default()
	var errs []error
	if c.Group == "" {
		errs = append(errs, fmt.Errorf("sink.group: required, the Kafka consumer group shared by sink replicas (default %q)", d.Group))
	}
	if c.BatchRows < 1 {
		errs = append(errs, fmt.Errorf("sink.batch_rows: must be >= 1, got %d (default %d)", c.BatchRows, d.BatchRows))
	}
	if c.FlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("sink.flush_interval: must be positive, got %s (default %s)", c.FlushInterval, d.FlushInterval))
	}
	if c.FlushIdle < 0 {
		errs = append(errs, fmt.Errorf("sink.flush_idle: must be >= 0 (0 turns it off), got %s (default %s)", c.FlushIdle, d.FlushIdle))
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		errs = append(errs, fmt.Errorf("sink.retry_min and sink.retry_max: need 0 < retry_min <= retry_max, got %s and %s (defaults %s and %s)",
			c.RetryMin, c.RetryMax, d.RetryMin, d.RetryMax))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("sink.shutdown_timeout: must be positive (default 10s)"))
	}
	return errors.Join(errs...)
}
