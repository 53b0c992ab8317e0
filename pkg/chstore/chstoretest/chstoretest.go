// Package chstoretest gives tests a migrated chstore.Store on a database of
// their own on the real ClickHouse server of testenv.ClickHouse.
package chstoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/testenv"
)

// New opens a store on a fresh database, cxstream_test_<random>, applies the
// migrations, and drops the database when the test ends. It skips or fails
// the test as testenv does when no server is available.
func New(t testing.TB) *chstore.Store {
	t.Helper()
	cfg := chstore.Default()
	cfg.Addr = testenv.ClickHouse(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	cfg.Database = "cxstream_test_" + hex.EncodeToString(b)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := chstore.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open clickhouse store: %v", err)
	}
	t.Cleanup(func() {
		s.Close()
		Drop(t, cfg)
	})
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate clickhouse store: %v", err)
	}
	return s
}

// Drop removes the database of cfg; tests that create their own database
// (such as whole-pipeline tests) call it when they end.
func Drop(t testing.TB, cfg chstore.Config) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr: []string{cfg.Addr},
		Auth: clickhouse.Auth{Database: "default", Username: cfg.Username, Password: cfg.Password},
	})
	if err != nil {
		t.Errorf("drop test database %s: %v", cfg.Database, err)
		return
	}
	defer conn.Close()
	// cfg.Database is ours, cxstream_test_ and hex digits.
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS `"+cfg.Database+"`"); err != nil {
		t.Errorf("drop test database %s: %v", cfg.Database, err)
	}
}
