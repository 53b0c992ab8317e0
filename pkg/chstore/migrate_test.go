package chstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/testenv"
	"github.com/cxstream/cxstream/schemas"
)

func TestMigrationsEmbedded(t *testing.T) {
	ms, err := Migrations(schemas.ClickHouse)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	for i, m := range ms {
		if m.Version != uint32(i+1) {
			t.Errorf("migration %d is %s: versions must run 1, 2, 3 ... without gaps", i, m.File)
		}
		stmts := SplitStatements(m.SQL)
		if len(stmts) == 0 && !strings.HasPrefix(m.SQL, "-- Retired") {
			// A later migration may retire one (0003); it says so first.
			t.Errorf("%s has no statement and does not start with \"-- Retired\"", m.File)
		}
		for _, s := range stmts {
			// The common subset of 18.16 and current ClickHouse.
			for _, banned := range []string{"DateTime64", "Map(", "JSON,", "JSONExtract", "TTL ", "LowCardinality"} {
				if strings.Contains(s, banned) {
					t.Errorf("%s uses %s, which ClickHouse 18.16 lacks", m.File, banned)
				}
			}
			if strings.HasPrefix(s, "CREATE TABLE") && !strings.HasPrefix(s, "CREATE TABLE IF NOT EXISTS") {
				t.Errorf("%s: CREATE TABLE must say IF NOT EXISTS so that a re-run is harmless", m.File)
			}
		}
	}
}

func TestMigrationsNaming(t *testing.T) {
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []string
		wantErr string
	}{
		{"sorted by number", fstest.MapFS{
			"clickhouse/0010_b.sql": {Data: []byte("SELECT 1")},
			"clickhouse/0002_a.sql": {Data: []byte("SELECT 1")},
			"clickhouse/notes.txt":  {Data: []byte("ignored")},
		}, []string{"0002_a.sql", "0010_b.sql"}, ""},
		{"root directory", fstest.MapFS{"0001_x.sql": {Data: []byte("SELECT 1")}}, []string{"0001_x.sql"}, ""},
		{"duplicate version", fstest.MapFS{
			"0001_a.sql": {Data: []byte("SELECT 1")},
			"1_b.sql":    {Data: []byte("SELECT 1")},
		}, nil, "same version"},
		{"no number", fstest.MapFS{"events.sql": {Data: []byte("SELECT 1")}}, nil, "NNNN_name.sql"},
		{"version zero", fstest.MapFS{"0000_a.sql": {Data: []byte("SELECT 1")}}, nil, "NNNN_name.sql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := Migrations(tt.files)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, m.File)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("files = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&clickhouse.Exception{Code: codeDeadlockAvoided}, true},
		{fmt.Errorf("apply: %w", &clickhouse.Exception{Code: codeCannotAssignAlter}), true},
		{fmt.Errorf("read: %w", io.EOF), true},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{fmt.Errorf("write: %w", syscall.ECONNRESET), true},
		{fmt.Errorf("write: %w", syscall.EPIPE), true},
		{&clickhouse.Exception{Code: codeIllegalColumn}, false},
		{&clickhouse.Exception{Code: 62}, false}, // SYNTAX_ERROR
		{context.Canceled, false},
		{context.DeadlineExceeded, false},
		{errors.New("something else"), false},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("transient(%v) = %t, want %t", tc.err, got, tc.want)
		}
	}
}

