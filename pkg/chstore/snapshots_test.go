package chstore

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// snap is a profile state of tenant t1 at version v; its lifetime value is
// the version, so tests can tell which row a query returned.
func snap(profile string, v uint64) Snapshot {
	return Snapshot{
		Tenant: "t1", ProfileID: profile, Version: v,
		AsOf:      t0.Add(time.Duration(v) * time.Minute),
		FirstSeen: t0, LastSeen: t0.Add(time.Duration(v) * time.Minute),
		Events: 10 * v, Orders: v, LifetimeValue: float64(v) + 0.5, Currency: "EUR",
		Lifecycle: "active", Email: profile + "@example.com",
		Profile: `{"profile_id":"` + profile + `","version":` + strconv.FormatUint(v, 10) + `}`,
	}
}

func mergedSnap(profile, into string, v uint64) Snapshot {
	return Snapshot{Tenant: "t1", ProfileID: profile, Version: v, AsOf: t0, MergedInto: into}
}

func deletedSnap(profile string, v uint64) Snapshot {
	return Snapshot{Tenant: "t1", ProfileID: profile, Version: v, AsOf: t0, Deleted: true}
}

// insertEach inserts each row on its own: one part per row, which merges
// have not collapsed when the queries run.
func insertEach(t *testing.T, s *Store, rows ...Snapshot) {
	t.Helper()
	for _, r := range rows {
		if err := s.InsertSnapshots(context.Background(), []Snapshot{r}); err != nil {
			t.Fatalf("insert snapshot %s v%d: %v", r.ProfileID, r.Version, err)
		}
	}
}

// openSnapshotStore is openTestStore with merges of cx_profile_snapshots
// stopped: every inserted row stays in its part, as before a merge, so the
// tests show that the queries do not rely on ReplacingMergeTree.
func openSnapshotStore(t *testing.T) *Store {
	t.Helper()
	s := openTestStore(t)
	if err := s.conn.Exec(context.Background(), "SYSTEM STOP MERGES cx_profile_snapshots"); err != nil {
		t.Fatalf("stop merges: %v", err)
	}
	return s
}

// current returns "profile@version" for each current profile of t1.
func current(t *testing.T, s *Store) []string {
	t.Helper()
	snaps, err := s.CurrentProfiles(context.Background(), "t1")
	if err != nil {
		t.Fatalf("current profiles: %v", err)
	}
	var out []string
	for _, sn := range snaps {
		if !sn.Current() {
			t.Errorf("CurrentProfiles returned %s v%d, which is not current: %+v", sn.ProfileID, sn.Version, sn)
		}
		out = append(out, sn.ProfileID+"@"+strconv.FormatUint(sn.Version, 10))
	}
	return out
}

func latestVersion(t *testing.T, s *Store, profile string) (Snapshot, bool) {
	t.Helper()
	sn, ok, err := s.LatestSnapshot(context.Background(), "t1", profile)
	if err != nil {
		t.Fatalf("latest snapshot of %s: %v", profile, err)
	}
	return sn, ok
}

func TestIntegrationSnapshotsNewestVersionWins(t *testing.T) {
	s := openSnapshotStore(t)
	// A: newest first, then the older ones arrive late, each in its own
	// part. B: in order. C: all in one batch, shuffled.
	insertEach(t, s, snap("A", 7), snap("A", 2), snap("A", 5), snap("B", 1), snap("B", 3))
	if err := s.InsertSnapshots(context.Background(), []Snapshot{snap("C", 4), snap("C", 9), snap("C", 6)}); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T) {
		if got, want := current(t, s), []string{"A@7", "B@3", "C@9"}; !slices.Equal(got, want) {
			t.Errorf("current profiles = %v, want %v", got, want)
		}
		for profile, want := range map[string]uint64{"A": 7, "B": 3, "C": 9} {
			sn, ok := latestVersion(t, s, profile)
			if !ok || sn.Version != want || sn.LifetimeValue != float64(want)+0.5 {
				t.Errorf("latest snapshot of %s = v%d ltv %v (found %v), want v%d", profile, sn.Version, sn.LifetimeValue, ok, want)
			}
		}
	}
	t.Run("before merges", check)
	mergeAll(t, s, 3)
	t.Run("after merges", check)
}

// mergeAll lets the server merge cx_profile_snapshots completely and checks
// that ReplacingMergeTree(version) left one row per profile: the queries'
// answers must not change.
func mergeAll(t *testing.T, s *Store, profiles uint64) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{"SYSTEM START MERGES cx_profile_snapshots", "OPTIMIZE TABLE cx_profile_snapshots FINAL"} {
		if err := s.conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM cx_profile_snapshots").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != profiles {
		t.Errorf("after OPTIMIZE FINAL the table holds %d rows, want one per profile (%d)", n, profiles)
	}
}

