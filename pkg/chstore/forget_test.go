package chstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"reflect"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
)

// suppressionHash is redisstore.SuppressionHash (chstore does not import
// redisstore); the test pins that both sides hash alike.
func suppressionHash(id string) string {
	h := sha1.Sum([]byte("cxstream-suppress/" + id))
	return hex.EncodeToString(h[:])
}

// count returns the rows of table matching where (after tenant = 't1').
func count(t *testing.T, s *Store, table, where string, args ...any) int {
	t.Helper()
	var n uint64
	if err := s.conn.QueryRow(context.Background(), "SELECT count() FROM "+table+" WHERE tenant = 't1' AND "+where, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return int(n)
}

// waitMutations waits until ClickHouse has applied the store's mutations.
func waitMutations(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := s.Mutating(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d mutations still running after 60 s", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestIntegrationErase: A (with B merged into it) is erased; C, who once
// had A's email dropped from an event (a merge_blocked record naming it)
// keeps every row but that record, and the tombstone snapshot of A stays.
func TestIntegrationErase(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	evs := []event.Resolved{
		resolved("a1", "A", "web", event.TypeTrack, 0),
		resolved("b1", "B", "mobile", event.TypeTrack, time.Minute),
		resolved("c1", "C", "store", event.TypeTrack, 2*time.Minute),
		resolved("c2", "C", "web", event.TypeTrack, 3*time.Minute),
	}
	// C's event c1 carried A's email too (the rule kept it out of C).
	evs[2].Identifiers = append(evs[2].Identifiers, event.Identifier{Type: "email", Value: "a1@example.com"})
	if err := s.InsertEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	blocked := rec(identity.KindBlocked, "C", "", "email:a1@example.com", "c1", t0.Add(2*time.Minute))
	blocked.Rule = "limit:email"
	recs := []identity.Record{
		created("A", "", t0, 1), created("B", "", t0.Add(time.Minute), 2), created("C", "", t0.Add(2*time.Minute), 3),
		rec(identity.KindLinked, "A", "", "email:a1@example.com", "a1", t0),
		rec(identity.KindLinked, "C", "", "email:c1@example.com", "c1", t0.Add(2*time.Minute)),
		merged("B", "A", []string{"B"}, 4),
		blocked,
	}
	if err := s.InsertIdentity(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertSnapshots(ctx, []Snapshot{snap("A", 1), snap("C", 1), mergedSnap("B", "A", 4), deletedSnap("A", 5)}); err != nil {
		t.Fatal(err)
	}
	before := map[string]int{
		"cx_events":            count(t, s, "cx_events", "profile_id = 'C'"),
		"cx_identity":          count(t, s, "cx_identity", "profile_id = 'C'"),
		"cx_profile_snapshots": count(t, s, "cx_profile_snapshots", "profile_id = 'C'"),
		"cx_aliases":           count(t, s, "cx_aliases", "profile_id = 'C'"),
	}

	got, err := s.Erase(ctx, "t1", []string{"A"}, []string{suppressionHash("email:a1@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	// cx_aliases holds A->A, B->B and B->A, or two of them once a
	// background merge collapsed B's rows.
	if n := got.Rows["cx_aliases"]; n != 2 && n != 3 {
		t.Errorf("Erase found %d rows of cx_aliases, want 2 or 3", n)
	}
	delete(got.Rows, "cx_aliases")
	want := Erased{ProfileIDs: []string{"A", "B"}, Rows: map[string]int{
		"cx_events": 2, "cx_identity": 5, "cx_profile_snapshots": 2,
	}, EventsScrubbed: 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Erase = %+v, want %+v", got, want)
	}
	waitMutations(t, s)
	for table, where := range map[string]string{
		"cx_events":            "profile_id IN ('A', 'B')",
		"cx_identity":          "(profile_id IN ('A', 'B') OR from_profile_id IN ('A', 'B') OR identifier = 'email:a1@example.com')",
		"cx_profile_snapshots": "profile_id IN ('A', 'B') AND deleted = 0",
		"cx_aliases":           "(alias_id IN ('A', 'B') OR profile_id IN ('A', 'B'))",
	} {
		if n := count(t, s, table, where); n != 0 {
			t.Errorf("%s: %d rows of the erased person left", table, n)
		}
	}
	// C's event c1 keeps its row and its own identifiers, in step, without
	// A's email; c2 is untouched.
	for id, want := range map[string][2][]string{
		"c1": {{"email", "anonymous_id"}, {"c1@example.com", "a-c1"}},
		"c2": {{"email", "anonymous_id"}, {"c2@example.com", "a-c2"}},
	} {
		var types, values []string
		if err := s.conn.QueryRow(ctx, "SELECT id_types, id_values FROM cx_events WHERE tenant = 't1' AND event_id = ?", id).Scan(&types, &values); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if !reflect.DeepEqual(types, want[0]) || !reflect.DeepEqual(values, want[1]) {
			t.Errorf("%s after the erasure: %v %v, want %v %v", id, types, values, want[0], want[1])
		}
	}
	if n := count(t, s, "cx_profile_snapshots", "profile_id = 'A' AND deleted = 1"); n != 1 {
		t.Errorf("the tombstone of A: %d rows, want 1", n)
	}
	after := map[string]int{
		"cx_events":            count(t, s, "cx_events", "profile_id = 'C'"),
		"cx_identity":          count(t, s, "cx_identity", "profile_id = 'C'") + 1, // the merge_blocked record naming A's email went
		"cx_profile_snapshots": count(t, s, "cx_profile_snapshots", "profile_id = 'C'"),
		"cx_aliases":           count(t, s, "cx_aliases", "profile_id = 'C'"),
	}
	if !reflect.DeepEqual(after, before) {
		t.Errorf("C's rows: %v after the erasure, %v before (but the record naming A's email)", after, before)
	}

	// Erasing again finds nothing and submits nothing.
	again, err := s.Erase(ctx, "t1", []string{"A", "B"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for table, n := range again.Rows {
		if n != 0 {
			t.Errorf("second erase: %d rows of %s", n, table)
		}
	}
}

func TestIntegrationSuppressionsRoundTrip(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	at := time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)
	rows := []Suppression{
		{Tenant: "t1", Hash: suppressionHash("email:a@example.com"), ProfileID: "A", MergedFrom: []string{"B"}, Version: 7, ForgottenAt: at},
		{Tenant: "t1", Hash: suppressionHash("phone:+4915112345678"), ProfileID: "A", MergedFrom: []string{"B"}, Version: 7, ForgottenAt: at},
		{Tenant: "t2", Hash: suppressionHash("email:a@example.com"), ProfileID: "Z", Version: 1, ForgottenAt: at},
	}
	for range 2 { // a retried insert collapses
		if err := s.InsertSuppressions(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Suppressions(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	want := rows[:2]
	if want[0].Hash > want[1].Hash {
		want = []Suppression{rows[1], rows[0]}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Suppressions(t1) =\n%+v\nwant\n%+v", got, want)
	}
	if err := s.InsertSuppressions(ctx, []Suppression{{Tenant: "t1", ProfileID: "A"}}); err == nil {
		t.Error("a suppression without a hash was accepted")
	}
}