func TestRetry(t *testing.T) {
	saved := retryDelays
	retryDelays = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	t.Cleanup(func() { retryDelays = saved })
	lock := fmt.Errorf("apply: %w", &clickhouse.Exception{Code: codeDeadlockAvoided})
	syntax := &clickhouse.Exception{Code: 62}

	// fails returns an op that fails with errs in turn, then succeeds, and
	// counts its calls.
	fails := func(calls *int, errs ...error) func() error {
		return func() error {
			*calls++
			if *calls <= len(errs) {
				return errs[*calls-1]
			}
			return nil
		}
	}
	var calls int
	if err := retry(context.Background(), fails(&calls, lock, lock)); err != nil || calls != 3 {
		t.Errorf("two transient errors: error %v after %d calls, want nil after 3", err, calls)
	}
	calls = 0
	if err := retry(context.Background(), fails(&calls, syntax, lock)); err != syntax || calls != 1 {
		t.Errorf("an error that is not transient: error %v after %d calls, want it after 1", err, calls)
	}
	calls = 0
	if err := retry(context.Background(), fails(&calls, lock, lock, lock, lock, lock)); err != lock || calls != len(retryDelays)+1 {
		t.Errorf("transient errors only: error %v after %d calls, want the last after %d", err, calls, len(retryDelays)+1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls = 0
	if err := retry(ctx, fails(&calls, lock, lock)); err != lock || calls != 1 {
		t.Errorf("context done: error %v after %d calls, want the first after 1", err, calls)
	}
}

func TestCreateIfNotExists(t *testing.T) {
	for stmt, want := range map[string]bool{
		"CREATE TABLE IF NOT EXISTS t (a String) ENGINE = Log":                    true,
		"create table\n  if not exists `t` (a String)":                            true,
		"CREATE MATERIALIZED VIEW IF NOT EXISTS v TO t AS SELECT 1":               true,
		"CREATE VIEW IF NOT EXISTS v AS SELECT 1":                                 true,
		"CREATE TABLE t (a String) ENGINE = Log":                                  false,
		"CREATE MATERIALIZED VIEW v TO t AS SELECT 'IF NOT EXISTS'":               false,
		"ALTER TABLE t ADD COLUMN c String":                                       false,
		"INSERT INTO t SELECT * FROM u WHERE name = 'CREATE TABLE IF NOT EXISTS'": false,
	} {
		if got := createIfNotExists.MatchString(stmt); got != want {
			t.Errorf("createIfNotExists(%q) = %t, want %t", stmt, got, want)
		}
	}
}

// dropTable matches a migration's DROP TABLE and captures the table.
var dropTable = regexp.MustCompile("(?is)^DROP\\s+TABLE\\s+(?:IF\\s+EXISTS\\s+)?`?(\\w+)`?")

// concurrentRunners is how many processes the concurrency tests start at
// once, each with its own connection pool.
const concurrentRunners = 6

// Runners started together on a fresh database (not even created yet: each
// runner's Open races CREATE DATABASE IF NOT EXISTS too) all succeed and
// leave the schema one runner alone builds, each version read once.
func TestIntegrationMigrateConcurrently(t *testing.T) {
	addr := testenv.ClickHouse(t)
	ms := embeddedMigrations(t)
	want := referenceSchema(t, addr, ms)
	for round := range 4 {
		t.Run(fmt.Sprintf("round %d", round), func(t *testing.T) {
			cfg := concurrencyTestConfig(t, addr)
			applied := migrateConcurrently(t, cfg)
			checkConcurrentMigration(t, cfg, ms, want, applied, fileNames(ms))
		})
	}
}

// Runners started together on a partly migrated database finish it: after
// the first n migrations were recorded, and after a migration was interrupted
// half-way (its first statement run, the version not recorded).
func TestIntegrationMigrateConcurrentlyPartlyMigrated(t *testing.T) {
	addr := testenv.ClickHouse(t)
	ms := embeddedMigrations(t)
	want := referenceSchema(t, addr, ms)
	for n := 1; n < len(ms); n++ {
		for _, interrupted := range []bool{false, true} {
			stmts := SplitStatements(ms[n].SQL)
			if interrupted && len(stmts) < 2 {
				continue
			}
			name := fmt.Sprintf("first %d recorded", n)
			if interrupted {
				name += fmt.Sprintf(", %s interrupted", ms[n].File)
			}
			t.Run(name, func(t *testing.T) {
				cfg := concurrencyTestConfig(t, addr)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				s, err := Open(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if _, err := s.migrate(ctx, ms[:n]); err != nil {
					t.Fatalf("migrate the first %d: %v", n, err)
				}
				if interrupted {
					if err := s.conn.Exec(ctx, stmts[0]); err != nil {
						t.Fatalf("%s statement 1: %v", ms[n].File, err)
					}
				}
				applied := migrateConcurrently(t, cfg)
				checkConcurrentMigration(t, cfg, ms, want, applied, fileNames(ms[n:]))
			})
		}
	}
}

func embeddedMigrations(t *testing.T) []Migration {
	t.Helper()
	ms, err := Migrations(schemas.ClickHouse)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// concurrencyTestConfig names a database that does not exist yet and drops
// it when the test ends. (chstoretest cannot serve here: it imports chstore,
// and it hands out a migrated store.)
func concurrencyTestConfig(t *testing.T, addr string) Config {
	cfg := Default()
	cfg.Addr = addr
	cfg.Database = "cxstream_test_" + randomHex(6)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := connect(ctx, cfg, "default")
		if err != nil {
			t.Errorf("drop test database %s: %v", cfg.Database, err)
			return
		}
		defer conn.Close()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS `"+cfg.Database+"`"); err != nil {
			t.Errorf("drop test database %s: %v", cfg.Database, err)
		}
	})
	return cfg
}

// migrateConcurrently releases concurrentRunners goroutines at once, each of
// which opens its own store on cfg and migrates it, like processes starting
// together. It fails the test for every runner that returns an error, and
// returns what each runner applied.
func migrateConcurrently(t *testing.T, cfg Config) [][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		applied = make([][]string, concurrentRunners)
		errs    = make([]error, concurrentRunners)
	)
	for i := range concurrentRunners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s, err := Open(ctx, cfg)
			if err != nil {
				errs[i] = err
				return
			}
			defer s.Close()
			applied[i], errs[i] = s.Migrate(ctx)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("runner %d: %v", i, err)
		}
	}
	return applied
}