func TestIntegrationSnapshotsMergedAndDeletedAreNotCurrent(t *testing.T) {
	s := openSnapshotStore(t)
	insertEach(t, s,
		snap("A", 1), snap("A", 5), // stays current
		snap("B", 2), mergedSnap("B", "A", 5), // merged into A
		snap("C", 3), deletedSnap("C", 4), // deleted
		deletedSnap("D", 8), snap("D", 6), // deleted; its older state arrives late
		snap("E", 9), mergedSnap("E", "A", 7), // an older merge arrives late: E stays current
		deletedSnap("F", 3), snap("F", 10), // deleted, then a newer state: current again
		mergedSnap("G", "A", 11), // only ever seen as merged
	)
	check := func(t *testing.T) {
		if got, want := current(t, s), []string{"A@5", "E@9", "F@10"}; !slices.Equal(got, want) {
			t.Errorf("current profiles = %v, want %v", got, want)
		}
		b, ok := latestVersion(t, s, "B")
		if !ok || b.MergedInto != "A" || b.Deleted || b.Version != 5 || b.Current() || b.Profile != "" || b.Events != 0 {
			t.Errorf("latest snapshot of B = %+v (found %v), want the merge into A at v5", b, ok)
		}
		c, ok := latestVersion(t, s, "C")
		if !ok || !c.Deleted || c.MergedInto != "" || c.Version != 4 || c.Current() {
			t.Errorf("latest snapshot of C = %+v (found %v), want the deletion at v4", c, ok)
		}
		d, _ := latestVersion(t, s, "D")
		if !d.Deleted || d.Version != 8 {
			t.Errorf("latest snapshot of D = %+v, want the deletion at v8", d)
		}
		if _, ok := latestVersion(t, s, "nobody"); ok {
			t.Error("LatestSnapshot found a profile that has no snapshot")
		}
	}
	t.Run("before merges", check)
	mergeAll(t, s, 7)
	t.Run("after merges", check)
}

