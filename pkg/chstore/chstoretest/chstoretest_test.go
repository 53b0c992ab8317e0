package chstoretest_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/chstore/chstoretest"
	"github.com/cxstream/cxstream/pkg/testenv"
)

// databaseExists asks the server directly: chstore.Open would create the
// database it is asked about.
func databaseExists(t *testing.T, addr, name string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Auth: clickhouse.Auth{Database: "default", Username: "default"}})
	if err != nil {
		t.Fatalf("connect to clickhouse: %v", err)
	}
	defer conn.Close()
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.databases WHERE name = ?", name).Scan(&n); err != nil {
		t.Fatalf("look up database %s: %v", name, err)
	}
	return n == 1
}

func randomName(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "cxstream_test_" + hex.EncodeToString(b)
}

func TestIntegrationNewGivesAMigratedDatabaseDroppedAtTheEnd(t *testing.T) {
	addr := testenv.ClickHouse(t)
	var db string
	t.Run("new", func(t *testing.T) {
		s := chstoretest.New(t)
		db = s.Database()
		if !strings.HasPrefix(db, "cxstream_test_") {
			t.Errorf("database %q, want a cxstream_test_ prefix", db)
		}
		if !databaseExists(t, addr, db) {
			t.Fatalf("database %s does not exist while the test runs", db)
		}
		n, err := s.CountEvents(t.Context(), "chstoretest_"+db[len("cxstream_test_"):])
		if err != nil || n != 0 {
			t.Errorf("CountEvents on a fresh store = %d, %v; want 0, nil (migrated tables)", n, err)
		}
	})
	if db == "" {
		t.FailNow()
	}
	if databaseExists(t, addr, db) {
		t.Errorf("database %s still exists after the test that created it ended", db)
	}
}

func TestIntegrationNewGivesEachTestItsOwnDatabase(t *testing.T) {
	a, b := chstoretest.New(t), chstoretest.New(t)
	if a.Database() == b.Database() {
		t.Errorf("two stores share database %s", a.Database())
	}
}

func TestIntegrationDrop(t *testing.T) {
	addr := testenv.ClickHouse(t)
	tests := []struct {
		name   string
		create bool
	}{
		{"an existing database", true},
		{"a database that does not exist", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := chstore.Default()
			cfg.Addr, cfg.Database = addr, randomName(t)
			if tt.create {
				s, err := chstore.Open(t.Context(), cfg) // creates the database
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				s.Close()
				if !databaseExists(t, addr, cfg.Database) {
					t.Fatalf("chstore.Open did not create %s", cfg.Database)
				}
			}
			chstoretest.Drop(t, cfg) // reports its failures with t.Errorf
			if databaseExists(t, addr, cfg.Database) {
				t.Errorf("database %s exists after Drop", cfg.Database)
			}
		})
	}
}