// checkConcurrentMigration checks the database of cfg after concurrent
// runners returned applied: every table and column of ms exists, the schema
// is want (what one runner alone builds), each version is read once, every
// file of pending was applied by some runner and no other file by any, and
// one more Migrate applies nothing.
func checkConcurrentMigration(t *testing.T, cfg Config, ms []Migration, want map[string]string, applied [][]string, pending []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	tables := map[string]string{} // table -> the file that created it, or "" once dropped
	for _, m := range ms {
		for _, stmt := range SplitStatements(m.SQL) {
			if c := createIfNotExists.FindStringIndex(stmt); c != nil {
				tables[strings.Trim(strings.Fields(stmt[c[1]:])[0], "`(")] = m.File
			}
			if d := dropTable.FindStringSubmatch(stmt); d != nil {
				tables[d[1]] = ""
			}
		}
	}
	for table, file := range tables {
		var n uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = ?", table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		switch {
		case file != "" && n != 1:
			t.Errorf("%s: table %s is missing", file, table)
		case file == "" && n != 0:
			t.Errorf("table %s is there, though a migration drops it", table)
		}
	}
	for _, m := range ms {
		for _, stmt := range SplitStatements(m.SQL) {
			add, err := parseAlter(stmt)
			if err != nil {
				t.Fatal(err)
			}
			if add != nil {
				if ok, err := s.columnExists(ctx, add); err != nil || !ok {
					t.Errorf("%s: column %s.%s is missing (%v)", m.File, add.table, add.column, err)
				}
			}
		}
	}
	got := schemaOf(t, s)
	for table, def := range want {
		if got[table] != def {
			t.Errorf("table %s is\n%s\nwant (as one runner alone builds it)\n%s", table, got[table], def)
		}
	}
	for table := range got {
		if _, ok := want[table]; !ok {
			t.Errorf("unexpected table %s", table)
		}
	}

	vs, err := s.versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wantVersions []uint32
	for _, m := range ms {
		wantVersions = append(wantVersions, m.Version)
	}
	if !slices.Equal(vs, wantVersions) {
		t.Errorf("recorded versions read as %v, want %v", vs, wantVersions)
	}
	var rows uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM cx_schema_migrations").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows < uint64(len(ms)) {
		t.Errorf("cx_schema_migrations has %d rows for %d migrations", rows, len(ms))
	}

	var all []string
	for i, files := range applied {
		if !slices.IsSortedFunc(files, strings.Compare) {
			t.Errorf("runner %d applied %v, out of version order", i, files)
		}
		all = append(all, files...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	if !slices.Equal(all, pending) {
		t.Errorf("the runners applied %v together, want %v", all, pending)
	}
	counts := make([]int, len(applied))
	for i, files := range applied {
		counts[i] = len(files)
	}
	t.Logf("%d rows record %d migrations; the runners applied %v files", rows, len(ms), counts)

	again, err := s.Migrate(ctx)
	if err != nil || len(again) != 0 {
		t.Errorf("a later Migrate applied %v, %v; want nothing", again, err)
	}
}

// referenceSchema migrates a database of its own with one runner and returns
// its schema.
func referenceSchema(t *testing.T, addr string, ms []Migration) map[string]string {
	t.Helper()
	cfg := concurrencyTestConfig(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.migrate(ctx, ms); err != nil {
		t.Fatal(err)
	}
	return schemaOf(t, s)
}

// tableUUID is the UUID clause some releases print in a table's definition.
var tableUUID = regexp.MustCompile(` UUID '[0-9a-f-]+'`)

// schemaOf returns the CREATE statement of every table and view of the
// store's database, with the database's name replaced by "db" so that two
// databases compare.
func schemaOf(t *testing.T, s *Store) map[string]string {
	t.Helper()
	rows, err := s.conn.Query(context.Background(), "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase()")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	schema := make(map[string]string)
	for rows.Next() {
		var name, create string
		if err := rows.Scan(&name, &create); err != nil {
			t.Fatal(err)
		}
		create = tableUUID.ReplaceAllString(create, "")
		schema[name] = strings.ReplaceAll(create, s.Database(), "db")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return schema
}

// releasedAliases is 0003 as databases migrated before 0007 ran it.
const releasedAliases = `CREATE TABLE IF NOT EXISTS cx_profile_aliases
(
    tenant      String,
    alias_id    String,
    profile_id  String,
    version     UInt64,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY tuple()
ORDER BY (tenant, alias_id)`

// A database of an earlier release (0001-0006 applied, 0003 with its table,
// aliases versioned by event time) upgraded by 0007: cx_aliases is filled
// from the snapshots, so an id an unmerge revived is no alias, while its old
// row said it was; the old table is gone.
func TestIntegrationMigrateUpgradesAliases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := openEmptyStore(t)
	ms := embeddedMigrations(t)
	released := slices.Clone(ms[:6])
	released[2].SQL = releasedAliases
	if _, err := s.migrate(ctx, released); err != nil {
		t.Fatal(err)
	}
	// B was merged into A at 10:00 (state version 3), then revived by an
	// unmerge (version 4); C merged into A (version 5). The old table only
	// knew the merges.
	for _, row := range [][]any{{"t1", "B", "A", uint64(t0.UnixMilli())}, {"t1", "C", "A", uint64(t0.UnixMilli() + 1)}} {
		if err := s.sendBatch(ctx, "cx_profile_aliases", "INSERT INTO cx_profile_aliases (tenant, alias_id, profile_id, version)", 1,
			func(b driver.Batch) error { return b.Append(row...) }); err != nil {
			t.Fatal(err)
		}
	}
	insertReleasedSnapshots(t, s,
		snap("A", 1), snap("B", 2), mergedSnap("B", "A", 3), snap("A", 3),
		snap("B", 4), snap("A", 4), mergedSnap("C", "A", 5), snap("A", 5), snap("D", 6))
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := fileNames(ms[6:]); !slices.Equal(applied, want) {
		t.Fatalf("applied %v, want %v", applied, want)
	}
	for profile, want := range map[string][]string{"A": {"A", "C"}, "B": {"B"}, "D": {"D"}} {
		got, err := s.profileIDs(ctx, "t1", profile)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("after the upgrade profile %s covers %v, want %v", profile, got, want)
		}
	}
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'cx_profile_aliases'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("cx_profile_aliases is still there after 0007")
	}
}

