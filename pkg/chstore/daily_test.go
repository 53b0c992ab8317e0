package chstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/chstore/chstoretest"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/testenv"
	"github.com/cxstream/cxstream/schemas"
)

// The days of the daily tests, midnight UTC.
var (
	day1 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	day2 = day1.AddDate(0, 0, 1)
	day3 = day1.AddDate(0, 0, 2)
)

// ev is a resolved event of tenant at the given time.
func ev(tenant, id, profile, channel string, typ event.Type, at time.Time) event.Resolved {
	return event.Resolved{ProfileID: profile, Event: &event.Event{
		EventID: id, Tenant: tenant, Channel: channel, Type: typ, Name: "n-" + id,
		EventTime: at, ReceivedAt: at.Add(time.Second),
		Identifiers: []event.Identifier{{Type: "email", Value: id + "@example.com"}},
	}}
}

// dailyEvents are events of t1 over three days, three channels and three
// types, and events of t2 that reuse t1's ids and profiles. Times sit on the
// day boundaries, to the millisecond, and an instant given in another zone
// counts on its UTC day (e7 is on March 1 in New York, March 2 in UTC).
func dailyEvents() []event.Resolved {
	newYork := time.FixedZone("EST", -5*3600)
	return []event.Resolved{
		ev("t1", "e1", "A", "web", event.TypePage, day1),
		ev("t1", "e2", "B", "web", event.TypePage, day1.Add(9*time.Hour+123*time.Millisecond)),
		ev("t1", "e3", "A", "web", event.TypePage, day1.Add(10*time.Hour)),
		ev("t1", "e4", "A", "web", event.TypeTrack, day1.Add(11*time.Hour)),
		ev("t1", "e5", "C", "store", event.TypeTrack, day2.Add(-time.Millisecond)), // last instant of day 1
		ev("t1", "e6", "A", "web", event.TypePage, day2),                           // first instant of day 2
		ev("t1", "e7", "B", "call_center", event.TypeIdentify, day2.Add(30*time.Minute).In(newYork)),
		ev("t1", "e8", "C", "web", event.TypePage, day3.Add(5*time.Hour)),
		ev("t2", "e1", "A", "web", event.TypePage, day1.Add(time.Hour)),
		ev("t2", "x1", "Z", "web", event.TypePage, day1.Add(2*time.Hour)),
	}
}

// redeliver inserts what an at-least-once sink produces: evs, then the whole
// batch again (a retried insert), then single events again in parts of
// their own, and e3 replayed under another profile D.
func redeliver(t *testing.T, s *chstore.Store, evs []event.Resolved) {
	t.Helper()
	redeliverWith(t, s.InsertEvents, evs)
}

// redeliverWith is redeliver with another insert.
func redeliverWith(t *testing.T, insert func(context.Context, []event.Resolved) error, evs []event.Resolved) {
	t.Helper()
	ctx := context.Background()
	replay := ev("t1", "e3", "D", "web", event.TypePage, day1.Add(10*time.Hour))
	for _, batch := range [][]event.Resolved{evs, evs, evs[1:2], evs[1:2], evs[4:5], {replay}} {
		if err := insert(ctx, batch); err != nil {
			t.Fatalf("insert events: %v", err)
		}
	}
}

// insertAsReleased returns an insert of events into cx_events as sinks of
// releases before 0009 wrote them: the columns of 0001 only, which a
// database not migrated past 0008 has.
func insertAsReleased(conn driver.Conn) func(context.Context, []event.Resolved) error {
	return func(ctx context.Context, rs []event.Resolved) error {
		b, err := conn.PrepareBatch(ctx, `INSERT INTO cx_events (tenant, event_id, profile_id, channel, type, name,
 event_time, event_time_ms, received_at, id_types, id_values, traits, properties, context)`)
		if err != nil {
			return err
		}
		for _, r := range rs {
			row, err := chstore.EncodeEvent(r)
			if err == nil {
				err = b.Append(row.Tenant, row.EventID, row.ProfileID, row.Channel, row.Type, row.Name,
					row.EventTime, row.EventTimeMS, row.ReceivedAt, row.IDTypes, row.IDValues,
					row.Traits, row.Properties, row.Context)
			}
			if err != nil {
				_ = b.Abort()
				return err
			}
		}
		return b.Send()
	}
}

