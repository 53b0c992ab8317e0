package chstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/cxstream/cxstream/schemas"
)

// migrationsTable records applied migrations. The runner creates it itself,
// before reading it, so it is not one of the numbered migrations. Runners
// migrating at the same moment may record a version twice (see Migrate), so
// it is read as a set: SELECT DISTINCT version.
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
// all its statements succeeded, and returns the files it recorded. Running it
// again applies nothing. A migration that fails half-way is not recorded and
// is re-run whole next time, which is why its statements must be idempotent.
//
// CREATE TABLE IF NOT EXISTS makes a creation idempotent. ClickHouse 18.16
// has no ADD COLUMN IF NOT EXISTS, so the runner provides it: a statement
// "ALTER TABLE t ADD COLUMN c ..." (one column per statement, which
// Migrations enforces) is skipped when t already has a column c. It does not
// compare the column's type: a column is added once, by one migration.
//
// Concurrent runs. Several processes may run Migrate on one database at the
// same moment (pods starting together, on a fresh or a partly migrated
// database). No lock is taken, since ClickHouse has neither locks nor
// transactions for DDL; instead every runner applies, in version order,
// each migration it does not see recorded, so several runners may run the
// same statements at once, and the races are made harmless:
//
//   - two runners that both find a column missing both ALTER ADD it; the
//     loser's "column with this name already exists" (code 44 on 18.16, 15
//     DUPLICATE_COLUMN on current releases) counts as success once the
//     column is seen to exist;
//   - a CREATE ... IF NOT EXISTS that fails with TABLE_ALREADY_EXISTS (57)
//     counts as success (a defence: 18.16 makes a second creation of a table
//     wait for the first, then do nothing, and current releases are meant
//     to);
//   - a statement failing with a transient error (a DDL lock wait timed out,
//     a pooled connection found broken) is retried a few times, re-checking
//     the column of an ADD COLUMN first; this is safe because statements are
//     idempotent;
//   - before recording a migration the runner reads the records again and
//     skips the insert when another runner recorded it meanwhile, yet two
//     runners may still both record it: versions are read with DISTINCT, so a
//     duplicate row is harmless.
//
// What every runner gets: it returns nil only when the statements of every
// migration have taken effect (run by it or by another runner), each in turn
// after those of the previous versions, so the schema is that of every
// migration applied once; or it returns a real error (bad SQL, server down,
// context done), never one of the races above. Every version is recorded at
// least once (runners that start together often each record it) and is
// listed in the result of at least one runner, one that recorded it.
// The price of running without a lock is that a migration's statements may
// run several times at once: each must give the same result however many
// times it runs (an INSERT that would count its rows twice must not be in a
// migration).
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	ms, err := Migrations(schemas.ClickHouse)
	if err != nil {
		return nil, err
	}
	return s.migrate(ctx, ms)
}

func (s *Store) migrate(ctx context.Context, ms []Migration) ([]string, error) {
	if err := s.apply(ctx, migrationsTable); err != nil {
		return nil, fmt.Errorf("create cx_schema_migrations: %w", err)
	}
	done, err := s.recorded(ctx)
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		for i, stmt := range SplitStatements(m.SQL) {
			if err := s.apply(ctx, stmt); err != nil {
				return applied, fmt.Errorf("apply migration %s statement %d: %w", m.File, i+1, err)
			}
		}
		// Another runner may have recorded m while this one ran its
		// statements; the fresh read also lets this runner skip later
		// migrations that runners ahead of it have recorded.
		if done, err = s.recorded(ctx); err != nil {
			return applied, err
		}
		if done[m.Version] {
			continue
		}
		// A batch, not Exec of INSERT ... VALUES: over the native protocol
		// 18.16 answers such an INSERT by waiting for data blocks, and hangs.
		// A retried insert may write the row twice, which reads tolerate.
		err := retry(ctx, func() error {
			return s.sendBatch(ctx, "cx_schema_migrations",
				"INSERT INTO cx_schema_migrations (version, name, applied_at)", 1,
				func(b driver.Batch) error { return b.Append(m.Version, m.Name, time.Now().UTC()) })
		})
		if err != nil {
			return applied, fmt.Errorf("record migration %s: %w", m.File, err)
		}
		done[m.Version] = true
		applied = append(applied, m.File)
	}
	return applied, nil
}

// recorded is appliedVersions retried on transient errors.
func (s *Store) recorded(ctx context.Context) (map[uint32]bool, error) {
	var done map[uint32]bool
	err := retry(ctx, func() (err error) {
		done, err = s.appliedVersions(ctx)
		return err
	})
	return done, err
}

