package chstore

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/cxstream/cxstream/schemas"
)

// migrationsTable records applied migrations. The runner creates it itself,
// before reading it, so it is not one of the numbered migrations.
const migrationsTable = `CREATE TABLE IF NOT EXISTS cx_schema_migrations
(
    version    UInt32,
    name       String,
    applied_at DateTime('UTC')
)
ENGINE = MergeTree
ORDER BY version`

// Migration is one file of schemas/clickhouse.
type Migration struct {
	Version uint32
	Name    string // file name without the version and ".sql": "events"
	File    string
	SQL     string
}

// Migrations reads NNNN_name.sql files from fsys (the root or a clickhouse/
// directory in it) in version order. Versions must be unique.
func Migrations(fsys fs.FS) ([]Migration, error) {
	dir := "."
	if fi, err := fs.Stat(fsys, "clickhouse"); err == nil && fi.IsDir() {
		dir = "clickhouse"
	}
	files, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var ms []Migration
	seen := make(map[uint32]string)
	for _, f := range files {
		base := path.Base(f)
		num, name, ok := strings.Cut(strings.TrimSuffix(base, ".sql"), "_")
		v, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil || name == "" || v == 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql with NNNN >= 1", base)
		}
		if prev, dup := seen[uint32(v)]; dup {
			return nil, fmt.Errorf("migrations %s and %s have the same version %d", prev, base, v)
		}
		seen[uint32(v)] = base
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", base, err)
		}
		ms = append(ms, Migration{Version: uint32(v), Name: name, File: base, SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return int(a.Version) - int(b.Version) })
	return ms, nil
}

// Migrate applies the migrations of schemas.ClickHouse that
// cx_schema_migrations does not list, in version order, recording each after
// all its statements succeeded, and returns the files it applied. Running it
// again applies nothing. A migration that fails half-way is not recorded and
// is re-run whole next time, which is why its statements must be idempotent.
//
// Two processes migrating at the same moment may both apply a migration;
// with idempotent statements the result is the same, and the version is
// recorded twice (harmless: versions are read as a set). A lock across
// processes is future work.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	ms, err := Migrations(schemas.ClickHouse)
	if err != nil {
		return nil, err
	}
	return s.migrate(ctx, ms)
}

func (s *Store) migrate(ctx context.Context, ms []Migration) ([]string, error) {
	if err := s.conn.Exec(ctx, migrationsTable); err != nil {
		return nil, fmt.Errorf("create cx_schema_migrations: %w", err)
	}
	done, err := s.appliedVersions(ctx)
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		for i, stmt := range SplitStatements(m.SQL) {
			if err := s.conn.Exec(ctx, stmt); err != nil {
				return applied, fmt.Errorf("apply migration %s statement %d: %w", m.File, i+1, err)
			}
		}
		// A batch, not Exec of INSERT ... VALUES: over the native protocol
		// 18.16 answers such an INSERT by waiting for data blocks, and hangs.
		err := s.sendBatch(ctx, "cx_schema_migrations",
			"INSERT INTO cx_schema_migrations (version, name, applied_at)", 1,
			func(b driver.Batch) error { return b.Append(m.Version, m.Name, time.Now().UTC()) })
		if err != nil {
			return applied, fmt.Errorf("record migration %s: %w", m.File, err)
		}
		applied = append(applied, m.File)
	}
	return applied, nil
}

func (s *Store) appliedVersions(ctx context.Context) (map[uint32]bool, error) {
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT version FROM cx_schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("read cx_schema_migrations: %w", err)
	}
	defer rows.Close()
	done := make(map[uint32]bool)
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("scan cx_schema_migrations: %w", err)
		}
		done[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read cx_schema_migrations: %w", err)
	}
	return done, nil
}
