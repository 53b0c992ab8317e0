package chstore

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"default is valid", func(*Config) {}, ""},
		{"no address", func(c *Config) { c.Addr = "" }, "CXSTREAM_CLICKHOUSE_ADDR"},
		{"no port", func(c *Config) { c.Addr = "localhost" }, "no port"},
		{"database with a quote", func(c *Config) { c.Database = "cx`; DROP" }, "clickhouse.database"},
		{"no user", func(c *Config) { c.Username = "" }, "clickhouse.username"},
		{"no dial timeout", func(c *Config) { c.DialTimeout = 0 }, "clickhouse.dial_timeout"},
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
