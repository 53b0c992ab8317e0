package chstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
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
// directory in it) in version order. Versions must be unique, and an ALTER
// TABLE statement must add exactly one column (see Migrate).
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
		for i, stmt := range SplitStatements(string(b)) {
			if _, err := parseAlter(stmt); err != nil {
				return nil, fmt.Errorf("migration %s statement %d: %w", base, i+1, err)
			}
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
// CREATE TABLE IF NOT EXISTS makes a creation idempotent. ClickHouse 18.16
// has no ADD COLUMN IF NOT EXISTS, so the runner provides it: a statement
// "ALTER TABLE t ADD COLUMN c ..." (one column per statement, which
// Migrations enforces) is skipped when t already has a column c. It does not
// compare the column's type: a column is added once, by one migration.
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
			skip, err := s.alreadyApplied(ctx, stmt)
			if err != nil {
				return applied, fmt.Errorf("apply migration %s statement %d: %w", m.File, i+1, err)
			}
			if skip {
				continue
			}
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

// addColumn is the one ALTER form migrations may use. Names are plain or
// backquoted identifiers of the current database.
var addColumn = regexp.MustCompile("(?is)^ALTER\\s+TABLE\\s+`?(\\w+)`?\\s+ADD\\s+COLUMN\\s+`?(\\w+)`?\\s+(.*)$")

// alterAdd is a parsed "ALTER TABLE table ADD COLUMN column ...".
type alterAdd struct{ table, column string }

// parseAlter returns the table and column of an ALTER TABLE ... ADD COLUMN
// statement, nil for a statement that is not an ALTER, and an error for any
// other ALTER: the runner can re-run only single-column additions safely.
func parseAlter(stmt string) (*alterAdd, error) {
	fields := strings.Fields(stmt)
	if len(fields) == 0 || !strings.EqualFold(fields[0], "ALTER") {
		return nil, nil
	}
	m := addColumn.FindStringSubmatch(stmt)
	if m == nil || strings.EqualFold(m[2], "IF") {
		return nil, errors.New("an ALTER must read ALTER TABLE t ADD COLUMN c ... (18.16 has no IF NOT EXISTS; the runner skips columns that exist)")
	}
	if topLevelComma(m[3]) {
		return nil, fmt.Errorf("ALTER TABLE %s adds more than one column or runs more than one command: write one ADD COLUMN per statement", m[1])
	}
	return &alterAdd{table: m[1], column: m[2]}, nil
}

// topLevelComma reports whether s has a comma outside parentheses and
// quotes, that is, a second command of an ALTER.
func topLevelComma(s string) bool {
	depth := 0
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
		case quote != 0:
			if r == '\\' {
				escaped = true
			} else if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"' || r == '`':
			quote = r
		case r == '(' || r == '[':
			depth++
		case r == ')' || r == ']':
			depth--
		case r == ',' && depth == 0:
			return true
		}
	}
	return false
}

// alreadyApplied reports whether stmt is an ADD COLUMN whose column exists.
func (s *Store) alreadyApplied(ctx context.Context, stmt string) (bool, error) {
	add, err := parseAlter(stmt)
	if err != nil || add == nil {
		return false, err
	}
	var n uint64
	if err := s.conn.QueryRow(ctx, `SELECT count() FROM system.columns
WHERE database = currentDatabase() AND table = ? AND name = ?`, add.table, add.column).Scan(&n); err != nil {
		return false, fmt.Errorf("look up column %s.%s: %w", add.table, add.column, err)
	}
	return n > 0, nil
}
