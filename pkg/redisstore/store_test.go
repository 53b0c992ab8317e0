package redisstore_test

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/redisstore/redisstoretest"
)

// newStore returns the real Redis and a tenant of the test's own.
func newStore(t testing.TB) (*redisstore.Store, string) { return redisstoretest.New(t) }

// ev builds a prepared event.
func ev(t testing.TB, tenant, id, channel string, at time.Time, ids ...string) *event.Event {
	t.Helper()
	e := &event.Event{EventID: id, Tenant: tenant, Channel: channel, Type: event.TypeTrack, Name: "Viewed",
		EventTime: at, ReceivedAt: at}
	for _, s := range ids {
		i, ok := event.ParseIdentifier(s)
		if !ok {
			t.Fatalf("bad identifier %q", s)
		}
		e.Identifiers = append(e.Identifiers, i)
	}
	if err := event.Prepare(e, event.DefaultLimits()); err != nil {
		t.Fatal(err)
	}
	return e
}

// defaultPolicy is compiled once: compiling the blocked-value patterns per
// item would dominate the benchmarks.
var defaultPolicy = identity.MustCompile(identity.DefaultRules())

// item turns an event into a store item read from source at offset.
func item(source string, offset int64, e *event.Event) redisstore.Item {
	it, ok := redisstore.NewItem(source, offset, e, defaultPolicy, profile.Default())
	if !ok {
		panic("event has only blocked identifiers")
	}
	return it
}

