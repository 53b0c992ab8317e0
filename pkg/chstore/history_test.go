package chstore

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/schemas"
)

func rec(kind identity.Kind, profile, from, id, event string, at time.Time) identity.Record {
	return identity.Record{Kind: kind, Tenant: "t1", ProfileID: profile, FromProfileID: from,
		Identifier: id, EventID: event, At: at}
}

func TestIntegrationIdentityHistory(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()

	blocked := rec(identity.KindBlocked, "C", "A", "email:jane@example.com", "e4", t0.Add(3*time.Minute))
	blocked.Rule = "limit:email"
	blocked.Identifiers = []string{"user_id:u-9", "email:jane@example.com"}
	moved := rec(identity.KindMoved, "D", "A", "phone:+33600000000", "e5", t0.Add(4*time.Minute+time.Millisecond))
	moved.Rule = "rederive"
	unlinked := rec(identity.KindUnlinked, "", "A", "anonymous_id:a-2", "e7", t0.Add(5*time.Minute))
	unlinked.Rule = "rederive"
	mergeBA := at(merged("B", "A", []string{"B"}, 1), t0.Add(2*time.Minute))
	mergeBA.EventID = "e3"
	recs := []identity.Record{
		// Written in an order other than the history's: the query orders.
		rec(identity.KindLinked, "A", "", "phone:+33600000000", "e1", t0),
		rec(identity.KindLinked, "A", "", "email:jane@example.com", "e1", t0),
		rec(identity.KindCreated, "A", "", "", "e1", t0),
		rec(identity.KindLinked, "B", "", "anonymous_id:a-1", "e2", t0.Add(time.Minute)),
		rec(identity.KindCreated, "B", "", "", "e2", t0.Add(time.Minute)),
		rec(identity.KindLinked, "A", "", "device_id:d-1", "e3", t0.Add(2*time.Minute)),
		mergeBA,
		blocked,
		moved,
		unlinked,
		// Not A's: another profile, and A in another tenant.
		rec(identity.KindCreated, "X", "", "", "e6", t0),
		{Kind: identity.KindCreated, Tenant: "t2", ProfileID: "A", EventID: "e1", At: t0},
	}
	if err := s.InsertIdentity(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertIdentity(ctx, recs[:8]); err != nil { // redelivered, another part
		t.Fatal(err)
	}

	want := []identity.Record{recs[2], recs[1], recs[0], recs[4], recs[3], mergeBA, recs[5], blocked, moved, unlinked}
	for i := range want {
		want[i].At = want[i].At.UTC()
	}

	h, err := s.IdentityHistory(ctx, "t1", "A", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.ProfileIDs, []string{"A", "B"}) || h.Truncated {
		t.Errorf("history covers %v (truncated %v), want [A B] complete", h.ProfileIDs, h.Truncated)
	}
	if !reflect.DeepEqual(h.Records, want) {
		t.Errorf("history of A:\n%s\nwant:\n%s", describe(h.Records), describe(want))
	}

	t.Run("the profile a block happened on", func(t *testing.T) {
		h, err := s.IdentityHistory(ctx, "t1", "C", 0)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(h.Records, []identity.Record{blocked}) {
			t.Errorf("history of C:\n%s", describe(h.Records))
		}
	})

	t.Run("limit", func(t *testing.T) {
		for _, tc := range []struct {
			limit     int
			truncated bool
		}{{1, true}, {3, true}, {len(want), false}, {len(want) + 1, false}} {
			h, err := s.IdentityHistory(ctx, "t1", "A", tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			n := min(tc.limit, len(want))
			if !reflect.DeepEqual(h.Records, want[:n]) || h.Truncated != tc.truncated {
				t.Errorf("limit %d: %d records, truncated %v; want the first %d, truncated %v",
					tc.limit, len(h.Records), h.Truncated, n, tc.truncated)
			}
		}
	})

	t.Run("unknown profile", func(t *testing.T) {
		h, err := s.IdentityHistory(ctx, "t1", "nobody", 0)
		if err != nil || h.Records == nil || len(h.Records) != 0 {
			t.Errorf("history of an unknown profile = %v, %v; want empty, not nil", h.Records, err)
		}
	})

	t.Run("bad queries", func(t *testing.T) {
		for _, tc := range []struct {
			tenant, profile string
			limit           int
		}{{"t1", "A", -1}, {"t1", "A", MaxHistoryLimit + 1}, {"", "A", 0}, {"t1", "", 0}} {
			if _, err := s.IdentityHistory(ctx, tc.tenant, tc.profile, tc.limit); !errors.Is(err, ErrBadQuery) {
				t.Errorf("IdentityHistory(%q, %q, %d) error = %v, want ErrBadQuery", tc.tenant, tc.profile, tc.limit, err)
			}
		}
	})
}

// A database migrated before 0004 keeps its identity rows: they read with
// no rule and no identifiers, and new rows carry both.
func TestIntegrationIdentityRulesMigration(t *testing.T) {
	s := openEmptyStore(t)
	ctx := context.Background()
	ms, err := Migrations(schemas.ClickHouse)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m Migration) bool { return m.File == "0004_identity_rules.sql" })
	if i < 0 {
		t.Fatal("0004_identity_rules.sql is not embedded")
	}
	if _, err := s.migrate(ctx, ms[:i]); err != nil {
		t.Fatal(err)
	}
	old := rec(identity.KindLinked, "A", "", "email:old@example.com", "e1", t0)
	err = s.sendBatch(ctx, "cx_identity", `INSERT INTO cx_identity (tenant, kind, profile_id, from_profile_id,
 identifier, aliases, event_id, at, at_ms)`, 1, func(b driver.Batch) error {
		return b.Append(old.Tenant, string(old.Kind), old.ProfileID, "", old.Identifier, []string{}, old.EventID, t0, t0.UnixMilli())
	})
	if err != nil {
		t.Fatal(err)
	}
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := fileNames(ms[i:]); !slices.Equal(applied, want) {
		t.Fatalf("applied %v, want %v", applied, want)
	}
	blocked := rec(identity.KindBlocked, "A", "B", "email:b@example.com", "e2", t0.Add(time.Second))
	blocked.Rule, blocked.Identifiers = "max_identifiers", []string{"user_id:u", "email:b@example.com"}
	if err := s.InsertIdentity(ctx, []identity.Record{blocked}); err != nil {
		t.Fatal(err)
	}
	h, err := s.IdentityHistory(ctx, "t1", "A", 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []identity.Record{old, blocked}; !reflect.DeepEqual(h.Records, want) {
		t.Errorf("history:\n%s\nwant:\n%s", describe(h.Records), describe(want))
	}
}

// An interrupted 0004 (columns added, version not recorded) re-runs: the
// runner skips the columns that exist.
func TestIntegrationMigrateSkipsExistingColumns(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	ms, err := Migrations(schemas.ClickHouse)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m Migration) bool { return m.File == "0004_identity_rules.sql" })
	again := ms[i]
	again.Version, again.File = 9004, "9004_identity_rules.sql"
	more := Migration{Version: 9005, Name: "more", File: "9005_more.sql",
		SQL: "ALTER TABLE cx_identity ADD COLUMN rule String DEFAULT '' AFTER aliases;\nALTER TABLE `cx_identity` ADD COLUMN `note` String DEFAULT 'a, b';\n"}
	applied, err := s.migrate(ctx, []Migration{again, more})
	if err != nil {
		t.Fatalf("re-running 0004: %v", err)
	}
	if !slices.Equal(applied, []string{again.File, more.File}) {
		t.Errorf("applied %v", applied)
	}
	var n uint64
	if err := s.conn.QueryRow(ctx, `SELECT count() FROM system.columns
WHERE database = currentDatabase() AND table = 'cx_identity' AND name IN ('rule', 'identifiers', 'note')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("cx_identity has %d of the columns rule, identifiers, note; want 3", n)
	}
}

func TestParseAlter(t *testing.T) {
	for _, tc := range []struct {
		stmt          string
		table, column string
		err           string
	}{
		{stmt: "CREATE TABLE IF NOT EXISTS t (a String)"},
		{stmt: "SELECT 1"},
		{stmt: "ALTER TABLE cx_identity ADD COLUMN rule String DEFAULT '' AFTER aliases", table: "cx_identity", column: "rule"},
		{stmt: "alter table `t`\n  add column `c` Array(String)", table: "t", column: "c"},
		{stmt: "ALTER TABLE t ADD COLUMN c Tuple(String, UInt8) DEFAULT ('x,y', 1)", table: "t", column: "c"},
		{stmt: "ALTER TABLE t ADD COLUMN c String DEFAULT 'it''s, \\' fine'", table: "t", column: "c"},
		{stmt: "ALTER TABLE t ADD COLUMN IF NOT EXISTS c String", err: "no IF NOT EXISTS"},
		{stmt: "ALTER TABLE t ADD COLUMN a String, ADD COLUMN b String", err: "one ADD COLUMN per statement"},
		{stmt: "ALTER TABLE t ADD COLUMN a String, DROP COLUMN b", err: "one ADD COLUMN per statement"},
		{stmt: "ALTER TABLE t DROP COLUMN b", err: "ADD COLUMN c"},
		{stmt: "ALTER TABLE t DELETE WHERE 1", err: "ADD COLUMN c"},
	} {
		add, err := parseAlter(tc.stmt)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseAlter(%q) error = %v, want %q", tc.stmt, err, tc.err)
			}
		case err != nil:
			t.Errorf("parseAlter(%q): %v", tc.stmt, err)
		case tc.table == "" && add != nil:
			t.Errorf("parseAlter(%q) = %+v, want nil (not an ALTER)", tc.stmt, *add)
		case tc.table != "" && (add == nil || add.table != tc.table || add.column != tc.column):
			t.Errorf("parseAlter(%q) = %+v, want %s.%s", tc.stmt, add, tc.table, tc.column)
		}
	}
}

func TestHistoryKindsCoverEveryKind(t *testing.T) {
	for _, k := range identity.Kinds {
		if !slices.Contains(historyKinds, string(k)) {
			t.Errorf("kind %s has no place in historyKinds", k)
		}
	}
}

func fileNames(ms []Migration) []string {
	var names []string
	for _, m := range ms {
		names = append(names, m.File)
	}
	return names
}

func describe(recs []identity.Record) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString("  ")
		b.WriteString(strings.Join([]string{string(r.Kind), r.Tenant, r.ProfileID, r.FromProfileID, r.Identifier,
			strings.Join(r.Aliases, "|"), r.Rule, strings.Join(r.Identifiers, "|"), r.EventID, r.At.Format(time.RFC3339Nano)}, " "))
		b.WriteString("\n")
	}
	return b.String()
}
