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
	"time"

	"github.com/cxstream/cxstream/pkg/tlsconf"
)

// Config is how cxstream reaches Redis and sizes its state.
type Config struct {
	// Addr is host:port (CXSTREAM_REDIS_ADDR).
	Addr string `yaml:"addr"`
	// Username and Password are Redis AUTH (ACL user and password, or the
	// password alone for requirepass; CXSTREAM_REDIS_USERNAME and
	// CXSTREAM_REDIS_PASSWORD).
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	DB       int    `yaml:"db"`
	// TLS secures the connection (off by default).
	TLS tlsconf.Config `yaml:"tls"`
	// DedupWindow is how long (in event time) the event ids of an anchor
	// (an event's strongest identifier) are remembered, to recognise client
	// retries that resend an event id. Kafka redelivery needs no window:
	// the per-partition watermark catches it.
	DedupWindow time.Duration `yaml:"dedup_window"`
	// DedupMaxIDs caps the ids remembered per anchor whatever their age,
	// so that memory stays bounded: about 60 bytes per id, at most
	// DedupMaxIDs*60 bytes per anchor (240 KiB at the default 4,096), and
	// only for anchors with that many events in the window.
	DedupMaxIDs int `yaml:"dedup_max_ids"`
	// RederiveMaxEdges is the largest component (distinct identifier sets)
	// that is re-derived in canonical order when an event arrives late into
	// a component whose rules blocked a merge. Larger components take the
	// late event in arrival order and are counted in the "capped" metric.
	RederiveMaxEdges int `yaml:"rederive_max_edges"`
}

// Default returns the configuration for a local Redis.
func Default() Config {
	return Config{Addr: "127.0.0.1:6379", DedupWindow: 7 * 24 * time.Hour, DedupMaxIDs: 4096, RederiveMaxEdges: 20000}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("redis.addr: required (CXSTREAM_REDIS_ADDR), e.g. 127.0.0.1:6379"))
	}
	if c.DedupWindow < time.Second {
		errs = append(errs, fmt.Errorf("redis.dedup_window: must be at least 1s, got %s", c.DedupWindow))
	}
	if c.DedupMaxIDs < 1 {
		errs = append(errs, fmt.Errorf("redis.dedup_max_ids: must be >= 1, got %d", c.DedupMaxIDs))
	}
	if err := c.TLS.Validate("redis.tls"); err != nil {
		errs = append(errs, err)
	} else if _, err := c.TLS.Load(); err != nil {
		errs = append(errs, fmt.Errorf("redis.tls: %w", err))
	}
	if c.RederiveMaxEdges < 1 {
		errs = append(errs, fmt.Errorf("redis.rederive_max_edges: must be >= 1, got %d", c.RederiveMaxEdges))
	}
	return errors.Join(errs...)
}