// releasedSnapshotColumns are the columns of cx_profile_snapshots before
// 0008 added segments.
const releasedSnapshotColumns = `INSERT INTO cx_profile_snapshots (tenant, profile_id, version, as_of, merged_into,
 deleted, first_seen, last_seen, events, orders, lifetime_value, currency, lifecycle, email, profile)`

// insertReleasedSnapshots writes rows as sinks of releases before 0008 did,
// without segments (rows' Segments are ignored), each on its own.
func insertReleasedSnapshots(t *testing.T, s *Store, rows ...Snapshot) {
	t.Helper()
	for _, r := range rows {
		err := s.sendBatch(context.Background(), "cx_profile_snapshots", releasedSnapshotColumns, 1, func(b driver.Batch) error {
			return b.Append(r.Tenant, r.ProfileID, r.Version, dateTime(r.AsOf), r.MergedInto,
				r.Deleted, dateTime(r.FirstSeen), dateTime(r.LastSeen), r.Events, r.Orders,
				r.LifetimeValue, r.Currency, r.Lifecycle, r.Email, r.Profile)
		})
		if err != nil {
			t.Fatalf("insert snapshot %s v%d as before 0008: %v", r.ProfileID, r.Version, err)
		}
	}
}

// A database migrated up to 0007, with snapshots written without segments,
// upgraded by 0008: its rows read as in no segment, and new rows keep
// theirs. Running 0008 again (an interrupted migration re-runs whole)
// skips the column.
func TestIntegrationMigrateAddsSnapshotSegments(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := openEmptyStore(t)
	ms := embeddedMigrations(t)
	i := slices.IndexFunc(ms, func(m Migration) bool { return m.File == "0008_snapshot_segments.sql" })
	if i < 0 {
		t.Fatal("0008_snapshot_segments.sql is not embedded")
	}
	if _, err := s.migrate(ctx, ms[:i]); err != nil {
		t.Fatal(err)
	}
	insertReleasedSnapshots(t, s, snap("A", 1), mergedSnap("B", "A", 2))
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := fileNames(ms[i:]); !slices.Equal(applied, want) {
		t.Fatalf("applied %v, want %v", applied, want)
	}
	for _, profile := range []string{"A", "B"} {
		sn, ok, err := s.LatestSnapshot(ctx, "t1", profile)
		if err != nil || !ok || sn.Segments == nil || len(sn.Segments) != 0 {
			t.Errorf("snapshot of %s written before 0008 = %+v, %v, %v; want one with no segments", profile, sn, ok, err)
		}
	}
	a := snap("A", 3)
	a.Segments = []string{"vip_at_risk"}
	insertEach(t, s, a)
	if sn, _, err := s.LatestSnapshot(ctx, "t1", "A"); err != nil || !slices.Equal(sn.Segments, a.Segments) {
		t.Errorf("snapshot of A written after 0008 has segments %v, %v; want %v", sn.Segments, err, a.Segments)
	}

	again := ms[i]
	again.Version, again.File = 9008, "9008_snapshot_segments.sql"
	if applied, err := s.migrate(ctx, []Migration{again}); err != nil || !slices.Equal(applied, []string{again.File}) {
		t.Fatalf("re-running 0008: applied %v, %v", applied, err)
	}
	var typ string
	if err := s.conn.QueryRow(ctx, `SELECT type FROM system.columns
WHERE database = currentDatabase() AND table = 'cx_profile_snapshots' AND name = 'segments'`).Scan(&typ); err != nil || typ != "Array(String)" {
		t.Errorf("column segments: type %q, %v; want Array(String)", typ, err)
	}
}

