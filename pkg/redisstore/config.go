// Package redisstore keeps the identity graph and the profile states in
// Redis. One call per batch and tenant (Apply) runs resolve.lua, which
// deduplicates, resolves identifiers to profiles (create, attach, merge),
// folds the events into the profiles and records the outcome, atomically.
//
// Every key of a tenant carries the hash tag {tenant}, so a tenant lives in
// one slot and the script also runs on Redis Cluster. The script builds key
// names from that prefix beyond the one key it declares; Redis executes that
// correctly as long as the keys share the declared key's slot, which the tag
// guarantees.
package redisstore

import (
	"errors"
	"fmt"
)

// Config is how cxstream reaches Redis and sizes its state.
type Config struct {
	// Addr is host:port (CXSTREAM_REDIS_ADDR).
	Addr     string `yaml:"addr"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	DB       int    `yaml:"db"`
	// DedupWindow is how many recent event ids each profile remembers, to
	// recognise client retries that resend an event id. Memory: about 60
	// bytes per id, so at most DedupWindow*60 bytes per profile (15 KiB at
	// the default 256), and only for profiles with that many events.
	DedupWindow int `yaml:"dedup_window"`
}

// Default returns the configuration for a local Redis.
func Default() Config {
	return Config{Addr: "127.0.0.1:6379", DedupWindow: 256}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("redis.addr: required (CXSTREAM_REDIS_ADDR), e.g. 127.0.0.1:6379"))
	}
	if c.DedupWindow < 1 {
		errs = append(errs, fmt.Errorf("redis.dedup_window: must be >= 1, got %d", c.DedupWindow))
	}
	return errors.Join(errs...)
}
