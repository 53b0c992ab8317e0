// Package chstore is cxstream's ClickHouse adapter: it applies the schema
// migrations of schemas/clickhouse, writes resolved events, identity records
// and profile snapshots in batches, and answers timeline and identity-history
// queries that take in the events and records of merged-away profiles through
// cx_aliases, and queries for the latest snapshot of profiles.
//
// Everything runs on ClickHouse 18.16 (Debian's package) as well as current
// releases, over the native protocol with clickhouse-go v2. Query arguments
// are bound with "?" placeholders, which clickhouse-go formats and escapes on
// the client: 18.16 has no server-side query parameters.
package chstore

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Store is a connection pool to cxstream's database. It is safe for
// concurrent use.
type Store struct {
	conn     driver.Conn
	database string
}

// Open creates cfg.Database if it does not exist, connects to it and checks
// that the server answers. It does not migrate: call Migrate.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := createDatabase(ctx, cfg); err != nil {
		return nil, err
	}
	conn, err := connect(ctx, cfg, cfg.Database)
	if err != nil {
		return nil, err
	}
	return &Store{conn: conn, database: cfg.Database}, nil
}

// Close releases the connections.
func (s *Store) Close() error {
	if err := s.conn.Close(); err != nil {
		return fmt.Errorf("close clickhouse connection: %w", err)
	}
	return nil
}

// Database is the name of the database the store works in.
func (s *Store) Database() string { return s.database }

// createDatabase runs CREATE DATABASE IF NOT EXISTS over a connection to the
// always-present "default" database: connecting to a missing database fails.
func createDatabase(ctx context.Context, cfg Config) error {
	conn, err := connect(ctx, cfg, "default")
	if err != nil {
		return err
	}
	defer conn.Close()
	// The name cannot be a bound parameter; Validate restricted it to
	// [A-Za-z0-9_], so quoting it as an identifier is safe.
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS `"+cfg.Database+"`"); err != nil {
		return fmt.Errorf("create clickhouse database %s: %w", cfg.Database, err)
	}
	return nil
}

func connect(ctx context.Context, cfg Config, database string) (driver.Conn, error) {
	tlsCfg, err := cfg.TLS.Load()
	if err != nil {
		return nil, fmt.Errorf("clickhouse.tls: %w", err)
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		TLS:  tlsCfg,
		Addr: []string{cfg.Addr},
		Auth: clickhouse.Auth{
			Database: database,
			Username: cfg.Username,
			Password: cfg.Password,
		},
		DialTimeout: cfg.DialTimeout,
		// LZ4 blocks are understood by every server version; inserts of
		// thousands of JSON-heavy rows shrink several times.
		Compression: &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
	})
	if err != nil {
		return nil, fmt.Errorf("open clickhouse connection to %s: %w", cfg.Addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ping clickhouse at %s (database %s): %w", cfg.Addr, database, err)
	}
	return conn, nil
}
