// Package pipeline wires cxstream's stages (collect, resolve, sink, api)
// to their dependencies and runs any subset of them in one process. The
// stages live in the sub-packages; see pipeline/DESIGN.md for the file map
// and the invariants that keep the pipeline exactly-once.
package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cxstream/cxstream/pipeline/api"
	"github.com/cxstream/cxstream/pipeline/collect"
	"github.com/cxstream/cxstream/pipeline/resolve"
	"github.com/cxstream/cxstream/pipeline/sink"
	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/segment"
	"github.com/cxstream/cxstream/pkg/telemetry"
	"github.com/cxstream/cxstream/pkg/trigger"
)

// Config is the whole configuration of a cxstream process: the YAML file
// (see docs/cxstream.example.yaml) over the defaults, then environment
// variables over the file.
type Config struct {
	Kafka      kafkaio.Config    `yaml:"kafka"`
	Redis      redisstore.Config `yaml:"redis"`
	ClickHouse chstore.Config    `yaml:"clickhouse"`
	Identity   identity.Rules    `yaml:"identity"`
	// Profile says which events feed which profile fields.
	Profile profile.Config `yaml:"profile"`
	// Segments are the segments profiles are evaluated against
	// (docs/segments.md); the defaults are segment.Default().
	Segments []segment.Spec `yaml:"segments"`
	// Triggers are the rules of cx.triggers (pkg/trigger).
	Triggers trigger.Config `yaml:"triggers"`
	// Limits bound every event, whichever way it enters.
	Limits    event.Limits     `yaml:"limits"`
	Collector collect.Config   `yaml:"collector"`
	Resolver  resolve.Config   `yaml:"resolver"`
	Sink      sink.Config      `yaml:"sink"`
	API       api.Config       `yaml:"api"`
	Telemetry telemetry.Config `yaml:"telemetry"`
}

// Default returns every package's defaults.
func Default() Config {
	return Config{
		Kafka:      kafkaio.Default(),
		Redis:      redisstore.Default(),
		ClickHouse: chstore.Default(),
		Identity:   identity.DefaultRules(),
		Profile:    profile.DefaultConfig(),
		Segments:   segment.Default(),
		Triggers:   trigger.Default(),
		Limits:     event.DefaultLimits(),
		Collector:  collect.Default(),
		Resolver:   resolve.Default(),
		Sink:       sink.Default(),
		API:        api.Default(),
		Telemetry:  telemetry.Default(),
	}
}

// Environment variables that override the file.
var envVars = []struct {
	name string
	set  func(*Config, string)
}{
	{"CXSTREAM_KAFKA_BROKERS", func(c *Config, v string) { c.Kafka.Brokers = strings.Split(v, ",") }},
	{"CXSTREAM_REDIS_ADDR", func(c *Config, v string) { c.Redis.Addr = v }},
	{"CXSTREAM_KAFKA_SASL_USERNAME", func(c *Config, v string) { c.Kafka.SASL.Username = v }},
	{"CXSTREAM_KAFKA_SASL_PASSWORD", func(c *Config, v string) { c.Kafka.SASL.Password = v }},
	{"CXSTREAM_REDIS_USERNAME", func(c *Config, v string) { c.Redis.Username = v }},
	{"CXSTREAM_REDIS_PASSWORD", func(c *Config, v string) { c.Redis.Password = v }},
	{"CXSTREAM_CLICKHOUSE_ADDR", func(c *Config, v string) { c.ClickHouse.Addr = v }},
	{"CXSTREAM_CLICKHOUSE_DATABASE", func(c *Config, v string) { c.ClickHouse.Database = v }},
	{"CXSTREAM_CLICKHOUSE_USERNAME", func(c *Config, v string) { c.ClickHouse.Username = v }},
	{"CXSTREAM_CLICKHOUSE_PASSWORD", func(c *Config, v string) { c.ClickHouse.Password = v }},
	{identity.HashKeyEnv, func(c *Config, v string) { c.Identity.HashKey = v }},
	{"CXSTREAM_COLLECTOR_ADDR", func(c *Config, v string) { c.Collector.Addr = v }},
	{"CXSTREAM_API_ADDR", func(c *Config, v string) { c.API.Addr = v }},
	{"CXSTREAM_TELEMETRY_ADDR", func(c *Config, v string) { c.Telemetry.Addr = v }},
	{"CXSTREAM_LOG_LEVEL", func(c *Config, v string) { c.Telemetry.LogLevel = v }},
}

// EnvVars lists the environment variables Load reads, for help texts.
func EnvVars() []string {
	names := make([]string, len(envVars))
	for i, e := range envVars {
		names[i] = e.name
	}
	return names
}

// Load reads the configuration: defaults, then the YAML file at path (if
// path is not empty; unknown keys are an error), then the environment
// (getenv, usually os.Getenv). It validates the result.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	for _, e := range envVars {
		if v := strings.TrimSpace(getenv(e.name)); v != "" {
			e.set(&cfg, v)
		}
	}
	cfg.Collector.Limits = cfg.Limits
	cfg.Resolver.Limits = cfg.Limits
	return cfg, cfg.Validate()
}

// Validate checks every section.
func (c Config) Validate() error {
	_, profileErr := c.Profile.Compile()
	return errors.Join(c.Kafka.Validate(), c.Redis.Validate(), c.ClickHouse.Validate(), c.Identity.Validate(),
		profileErr, segment.Validate(c.Segments), c.Triggers.WithOrderEvents(c.Profile.Orders.Events).Validate(),
		c.Collector.Validate(), c.Resolver.Validate(), c.Sink.Validate(), c.API.Validate(), c.Telemetry.Validate())
}
