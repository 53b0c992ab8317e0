package chstore

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/cxstream/cxstream/pkg/tlsconf"
)

// Config is how cxstream reaches ClickHouse.
type Config struct {
	// Addr is the host:port of the native protocol (CXSTREAM_CLICKHOUSE_ADDR),
	// 9000 by default; not the HTTP port 8123.
	Addr string `yaml:"addr"`
	// Database holds cxstream's tables; Open creates it if it is missing.
	Database string `yaml:"database"`
	// Username and Password authenticate; ClickHouse's stock user is
	// "default" with an empty password.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// DialTimeout bounds connecting to the server.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// TLS secures the connection (off by default; ClickHouse serves native
	// TLS on its tcp_port_secure, 9440 by default).
	TLS tlsconf.Config `yaml:"tls"`
}

// Default returns the configuration for a local server.
func Default() Config {
	return Config{
		Addr:        "127.0.0.1:9000",
		Database:    "cxstream",
		Username:    "default",
		DialTimeout: 5 * time.Second,
	}
}

// databasePattern is what Open accepts as a database name: it is spliced into
// CREATE DATABASE, which cannot take a bound parameter.
var databasePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Validate checks the configuration; each error names the field and how to
// fix it.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Addr) == "" {
		errs = append(errs, errors.New("clickhouse.addr: required, the native-protocol host:port such as 127.0.0.1:9000 (CXSTREAM_CLICKHOUSE_ADDR)"))
	} else if !strings.Contains(c.Addr, ":") {
		errs = append(errs, fmt.Errorf("clickhouse.addr: %q has no port; use host:port of the native protocol, usually 9000 (CXSTREAM_CLICKHOUSE_ADDR)", c.Addr))
	}
	if !databasePattern.MatchString(c.Database) {
		errs = append(errs, fmt.Errorf("clickhouse.database: %q must be letters, digits and underscores, not starting with a digit (default %q)", c.Database, Default().Database))
	}
	if c.Username == "" {
		errs = append(errs, errors.New(`clickhouse.username: required; ClickHouse's stock user is "default"`))
	}
	if err := c.TLS.Validate("clickhouse.tls"); err != nil {
		errs = append(errs, err)
	} else if _, err := c.TLS.Load(); err != nil {
		errs = append(errs, fmt.Errorf("clickhouse.tls: %w", err))
	}
	if c.DialTimeout <= 0 {
		errs = append(errs, fmt.Errorf("clickhouse.dial_timeout: must be positive, got %s (default %s)", c.DialTimeout, Default().DialTimeout))
	}
	return errors.Join(errs...)
}
