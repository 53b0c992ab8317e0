package sink

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"default is valid", func(*Config) {}, ""},
		{"no group", func(c *Config) { c.Group = "" }, "sink.group"},
		{"no rows", func(c *Config) { c.BatchRows = 0 }, "sink.batch_rows"},
		{"no flush interval", func(c *Config) { c.FlushInterval = 0 }, "sink.flush_interval"},
		{"negative idle gap", func(c *Config) { c.FlushIdle = -time.Second }, "sink.flush_idle"},
		{"retry max below min", func(c *Config) { c.RetryMax = c.RetryMin / 2 }, "sink.retry_min"},
		{"no retry min", func(c *Config) { c.RetryMin = 0 }, "sink.retry_min"},
		{"no shutdown timeout", func(c *Config) { c.ShutdownTimeout = -time.Second }, "sink.shutdown_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}
