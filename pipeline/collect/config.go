package collect

import (
	"errors"
	"fmt"
	"time"

	"github.com/cxstream/cxstream/pipeline/internal/limit"
	"github.com/cxstream/cxstream/pkg/event"
)

// Config is the HTTP collector's configuration.
type Config struct {
	// Addr is the listen address.
	Addr string `yaml:"addr"`
	// WriteKeys are the accepted write keys, each bound to a tenant and a
	// channel.
	WriteKeys []WriteKey `yaml:"write_keys"`
	// MaxMessageBytes bounds a single call's body and each item of a batch
	// (after gzip decompression); Segment's limit is 32 KB.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// MaxBatchBytes bounds a batch body (after decompression); Segment's
	// limit is 500 KB.
	MaxBatchBytes int `yaml:"max_batch_bytes"`
	// MappingsDir holds channel mapping files (*.yaml) beside the built-in
	// ones (schemas/mappings); a file replaces the built-in mapping of its
	// name. Empty: the built-in mappings only.
	MappingsDir string `yaml:"mappings_dir"`
	// Limits are the envelope limits applied to every event.
	Limits event.Limits `yaml:"-"`
	// PublishTimeout bounds how long a request waits for Kafka to acknowledge
	// its events before it is answered 503 (the client retries).
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// ShutdownTimeout bounds how long Run waits for requests in flight when
	// its context ends.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxInFlight bounds the requests handled at once (0: no bound); more
	// are answered 503 with Retry-After. With max_batch_bytes it bounds the
	// memory request bodies take: 256 x 500 KiB = 125 MiB by default.
	MaxInFlight int `yaml:"max_in_flight"`
	// RateLimit bounds the requests per second of each write key (per
	// collector process); past it requests get 429 with Retry-After.
	RateLimit limit.Rate `yaml:"rate_limit"`
}

// WriteKey binds a Segment write key to the tenant and channel its events
// belong to. Write keys are not secret in Segment's model (browsers ship
// them), but they are never logged.
type WriteKey struct {
	Key     string `yaml:"key"`
	Tenant  string `yaml:"tenant"`
	Channel string `yaml:"channel"`
}

// Default returns a configuration listening on :8080 with Segment's size
// limits and no write keys (add at least one).
func Default() Config {
	return Config{
		Addr:            ":8080",
		MaxMessageBytes: 32 << 10,
		MaxBatchBytes:   500 << 10,
		Limits:          event.DefaultLimits(),
		PublishTimeout:  10 * time.Second,
		ShutdownTimeout: 15 * time.Second,
		MaxInFlight:     256,
	}
}

// Validate checks the configuration; errors name the setting and how to fix
// it, and never show a write key.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("collector.addr: required, e.g. :8080"))
	}
	if len(c.WriteKeys) == 0 {
		errs = append(errs, errors.New("collector.write_keys: at least one write key is required"))
	}
	seen := make(map[string]int, len(c.WriteKeys))
	for i, k := range c.WriteKeys {
		where := fmt.Sprintf("collector.write_keys[%d]", i)
		if k.Key == "" {
			errs = append(errs, fmt.Errorf("%s.key: required", where))
		} else if j, dup := seen[k.Key]; dup {
			errs = append(errs, fmt.Errorf("%s.key: the same key as write_keys[%d]; each key must be unique", where, j))
		} else {
			seen[k.Key] = i
		}
		if !event.ValidTenant(k.Tenant) {
			errs = append(errs, fmt.Errorf("%s.tenant: required, %s", where, event.TenantRule))
		}
		if !event.ValidChannel(k.Channel) {
			errs = append(errs, fmt.Errorf("%s.channel: required, %s", where, event.ChannelRule))
		}
	}
	if c.MaxMessageBytes < 1 {
		errs = append(errs, fmt.Errorf("collector.max_message_bytes: must be >= 1, got %d", c.MaxMessageBytes))
	}
	if c.MaxBatchBytes < c.MaxMessageBytes {
		errs = append(errs, fmt.Errorf("collector.max_batch_bytes: must be >= max_message_bytes (%d), got %d", c.MaxMessageBytes, c.MaxBatchBytes))
	}
	if c.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("collector.max_in_flight: must be >= 0 (0: no bound), got %d", c.MaxInFlight))
	}
	if err := c.RateLimit.Validate("collector.rate_limit"); err != nil {
		errs = append(errs, err)
	}
	if c.PublishTimeout <= 0 || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("collector.publish_timeout and collector.shutdown_timeout must be positive"))
	}
	return errors.Join(errs...)
}