func TestIntegrationSnapshotsRedeliveryDoesNotDuplicate(t *testing.T) {
	s := openSnapshotStore(t)
	ctx := context.Background()
	batch := []Snapshot{snap("A", 3), snap("B", 4), mergedSnap("C", "A", 5)}
	for range 3 { // the batch, then two redeliveries (a retried insert)
		if err := s.InsertSnapshots(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	insertEach(t, s, snap("A", 3), snap("B", 4)) // and single copies
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM cx_profile_snapshots WHERE profile_id = ?", "A").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("cx_profile_snapshots holds %d rows of A, want the 4 copies (merges are stopped)", n)
	}
	if got, want := current(t, s), []string{"A@3", "B@4"}; !slices.Equal(got, want) {
		t.Errorf("current profiles = %v, want %v (each once)", got, want)
	}
	a, ok := latestVersion(t, s, "A")
	if !ok || !reflect.DeepEqual(a, batch[0].stored()) {
		t.Errorf("latest snapshot of A = %+v, want %+v", a, batch[0].stored())
	}
}

// stored is s as it reads back: times in whole seconds, UTC, and no
// segments as an empty list.
func (s Snapshot) stored() Snapshot {
	s.AsOf, s.FirstSeen, s.LastSeen = dateTime(s.AsOf.Truncate(time.Second)),
		dateTime(s.FirstSeen.Truncate(time.Second)), dateTime(s.LastSeen.Truncate(time.Second))
	s.Segments = nonNil(s.Segments)
	return s
}

func TestIntegrationSnapshotsRoundTrip(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	cet := time.FixedZone("CET", 3600)
	full := Snapshot{
		Tenant: "t1", ProfileID: "0193a5b0-0000-7000-8000-000000000001", Version: 1<<63 + 17,
		AsOf:      time.Date(2026, 11, 23, 11, 0, 0, 750e6, cet),
		FirstSeen: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), LastSeen: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		Events: 12, Orders: 2, LifetimeValue: 108.54, Currency: "USD", Lifecycle: "at_risk", Email: "jane@example.com",
		// Names are a-z, 0-9 and _ (docs/segments.md); the column keeps
		// any text exactly, in the order given.
		Segments: []string{"recent_detractors", "vip_at_risk", "it's, [\\] \"odd\" ✓", ""},
		Profile:  `{"profile_id":"0193a5b0-0000-7000-8000-000000000001","traits":{"quote":"it's \\ fine","emoji":"✓"}}`,
	}
	// Times DateTime cannot hold: unknown, before 1970, after 2105.
	edge := Snapshot{Tenant: "t1", ProfileID: "edge", Version: 1,
		FirstSeen: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), LastSeen: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := s.InsertSnapshots(ctx, []Snapshot{full, edge}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.LatestSnapshot(ctx, "t1", full.ProfileID)
	if err != nil || !ok {
		t.Fatalf("LatestSnapshot = %v, %v", ok, err)
	}
	want := full.stored()
	if !reflect.DeepEqual(got, want) || got.AsOf.Location() != time.UTC || !got.AsOf.Equal(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
	e, _, err := s.LatestSnapshot(ctx, "t1", "edge")
	if err != nil {
		t.Fatal(err)
	}
	if !e.AsOf.Equal(time.Unix(0, 0)) || !e.FirstSeen.Equal(time.Unix(0, 0)) || !e.LastSeen.Equal(maxTime) {
		t.Errorf("clamped times = %v %v %v, want 1970, 1970, %v", e.AsOf, e.FirstSeen, e.LastSeen, maxTime.UTC())
	}
	if e.Segments == nil || len(e.Segments) != 0 {
		t.Errorf("nil segments read back as %#v, want an empty list", e.Segments)
	}
}

// Segments follow the latest snapshot: a newer state replaces the list, a
// merge or a tombstone empties it, and CurrentProfiles reads it.
func TestIntegrationSnapshotsSegments(t *testing.T) {
	s := openSnapshotStore(t)
	ctx := context.Background()
	in := func(profile string, v uint64, segments ...string) Snapshot {
		sn := snap(profile, v)
		sn.Segments = segments
		return sn
	}
	insertEach(t, s,
		in("A", 1, "vip_at_risk"), in("A", 4, "recent_detractors", "vip_at_risk"),
		in("B", 5), in("B", 2, "vip_at_risk"), // left the segment; the older state arrives late
		in("C", 3, "vip_at_risk"), mergedSnap("C", "A", 6),
	)
	check := func(t *testing.T) {
		snaps, err := s.CurrentProfiles(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for _, sn := range snaps {
			got[sn.ProfileID] = sn.Segments
		}
		if want := map[string][]string{"A": {"recent_detractors", "vip_at_risk"}, "B": {}}; !reflect.DeepEqual(got, want) {
			t.Errorf("segments of the current profiles = %#v, want %#v", got, want)
		}
		c, _ := latestVersion(t, s, "C")
		if c.MergedInto != "A" || c.Segments == nil || len(c.Segments) != 0 {
			t.Errorf("latest snapshot of C = %+v, want the merge, in no segment", c)
		}
	}
	t.Run("before merges", check)
	mergeAll(t, s, 3)
	t.Run("after merges", check)
}

func TestIntegrationSnapshotsTenantsAndBadQueries(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	other := snap("A", 9)
	other.Tenant = "t2"
	insertEach(t, s, snap("A", 1), other)
	if got := current(t, s); !slices.Equal(got, []string{"A@1"}) {
		t.Errorf("current profiles of t1 = %v, want A@1 only", got)
	}
	none, err := s.CurrentProfiles(ctx, "t3")
	if err != nil || none == nil || len(none) != 0 {
		t.Errorf("CurrentProfiles of an empty tenant = %v, %v; want an empty list", none, err)
	}
	if _, err := s.CurrentProfiles(ctx, ""); !errors.Is(err, ErrBadQuery) {
		t.Errorf("CurrentProfiles without tenant: %v, want ErrBadQuery", err)
	}
	for _, args := range [][2]string{{"", "A"}, {"t1", ""}} {
		if _, _, err := s.LatestSnapshot(ctx, args[0], args[1]); !errors.Is(err, ErrBadQuery) {
			t.Errorf("LatestSnapshot(%q, %q): %v, want ErrBadQuery", args[0], args[1], err)
		}
	}
	bad := snap("B", 1)
	bad.Tenant = ""
	if err := s.InsertSnapshots(ctx, []Snapshot{snap("B", 2), bad}); err == nil || !strings.Contains(err.Error(), "tenant: required") {
		t.Errorf("InsertSnapshots with a bad row = %v, want tenant: required", err)
	}
	if sn, ok := latestVersion(t, s, "B"); ok {
		t.Errorf("a rejected batch stored %+v", sn)
	}
}

// TestIntegrationSnapshotsAnalystQuery runs the example of the analysts'
// documentation: the latest state per profile with LIMIT 1 BY, filtered after.
func TestIntegrationSnapshotsAnalystQuery(t *testing.T) {
	s := openSnapshotStore(t)
	risky := func(profile string, v uint64, ltv float64, lifecycle string) Snapshot {
		sn := snap(profile, v)
		sn.LifetimeValue, sn.Lifecycle = ltv, lifecycle
		return sn
	}
	insertEach(t, s,
		risky("A", 1, 50, "at_risk"),
		risky("B", 2, 900, "active"), risky("B", 8, 900, "at_risk"), // became at risk
		risky("C", 3, 400, "at_risk"), risky("C", 9, 400, "active"), // recovered
		risky("D", 4, 700, "at_risk"), mergedSnap("D", "B", 10), // merged away
		risky("E", 5, 300, "at_risk"),
	)
	const query = `SELECT profile_id, email, lifetime_value, currency, last_seen
FROM
(
    SELECT *
    FROM cx_profile_snapshots
    WHERE tenant = ?
    ORDER BY profile_id, version DESC
    LIMIT 1 BY profile_id
)
WHERE merged_into = '' AND deleted = 0 AND lifecycle = 'at_risk'
ORDER BY lifetime_value DESC
LIMIT 100`
	rows, err := s.conn.Query(context.Background(), query, "t1")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var (
			id, email, currency string
			ltv                 float64
			lastSeen            time.Time
		)
		if err := rows.Scan(&id, &email, &ltv, &currency, &lastSeen); err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"B", "E", "A"}; !slices.Equal(got, want) {
		t.Errorf("at-risk customers by lifetime value = %v, want %v", got, want)
	}
}

// TestIntegrationSnapshotsSegmentMembersQuery runs the analysts' count of
// current members per segment (docs/analytics.md): the latest state per
// profile with LIMIT 1 BY, current ones only, then arrayJoin.
func TestIntegrationSnapshotsSegmentMembersQuery(t *testing.T) {
	s := openSnapshotStore(t)
	in := func(profile string, v uint64, segments ...string) Snapshot {
		sn := snap(profile, v)
		sn.Segments = segments
		return sn
	}
	other := in("F", 9, "loyal")
	other.Tenant = "t2"
	insertEach(t, s,
		in("A", 1, "loyal"), in("A", 5, "loyal", "vip"),
		in("B", 2, "loyal"), in("B", 6), // left its segment
		in("C", 3, "loyal", "lapsed"), mergedSnap("C", "A", 7), // merged away
		in("D", 4, "lapsed"), deletedSnap("D", 8), // deleted
		in("E", 9, "lapsed"), in("E", 2, "loyal"), // its older state arrives late
		in("G", 10, "vip", "vip"), // a name twice counts the profile once
		other,
	)
	const query = `SELECT segment, uniqExact(profile_id) AS members
FROM
(
    SELECT profile_id, arrayJoin(segments) AS segment
    FROM
    (
        SELECT profile_id, merged_into, deleted, segments
        FROM cx_profile_snapshots
        WHERE tenant = ?
        ORDER BY profile_id, version DESC
        LIMIT 1 BY profile_id
    )
    WHERE merged_into = '' AND deleted = 0
)
GROUP BY segment
ORDER BY members DESC, segment`
	check := func(t *testing.T) {
		rows, err := s.conn.Query(context.Background(), query, "t1")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var (
				segment string
				members uint64
			)
			if err := rows.Scan(&segment, &members); err != nil {
				t.Fatal(err)
			}
			got = append(got, segment+"="+strconv.FormatUint(members, 10))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if want := []string{"vip=2", "lapsed=1", "loyal=1"}; !slices.Equal(got, want) {
			t.Errorf("members per segment = %v, want %v", got, want)
		}
	}
	t.Run("before merges", check)
	mergeAll(t, s, 7)
	t.Run("after merges", check)
}

func TestCheckSnapshot(t *testing.T) {
	tests := []struct {
		name    string
		s       Snapshot
		wantErr string
	}{
		{"state", snap("A", 1), ""},
		{"merge", mergedSnap("A", "B", 1), ""},
		{"deletion", deletedSnap("A", 1), ""},
		{"version zero", snap("A", 0), ""},
		{"empty", Snapshot{}, "tenant: required; profile_id: required"},
		{"merged and deleted", Snapshot{Tenant: "t", ProfileID: "A", MergedInto: "B", Deleted: true}, "merged_into and deleted"},
		{"merged into itself", mergedSnap("A", "A", 1), "merged_into: must differ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSnapshot(tt.s)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckSnapshot = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckSnapshot = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestDateTimeClamps(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	tests := []struct {
		in, want time.Time
	}{
		{time.Time{}, time.Unix(0, 0)},
		{time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), time.Unix(0, 0)},
		{time.Unix(0, 0), time.Unix(0, 0)},
		{time.Date(2026, 1, 1, 1, 0, 0, 0, cet), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2106, 3, 1, 0, 0, 0, 0, time.UTC), maxTime},
	}
	for _, tt := range tests {
		got := dateTime(tt.in)
		if !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("dateTime(%v) = %v, want %v in UTC", tt.in, got, tt.want.UTC())
		}
	}
}