// wantT1 is tenant t1's days after redeliver(dailyEvents()). Web pages of
// day 1 have three events (e2's copies count once) and three profiles: A, B
// and D, under which e3 was replayed (profiles as recorded).
var wantT1 = []string{
	"2026-03-01 store track events=1 profiles=1 first=2026-03-01T23:59:59.999Z last=2026-03-01T23:59:59.999Z",
	"2026-03-01 web page events=3 profiles=3 first=2026-03-01T00:00:00Z last=2026-03-01T10:00:00Z",
	"2026-03-01 web track events=1 profiles=1 first=2026-03-01T11:00:00Z last=2026-03-01T11:00:00Z",
	"2026-03-02 call_center identify events=1 profiles=1 first=2026-03-02T00:30:00Z last=2026-03-02T00:30:00Z",
	"2026-03-02 web page events=1 profiles=1 first=2026-03-02T00:00:00Z last=2026-03-02T00:00:00Z",
	"2026-03-03 web page events=1 profiles=1 first=2026-03-03T05:00:00Z last=2026-03-03T05:00:00Z",
}

func describeDays(ds []chstore.DailyChannel) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%s %s %s events=%d profiles=%d first=%s last=%s",
			d.Day.Format(time.DateOnly), d.Channel, d.Type, d.Events, d.Profiles,
			d.FirstEvent.Format(time.RFC3339Nano), d.LastEvent.Format(time.RFC3339Nano)))
	}
	return out
}

func dailyChannels(t *testing.T, s *chstore.Store, tenant string, from, to time.Time) []string {
	t.Helper()
	ds, err := s.DailyChannels(context.Background(), tenant, from, to)
	if err != nil {
		t.Fatalf("DailyChannels(%s, %v, %v): %v", tenant, from, to, err)
	}
	for _, d := range ds {
		if d.Day.Location() != time.UTC || d.FirstEvent.Location() != time.UTC || d.LastEvent.Location() != time.UTC {
			t.Errorf("DailyChannels returned times outside UTC: %+v", d)
		}
	}
	return describeDays(ds)
}

