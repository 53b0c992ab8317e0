// Package resolve is the resolver stage: a consumer-group member on
// cx.interactions that, per batch, validates the events, resolves and folds
// them in one atomic Redis call per tenant (pkg/redisstore), evaluates the
// touched profiles' segments and the events' triggers (Activator), publishes
// the results to cx.timeline, cx.profiles, cx.identity and cx.triggers, and
// only then commits the batch's offsets. Invalid events go to cx.deadletter
// with the reason. Each resolver also runs the timer loop that fires due
// carts and follow-ups and re-evaluates segments as time passes.
//
// Resolvers are stateless: run as many consumer loops, over all resolver
// processes (Config.Consumers each), as the topic has partitions.
package resolve

import (
	"errors"
	"fmt"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
)

// Config tunes the resolver.
type Config struct {
	// Group is the Kafka consumer group shared by all resolvers.
	Group string `yaml:"group"`
	// Consumers is how many consumer-group members (each with its own
	// partitions and its own fetch-resolve-publish-commit loop) one resolver
	// process runs. One loop is serial: while Redis runs a batch's script
	// the loop's Go work waits, and the other way round. Two loops overlap
	// them. Members beyond the topic's partitions stay idle.
	Consumers int `yaml:"consumers"`
	// BatchSize is the most messages per batch, BatchWait how long a batch
	// waits to fill after its first message. Together they trade latency for
	// Redis and Kafka round trips.
	BatchSize int           `yaml:"batch_size"`
	BatchWait time.Duration `yaml:"batch_wait"`
	// RetryMax caps the backoff while Redis or Kafka are unavailable.
	RetryMax time.Duration `yaml:"retry_max"`
	// Timers tunes the loop that fires due carts, follow-ups and segment
	// re-evaluations (see Activator).
	Timers TimerConfig `yaml:"timers"`
	// Limits bounds what an event may contain (shared with the collector).
	Limits event.Limits `yaml:"-"`
}

// Default returns one consumer loop with batches of up to 1,000 events or
// 20 ms.
func Default() Config {
	return Config{
		Group:     "cxstream-resolver",
		Consumers: 1,
		BatchSize: 1000,
		BatchWait: 20 * time.Millisecond,
		RetryMax:  5 * time.Second,
		Timers:    DefaultTimers(),
		Limits:    event.DefaultLimits(),
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Group == "" {
		errs = append(errs, errors.New("resolver.group: required"))
	}
	if c.Consumers < 1 {
		errs = append(errs, fmt.Errorf("resolver.consumers: must be >= 1, got %d", c.Consumers))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("resolver.batch_size: must be >= 1, got %d", c.BatchSize))
	}
	if c.BatchWait <= 0 || c.RetryMax <= 0 {
		errs = append(errs, errors.New("resolver.batch_wait and resolver.retry_max must be positive durations"))
	}
	errs = append(errs, c.Timers.Validate())
	return errors.Join(errs...)
}