func TestIntegrationCrossChannelJourneyIsOneProfile(t *testing.T) {
	s, tenant := newStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	web := ev(t, tenant, "e1", "web", t0, "anonymous_id:anon-1")
	mobile := ev(t, tenant, "e2", "mobile", t0.Add(time.Hour), "email:Jane@Example.com", "device_id:dev-9")
	store := ev(t, tenant, "e3", "store", t0.Add(2*time.Hour), "phone:+44 20 7946 0958")
	bridge := ev(t, tenant, "e4", "web", t0.Add(3*time.Hour), "anonymous_id:anon-1", "email:jane@example.com", "phone:+442079460958")

	res, err := s.Apply(ctx, tenant, []redisstore.Item{
		item("cx.interactions/0", 0, web),
		item("cx.interactions/1", 0, mobile),
		item("cx.interactions/2", 0, store),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(res.Profiles); got != 3 {
		t.Fatalf("three unconnected events: got %d profiles, want 3", got)
	}
	res, err = s.Apply(ctx, tenant, []redisstore.Item{item("cx.interactions/0", 1, bridge)})
	if err != nil {
		t.Fatal(err)
	}
	survivor := res.Outcomes[0].ProfileID
	if survivor != identity.CandidateID(tenant, "e1") {
		t.Errorf("survivor = %s, want the oldest profile (created by e1)", survivor)
	}
	merges := 0
	version, _ := strconv.ParseInt(res.Profiles[survivor][profile.FieldVersion], 10, 64)
	if version == 0 {
		t.Fatalf("survivor's state has no version: %v", res.Profiles[survivor])
	}
	var last int64
	wantIDs := fmt.Sprint(item("cx.interactions/0", 1, bridge).Identifiers)
	for _, r := range res.Records {
		if r.Kind == identity.KindMerged {
			merges++
			if r.ProfileID != survivor || r.EventID != "e4" {
				t.Errorf("merge record %+v: want survivor %s caused by e4", r, survivor)
			}
			if got := fmt.Sprint(r.Identifiers); got != wantIDs {
				t.Errorf("merge record names identifiers %s, want the event's %s", got, wantIDs)
			}
		}
		if r.Version <= last || r.Version >= version {
			t.Errorf("%s record has version %d: want above the previous record's %d and below the call's state version %d",
				r.Kind, r.Version, last, version)
		}
		last = r.Version
	}
	if merges != 2 {
		t.Errorf("got %d merge records, want 2", merges)
	}
	for _, ref := range []string{"email:JANE@example.com", "phone:+442079460958", "device_id:dev-9", "anonymous_id:anon-1",
		identity.CandidateID(tenant, "e2"), identity.CandidateID(tenant, "e3")} {
		id, st, err := s.Resolve(ctx, tenant, ref)
		if err != nil {
			t.Fatalf("resolve %s: %v", ref, err)
		}
		if id != survivor {
			t.Errorf("resolve %s = %s, want %s", ref, id, survivor)
		}
		p := profile.Default().Render(tenant, id, st, profile.Meta{})
		if p.Behavioral.Events != 4 || p.Behavioral.Channels["store"] != 1 || p.Behavioral.Channels["web"] != 2 || p.Behavioral.Channels["mobile"] != 1 {
			t.Errorf("profile counts: events=%d channels=%v", p.Behavioral.Events, p.Behavioral.Channels)
		}
		if len(p.MergedFrom) != 2 || !p.Behavioral.FirstSeen.Equal(t0) || !p.Behavioral.LastSeen.Equal(t0.Add(3*time.Hour)) {
			t.Errorf("profile: merged_from=%v first_seen=%v last_seen=%v", p.MergedFrom, p.Behavioral.FirstSeen, p.Behavioral.LastSeen)
		}
	}
	if _, _, err := s.Resolve(ctx, tenant, "email:nobody@example.com"); err != redisstore.ErrNotFound {
		t.Errorf("unknown identifier: err = %v, want ErrNotFound", err)
	}
}

func TestIntegrationRedeliveryIsExactlyOnce(t *testing.T) {
	s, tenant := newStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	batch := []redisstore.Item{
		item("in/0", 10, ev(t, tenant, "a", "web", t0, "anonymous_id:anon-x")),
		item("in/0", 11, ev(t, tenant, "b", "web", t0.Add(time.Minute), "anonymous_id:anon-x", "email:a@b.co")),
		item("in/1", 5, ev(t, tenant, "c", "store", t0.Add(2*time.Minute), "email:a@b.co")),
	}
	first, err := s.Apply(ctx, tenant, batch)
	if err != nil {
		t.Fatal(err)
	}
	before := first.Profiles
	// The same offsets again, as after a crash before the commit.
	again, err := s.Apply(ctx, tenant, batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range again.Outcomes {
		if o.Status != redisstore.StatusReplayed || o.ProfileID != first.Outcomes[i].ProfileID {
			t.Errorf("item %d: got %+v, want replay of %+v", i, o, first.Outcomes[i])
		}
	}
	if !reflect.DeepEqual(again.Records, first.Records) {
		t.Errorf("replay returned other identity records than recorded (versions included):\n got %+v\nwant %+v", again.Records, first.Records)
	}
	for id, st := range again.Profiles {
		if fmt.Sprint(st) != fmt.Sprint(before[id]) {
			t.Errorf("profile %s changed on replay:\n got %v\nwant %v", id, st, before[id])
		}
	}
	// A client retry: same event id, new offset.
	retry, err := s.Apply(ctx, tenant, []redisstore.Item{item("in/1", 6, ev(t, tenant, "c", "store", t0.Add(2*time.Minute), "email:a@b.co"))})
	if err != nil {
		t.Fatal(err)
	}
	if retry.Outcomes[0].Status != redisstore.StatusDuplicate {
		t.Errorf("retry status = %s, want dup", retry.Outcomes[0].Status)
	}
	// A later batch starting past the outbox: the first offsets are now old.
	if _, err := s.Apply(ctx, tenant, []redisstore.Item{item("in/0", 12, ev(t, tenant, "d", "web", t0, "anonymous_id:y"))}); err != nil {
		t.Fatal(err)
	}
	old, err := s.Apply(ctx, tenant, batch[:1])
	if err != nil {
		t.Fatal(err)
	}
	if old.Outcomes[0].Status != redisstore.StatusCommitted {
		t.Errorf("status of a long-committed offset = %s, want old", old.Outcomes[0].Status)
	}
	_, st, err := s.Resolve(ctx, tenant, "email:a@b.co")
	if err != nil {
		t.Fatal(err)
	}
	if got := st[profile.FieldEvents]; got != "3" {
		t.Errorf("events = %s after replays and a retry, want 3", got)
	}
}

// TestIntegrationDedupWindow resends an event id from a client, after other
// events and from a new Store (a restarted resolver): within the window it
// is a duplicate and changes nothing; once the anchor's newer events have
// pushed it out of the window (by event time), it is folded again, which is
// the documented bound of client-retry deduplication.
func TestIntegrationDedupWindow(t *testing.T) {
	cfg := redisstore.Default()
	cfg.DedupWindow = time.Hour
	s, tenant := redisstoretest.NewWith(t, cfg, nil)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	apply := func(s *redisstore.Store, offset int64, id string, at time.Time) redisstore.Status {
		t.Helper()
		res, err := s.Apply(ctx, tenant, []redisstore.Item{item("in/0", offset, ev(t, tenant, id, "web", at, "anonymous_id:anon-1", "email:a@b.co"))})
		if err != nil {
			t.Fatal(err)
		}
		return res.Outcomes[0].Status
	}
	events := func() string {
		_, st, err := s.Resolve(ctx, tenant, "email:a@b.co")
		if err != nil {
			t.Fatal(err)
		}
		return st[profile.FieldEvents]
	}
	if got := apply(s, 0, "a", t0); got != redisstore.StatusApplied {
		t.Fatalf("first delivery: %s", got)
	}
	apply(s, 1, "b", t0.Add(10*time.Minute))
	if got := apply(s, 2, "a", t0); got != redisstore.StatusDuplicate {
		t.Errorf("retry at once: %s, want dup", got)
	}
	cfg.Addr = s.Client().Options().Addr
	restarted, err := redisstore.New(ctx, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer restarted.Close()
	if got := apply(restarted, 3, "a", t0); got != redisstore.StatusDuplicate {
		t.Errorf("retry after a restart: %s, want dup", got)
	}
	if got := events(); got != "2" {
		t.Errorf("events = %s after two retries, want 2", got)
	}
	apply(s, 4, "c", t0.Add(2*time.Hour)) // pushes "a" out of the one-hour window
	if got := apply(s, 5, "a", t0); got != redisstore.StatusApplied {
		t.Errorf("retry beyond the window: %s, want ok (the window is the bound)", got)
	}
}

// TestIntegrationUnmergeRecordsComeAfterTheMerge: an unmerge revives the
// merged-away profile with a profile_created record at its creating event's
// old time, earlier than the merge's; its version is what says it is newer.
func TestIntegrationUnmergeRecordsComeAfterTheMerge(t *testing.T) {
	s, tenant := newStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	merged, err := s.Apply(ctx, tenant, []redisstore.Item{
		item("in/0", 0, ev(t, tenant, "a", "web", t0, "anonymous_id:anon-1")),
		item("in/0", 1, ev(t, tenant, "b", "email", t0.Add(time.Hour), "email:b@example.com")),
		item("in/0", 2, ev(t, tenant, "c", "web", t0.Add(2*time.Hour), "anonymous_id:anon-1", "email:b@example.com")),
	})
	if err != nil {
		t.Fatal(err)
	}
	a, b := identity.CandidateID(tenant, "a"), identity.CandidateID(tenant, "b")
	var merge identity.Record
	for _, r := range merged.Records {
		if r.Kind == identity.KindMerged {
			merge = r
		}
	}
	if merge.ProfileID != a || merge.FromProfileID != b || merge.Version == 0 {
		t.Fatalf("merge record = %+v, want %s merged into %s with a version", merge, b, a)
	}
	sp, err := s.Unmerge(ctx, tenant, a, event.Identifier{Type: "email", Value: "b@example.com"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if sp.ProfileID != b {
		t.Fatalf("unmerge left the identifier in %q, want it back in %s", sp.ProfileID, b)
	}
	var revived bool
	for _, r := range sp.Records {
		if r.Version <= merge.Version {
			t.Errorf("unmerge's %s record has version %d, not above the merge's %d", r.Kind, r.Version, merge.Version)
		}
		if r.Kind == identity.KindCreated && r.ProfileID == b {
			revived = true
			if !r.At.Before(merge.At) {
				t.Errorf("revival at %v: want the creating event's time, before the merge at %v", r.At, merge.At)
			}
		}
	}
	if !revived {
		t.Errorf("no profile_created record revives %s: %+v", b, sp.Records)
	}
}

// TestIntegrationRaiseVersion: after a rebuild raises the counter, new
// changes are numbered above it; a lower floor changes nothing.
func TestIntegrationRaiseVersion(t *testing.T) {
	s, tenant := newStore(t)
	ctx := context.Background()
	for _, c := range []struct{ floor, want int64 }{{100, 100}, {50, 100}, {101, 101}} {
		got, err := s.RaiseVersion(ctx, tenant, c.floor)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("RaiseVersion(%d) = %d, want %d", c.floor, got, c.want)
		}
	}
	res, err := s.Apply(ctx, tenant, []redisstore.Item{
		item("in/0", 0, ev(t, tenant, "a", "web", time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), "anonymous_id:anon-raise")),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Records {
		if r.Version <= 101 {
			t.Errorf("%s record has version %d after the counter was raised to 101", r.Kind, r.Version)
		}
	}
	st, err := s.TenantStats(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(101 + len(res.Records) + 1); st.Version != want {
		t.Errorf("counter = %d after %d records and one state stamp, want %d", st.Version, len(res.Records), want)
	}
}