func (s *Store) appliedVersions(ctx context.Context) (map[uint32]bool, error) {
	vs, err := s.versions(ctx)
	if err != nil {
		return nil, err
	}
	done := make(map[uint32]bool, len(vs))
	for _, v := range vs {
		done[v] = true
	}
	return done, nil
}

// versions reads the recorded versions, each once however many rows record
// it, in increasing order.
func (s *Store) versions(ctx context.Context) ([]uint32, error) {
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT version FROM cx_schema_migrations ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("read cx_schema_migrations: %w", err)
	}
	defer rows.Close()
	var vs []uint32
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("scan cx_schema_migrations: %w", err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read cx_schema_migrations: %w", err)
	}
	return vs, nil
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

// ClickHouse exception codes the runner tells apart (ErrorCodes.cpp).
const (
	codeDuplicateColumn    = 15  // current releases: "Cannot add column c: column with this name already exists"
	codeIllegalColumn      = 44  // 18.16: the same message; also other column errors
	codeTableAlreadyExists = 57  // a CREATE TABLE whose table exists
	codeDeadlockAvoided    = 473 // a DDL lock not acquired within lock_acquire_timeout
	codeCannotAssignAlter  = 517 // a replicated ALTER raced another one
)

// createIfNotExists matches the statements for which TABLE_ALREADY_EXISTS
// means that the statement's effect is in place.
var createIfNotExists = regexp.MustCompile(`(?is)^CREATE\s+(TABLE|(MATERIALIZED\s+)?VIEW)\s+IF\s+NOT\s+EXISTS\s`)

// apply runs one statement of a migration so that running it again, or at
// the same time as another runner, has the effect of running it once: an ADD
// COLUMN whose column exists is skipped, an "already exists" error that a
// concurrent runner caused counts as success, and transient errors are
// retried.
func (s *Store) apply(ctx context.Context, stmt string) error {
	add, err := parseAlter(stmt)
	if err != nil {
		return err
	}
	return retry(ctx, func() error {
		if add != nil {
			if exists, err := s.columnExists(ctx, add); err != nil || exists {
				return err
			}
		}
		err := s.conn.Exec(ctx, stmt)
		if err == nil {
			return nil
		}
		code, ok := exceptionCode(err)
		switch {
		case !ok:
		case add != nil && (code == codeDuplicateColumn || code == codeIllegalColumn):
			// Another runner added the column between the look-up and the
			// ALTER. 44 also reports other column errors on 18.16, so the
			// error counts as success only when the column is there.
			if exists, qerr := s.columnExists(ctx, add); qerr == nil && exists {
				return nil
			}
		case code == codeTableAlreadyExists && createIfNotExists.MatchString(stmt):
			return nil
		}
		return err
	})
}

// columnExists reports whether the table of add has its column.
func (s *Store) columnExists(ctx context.Context, add *alterAdd) (bool, error) {
	var n uint64
	if err := s.conn.QueryRow(ctx, `SELECT count() FROM system.columns
WHERE database = currentDatabase() AND table = ? AND name = ?`, add.table, add.column).Scan(&n); err != nil {
		return false, fmt.Errorf("look up column %s.%s: %w", add.table, add.column, err)
	}
	return n > 0, nil
}

// exceptionCode returns the code of the ClickHouse exception in err's chain.
func exceptionCode(err error) (int32, bool) {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return ex.Code, true
	}
	return 0, false
}

// transient reports whether a statement that failed with err may succeed if
// run again: a DDL lock wait timed out, or the connection broke (a pooled
// connection the server had closed). Re-running is safe only because the
// runner's statements are idempotent.
func transient(err error) bool {
	if code, ok := exceptionCode(err); ok {
		return code == codeDeadlockAvoided || code == codeCannotAssignAlter
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// retryDelays are the waits before the second, third and fourth attempts of
// an operation that failed with a transient error.
var retryDelays = []time.Duration{100 * time.Millisecond, 400 * time.Millisecond, 1500 * time.Millisecond}

// retry runs op until it succeeds, fails with an error that is not
// transient, has run len(retryDelays)+1 times, or ctx is done; it returns
// op's last error.
func retry(ctx context.Context, op func() error) error {
	for i := 0; ; i++ {
		err := op()
		if err == nil || i == len(retryDelays) || !transient(err) || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(retryDelays[i])
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
