package chstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/testenv"
)

// openTestStore opens a store on a fresh database, cxstream_test_<random>,
// migrated, and drops the database when the test ends.
func openTestStore(t testing.TB) *Store {
	t.Helper()
	s := openEmptyStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

// openEmptyStore is openTestStore without the migrations.
func openEmptyStore(t testing.TB) *Store {
	t.Helper()
	cfg := Default()
	cfg.Addr = testenv.ClickHouse(t)
	cfg.Database = "cxstream_test_" + randomHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.conn.Exec(ctx, "DROP DATABASE IF EXISTS `"+cfg.Database+"`"); err != nil {
			t.Errorf("drop test database %s: %v", cfg.Database, err)
		}
		s.Close()
	})
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
