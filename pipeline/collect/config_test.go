package collect

import (
	"strings"
	"testing"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no keys", func(c *Config) { c.WriteKeys = nil }, "write_keys: at least one"},
		{"empty key", func(c *Config) { c.WriteKeys[0].Key = "" }, "write_keys[0].key: required"},
		{"duplicate key", func(c *Config) { c.WriteKeys[1].Key = c.WriteKeys[0].Key }, "write_keys[1].key: the same key as write_keys[0]"},
		{"empty tenant", func(c *Config) { c.WriteKeys[0].Tenant = "" }, "write_keys[0].tenant"},
		{"bad tenant", func(c *Config) { c.WriteKeys[0].Tenant = "Acme Inc" }, "write_keys[0].tenant"},
		{"empty channel", func(c *Config) { c.WriteKeys[1].Channel = "" }, "write_keys[1].channel"},
		{"bad channel", func(c *Config) { c.WriteKeys[1].Channel = "call-center" }, "write_keys[1].channel"},
		{"no addr", func(c *Config) { c.Addr = "" }, "collector.addr"},
		{"batch below message", func(c *Config) { c.MaxBatchBytes = c.MaxMessageBytes - 1 }, "max_batch_bytes"},
		{"zero message", func(c *Config) { c.MaxMessageBytes = 0 }, "max_message_bytes"},
		{"zero timeout", func(c *Config) { c.PublishTimeout = 0 }, "publish_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.change(&cfg)
			err := cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "wk-"):
				t.Fatalf("error shows a write key: %v", err)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	d := Default()
	if d.Addr != ":8080" || d.MaxMessageBytes != 32768 || d.MaxBatchBytes != 512000 || d.Limits.MaxIdentifiers != event.DefaultLimits().MaxIdentifiers || d.Limits.MaxPast != event.DefaultLimits().MaxPast {
		t.Errorf("unexpected defaults %+v", d)
	}
	if err := d.Validate(); err == nil || !strings.Contains(err.Error(), "write_keys") {
		t.Errorf("defaults validate without write keys: %v", err)
	}
}

func TestNewRejectsBadArguments(t *testing.T) {
	topics := kafkaio.DefaultTopics()
	noDL := topics
	noDL.DeadLetter = ""
	badRules := identity.DefaultRules()
	badRules.Types = map[string]identity.TypeRule{"email": {Priority: -1}}
	tests := []struct {
		name   string
		cfg    Config
		rules  identity.Rules
		topics kafkaio.Topics
		pub    Publisher
	}{
		{"invalid config", Default(), identity.DefaultRules(), topics, &fakePublisher{}},
		{"invalid rules", testConfig(), badRules, topics, &fakePublisher{}},
		{"no dead-letter topic", testConfig(), identity.DefaultRules(), noDL, &fakePublisher{}},
		{"no publisher", testConfig(), identity.DefaultRules(), topics, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg, tt.rules, tt.topics, tt.pub, nil, nil); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}