// connect opens a connection of the test's own to the store's database, for
// the queries the store does not offer.
func connect(t *testing.T, database string) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr: []string{testenv.ClickHouse(t)},
		Auth: clickhouse.Auth{Database: database, Username: chstore.Default().Username},
	})
	if err != nil {
		t.Fatalf("connect to clickhouse: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// fromEvents computes the days of tenant from cx_events directly: FINAL
// collapses the copies ReplacingMergeTree would, and count(DISTINCT event_id)
// the rest (copies under another profile id).
func fromEvents(t *testing.T, conn driver.Conn, tenant string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT toDate(event_time) AS day, channel, type,
       count(DISTINCT event_id), count(DISTINCT profile_id), min(event_time_ms), max(event_time_ms)
FROM cx_events FINAL
WHERE tenant = ?
GROUP BY day, channel, type
ORDER BY day, channel, type`, tenant)
	if err != nil {
		t.Fatalf("query cx_events: %v", err)
	}
	defer rows.Close()
	var ds []chstore.DailyChannel
	for rows.Next() {
		var (
			d             chstore.DailyChannel
			first, last   int64
			events, profs uint64
		)
		if err := rows.Scan(&d.Day, &d.Channel, &d.Type, &events, &profs, &first, &last); err != nil {
			t.Fatalf("scan cx_events: %v", err)
		}
		d.Events, d.Profiles = events, profs
		d.FirstEvent, d.LastEvent = time.UnixMilli(first).UTC(), time.UnixMilli(last).UTC()
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read cx_events: %v", err)
	}
	return describeDays(ds)
}

func count(t *testing.T, conn driver.Conn, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func exec(t *testing.T, conn driver.Conn, queries ...string) {
	t.Helper()
	for _, q := range queries {
		if err := conn.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// checkDays compares tenant's days with want and with the direct count from
// cx_events.
func checkDays(t *testing.T, s *chstore.Store, conn driver.Conn, tenant string, want []string) {
	t.Helper()
	got := dailyChannels(t, s, tenant, time.Time{}, time.Time{})
	if !slices.Equal(got, want) {
		t.Errorf("daily channels of %s:\n%s\nwant:\n%s", tenant, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if direct := fromEvents(t, conn, tenant); !slices.Equal(got, direct) {
		t.Errorf("daily channels of %s:\n%s\ndiffer from cx_events FINAL:\n%s", tenant, strings.Join(got, "\n"), strings.Join(direct, "\n"))
	}
}

func TestIntegrationDailyChannels(t *testing.T) {
	s := chstoretest.New(t)
	conn := connect(t, s.Database())
	// Every inserted block stays a part of its own, as before merges.
	exec(t, conn, "SYSTEM STOP MERGES cx_events", "SYSTEM STOP MERGES cx_daily_channels")
	redeliver(t, s, dailyEvents())

	// The duplicates are there: the counts below are not exact by luck.
	if n := count(t, conn, "SELECT count() FROM cx_events WHERE tenant = 't1'"); n != 8+8+2+1+1 {
		t.Fatalf("cx_events holds %d rows of t1, want 20 (merges are stopped)", n)
	}
	wantT2 := []string{"2026-03-01 web page events=2 profiles=2 first=2026-03-01T01:00:00Z last=2026-03-01T02:00:00Z"}
	check := func(t *testing.T) {
		checkDays(t, s, conn, "t1", wantT1)
		checkDays(t, s, conn, "t2", wantT2)
		// Events add up to the distinct events of the tenant.
		ds, err := s.DailyChannels(context.Background(), "t1", time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		var sum uint64
		for _, d := range ds {
			sum += d.Events
		}
		if total, err := s.CountEvents(context.Background(), "t1"); err != nil || sum != total || sum != 8 {
			t.Errorf("events of t1 add up to %d; CountEvents = %d (%v); want 8", sum, total, err)
		}
	}
	t.Run("before merges", check)

	t.Run("ranges", func(t *testing.T) {
		tests := []struct {
			name     string
			from, to time.Time
			want     []string
		}{
			{"one day between midnights", day1, day2, wantT1[:3]},
			{"to's day counts when to is after its midnight", day1, day2.Add(time.Millisecond), wantT1[:5]},
			{"from's day counts in full", day2.Add(23 * time.Hour), day3, wantT1[3:5]},
			{"non-UTC bounds are instants", day2.In(time.FixedZone("EST", -5*3600)), day3.Add(time.Hour), wantT1[3:]},
			{"no lower bound", time.Time{}, day2, wantT1[:3]},
			{"no upper bound", day3, time.Time{}, wantT1[5:]},
			{"before any event", day1.AddDate(-1, 0, 0), day1, []string{}},
			{"before 1970 and after 2105", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), wantT1},
			{"after 2105", time.Date(2150, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}, []string{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := dailyChannels(t, s, "t1", tt.from, tt.to); !slices.Equal(got, tt.want) {
					t.Errorf("days from %v to %v:\n%s\nwant:\n%s", tt.from, tt.to, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
				}
			})
		}
		if got := dailyChannels(t, s, "nobody", time.Time{}, time.Time{}); len(got) != 0 {
			t.Errorf("an unknown tenant has days: %v", got)
		}
	})

	t.Run("bad queries", func(t *testing.T) {
		for name, q := range map[string]struct {
			tenant   string
			from, to time.Time
		}{
			"no tenant":       {"", day1, day2},
			"from equals to":  {"t1", day1, day1},
			"from after to":   {"t1", day2, day1},
			"same day, later": {"t1", day1.Add(time.Hour), day1},
		} {
			if _, err := s.DailyChannels(context.Background(), q.tenant, q.from, q.to); !errors.Is(err, chstore.ErrBadQuery) {
				t.Errorf("%s: error = %v, want ErrBadQuery", name, err)
			}
		}
	})

	exec(t, conn, "SYSTEM START MERGES cx_events", "SYSTEM START MERGES cx_daily_channels",
		"OPTIMIZE TABLE cx_events FINAL", "OPTIMIZE TABLE cx_daily_channels FINAL")
	// Merged: one row per group (6 of t1, 1 of t2), and e3 under A and D.
	if n := count(t, conn, "SELECT count() FROM cx_daily_channels"); n != 7 {
		t.Errorf("after OPTIMIZE FINAL cx_daily_channels holds %d rows, want one per group (7)", n)
	}
	if n := count(t, conn, "SELECT count() FROM cx_events WHERE tenant = 't1'"); n != 9 {
		t.Errorf("after OPTIMIZE FINAL cx_events holds %d rows of t1, want 9", n)
	}
	t.Run("after merges", check)
}

// A database created before 0006 gets its existing events counted: the
// migration backfills them, and a re-run of it (an interrupted migration is
// re-run whole) counts nothing twice.
func TestIntegrationDailyChannelsBackfill(t *testing.T) {
	ctx := context.Background()
	ms, err := chstore.Migrations(schemas.ClickHouse)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m chstore.Migration) bool { return m.File == "0006_daily_channels.sql" })
	if i < 0 {
		t.Fatal("0006_daily_channels.sql is not embedded")
	}

	cfg := chstore.Default()
	cfg.Addr = testenv.ClickHouse(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	cfg.Database = "cxstream_test_" + hex.EncodeToString(b)
	s, err := chstore.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		chstoretest.Drop(t, cfg)
	})
	conn := connect(t, cfg.Database)
	// The schema as it was before 0006, events and all their copies in it.
	for _, m := range ms[:i] {
		exec(t, conn, chstore.SplitStatements(m.SQL)...)
	}
	evs := dailyEvents()
	redeliverWith(t, insertAsReleased(conn), evs[:5]) // day 1 of t1, by a sink of that release
	if _, err := s.DailyChannels(ctx, "t1", time.Time{}, time.Time{}); err == nil {
		t.Fatal("DailyChannels works before 0006 created its table")
	}

	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if !slices.Contains(applied, ms[i].File) {
		t.Fatalf("migrate applied %v, not %s", applied, ms[i].File)
	}
	t.Run("backfilled", func(t *testing.T) {
		checkDays(t, s, conn, "t1", wantT1[:3])
	})

	// The view counts what comes next, copies of backfilled events included.
	redeliver(t, s, evs)
	t.Run("view after backfill", func(t *testing.T) {
		checkDays(t, s, conn, "t1", wantT1)
	})

	exec(t, conn, "SYSTEM STOP MERGES cx_daily_channels") // so that rows only grow
	rows := count(t, conn, "SELECT count() FROM cx_daily_channels")
	exec(t, conn, chstore.SplitStatements(ms[i].SQL)...)
	if again := count(t, conn, "SELECT count() FROM cx_daily_channels"); again <= rows {
		t.Fatalf("re-running 0006 left %d rows in cx_daily_channels, had %d: it did not backfill again", again, rows)
	}
	t.Run("re-run counts nothing twice", func(t *testing.T) {
		checkDays(t, s, conn, "t1", wantT1)
	})
	exec(t, conn, "SYSTEM START MERGES cx_daily_channels", "OPTIMIZE TABLE cx_daily_channels FINAL")
	t.Run("re-run, merged", func(t *testing.T) {
		checkDays(t, s, conn, "t1", wantT1)
	})
}