// releasedEventColumns are the columns of cx_events before 0009 added the
// trait operations.
const releasedEventColumns = `INSERT INTO cx_events (tenant, event_id, profile_id, channel, type, name,
 event_time, event_time_ms, received_at, id_types, id_values, traits, properties, context)`

// insertReleasedEvents writes events as sinks of releases before 0009 did:
// every column but traits_set_once, traits_unset and traits_increment.
func insertReleasedEvents(t *testing.T, s *Store, rs ...event.Resolved) {
	t.Helper()
	err := s.sendBatch(context.Background(), "cx_events", releasedEventColumns, len(rs), func(b driver.Batch) error {
		for _, r := range rs {
			row, err := EncodeEvent(r)
			if err != nil {
				return err
			}
			if err := b.Append(row.Tenant, row.EventID, row.ProfileID, row.Channel, row.Type, row.Name,
				row.EventTime, row.EventTimeMS, row.ReceivedAt, row.IDTypes, row.IDValues,
				row.Traits, row.Properties, row.Context); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("insert events as before 0009: %v", err)
	}
}

// A database migrated up to 0008, with events written without the trait
// operations, upgraded by 0009: its rows read as events without set-once,
// unset or increment operations (and with everything else), and new rows
// keep theirs. Running 0009 again (an interrupted migration re-runs whole)
// skips the columns.
func TestIntegrationMigrateAddsEventTraitOps(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := openEmptyStore(t)
	ms := embeddedMigrations(t)
	i := slices.IndexFunc(ms, func(m Migration) bool { return m.File == "0009_event_trait_ops.sql" })
	if i < 0 {
		t.Fatal("0009_event_trait_ops.sql is not embedded")
	}
	if _, err := s.migrate(ctx, ms[:i]); err != nil {
		t.Fatal(err)
	}
	events := envelopeEvents(t, "t1")
	old, fresh := events[:2], events[2:]
	if len(old[0].TraitsSetOnce) == 0 || len(old[1].TraitsUnset) == 0 || len(old[1].TraitsIncrement) == 0 ||
		len(fresh[1].TraitsIncrement) == 0 {
		t.Fatal("the events lack the trait operations this test is about")
	}
	for _, e := range old {
		insertReleasedEvents(t, s, event.Resolved{ProfileID: "P1", Event: e})
	}
	if err := s.CheckScan(ctx); err == nil || !strings.Contains(err.Error(), "cxstream migrate") {
		t.Errorf("CheckScan before 0009 = %v, want an error that says to migrate", err)
	}
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := fileNames(ms[i:]); !slices.Equal(applied, want) {
		t.Fatalf("applied %v, want %v", applied, want)
	}
	var rows []event.Resolved
	for _, e := range fresh {
		rows = append(rows, event.Resolved{ProfileID: "P1", Event: e})
	}
	if err := s.InsertEvents(ctx, rows); err != nil {
		t.Fatal(err)
	}

	if err := s.CheckScan(ctx); err != nil {
		t.Errorf("CheckScan after 0009 = %v", err)
	}
	got := scanAll(t, s, "t1", len(events))
	for k, e := range events {
		want := *e
		want.EventTime, want.ReceivedAt = e.EventTime.Truncate(time.Millisecond), e.ReceivedAt.Truncate(time.Second)
		if k < len(old) { // written before 0009: the columns' defaults
			want.TraitsSetOnce, want.TraitsUnset, want.TraitsIncrement = nil, nil, nil
		}
		if !reflect.DeepEqual(*got[k], want) {
			g, _ := json.Marshal(got[k])
			w, _ := json.Marshal(want)
			t.Errorf("event %s (written before 0009: %v):\n got %s\nwant %s", e.EventID, k < len(old), g, w)
		}
	}

	again := ms[i]
	again.Version, again.File = 9009, "9009_event_trait_ops.sql"
	if applied, err := s.migrate(ctx, []Migration{again}); err != nil || !slices.Equal(applied, []string{again.File}) {
		t.Fatalf("re-running 0009: applied %v, %v", applied, err)
	}
	// The columns, once each, in place: after context, before inserted_at.
	cols, err := s.conn.Query(ctx, `SELECT name, type, default_expression FROM system.columns
WHERE database = currentDatabase() AND table = 'cx_events'`)
	if err != nil {
		t.Fatal(err)
	}
	defer cols.Close()
	var names, types []string
	for cols.Next() {
		var name, typ, def string
		if err := cols.Scan(&name, &typ, &def); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		types = append(types, strings.TrimSpace(name+" "+typ+" "+def))
	}
	if err := cols.Err(); err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"tenant", "event_id", "profile_id", "channel", "type", "name", "event_time", "event_time_ms",
		"received_at", "id_types", "id_values", "traits", "properties", "context",
		"traits_set_once", "traits_unset", "traits_increment", "inserted_at"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("cx_events columns %v, want %v", names, wantNames)
	}
	for _, want := range []string{"traits_set_once String ''", "traits_unset Array(String)", "traits_increment String ''"} {
		if !slices.Contains(types, want) {
			t.Errorf("cx_events has no column %s: %v", want, types)
		}
	}
}
