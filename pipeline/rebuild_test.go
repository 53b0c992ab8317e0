package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/chstore/chstoretest"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/redisstore/redisstoretest"
)

// snapshot builds a graph snapshot by hand: profiles maps a profile id to
// its identifiers and state.
func snapshot(tenant string, profiles map[string][]string, states map[string]profile.State, unlinked ...string) *pipeline.GraphSnapshot {
	g := &pipeline.GraphSnapshot{Tenant: tenant, Owner: map[string]string{}, States: map[string]profile.State{},
		Dangling: map[string]string{}, Cuts: map[string][]string{}}
	for pid, ids := range profiles {
		for _, id := range ids {
			g.Owner[id] = pid
		}
		g.States[pid] = pipeline.ComparableState(states[pid])
	}
	for _, id := range unlinked {
		g.Owner[id] = ""
	}
	return g
}

func kinds(diffs []pipeline.Difference) []string {
	var out []string
	for _, d := range diffs {
		out = append(out, d.Kind+" "+strings.Join(d.Identifiers, ","))
	}
	return out
}

func TestCompare(t *testing.T) {
	stamp := "000001767225600000" + "0123456789abc" // 31 bytes
	if len(stamp) != profile.StampLen {
		t.Fatalf("stamp of %d bytes", len(stamp))
	}
	stA := profile.State{"a:events": "3", "i:email:a@x.test": "100", "m:P0": "50",
		"w:t:address": stamp + `{"city": "Köln", "note": "<b>"}`}
	stB := profile.State{"a:events": "1", "i:user_id:u2": "100"}
	live := func() *pipeline.GraphSnapshot {
		return snapshot("live", map[string][]string{
			"A": {"email:a@x.test", "anonymous_id:a1"},
			"B": {"user_id:u2"},
		}, map[string]profile.State{"A": stA, "B": stB}, "email:junk@x.test")
	}
	// The rebuild: other ids, no merged-from fields, traits re-encoded as
	// encoding/json writes them.
	rebuiltA := profile.State{"a:events": "3", "i:email:a@x.test": "100",
		"w:t:address": stamp + `{"city":"Köln","note":"\u003cb\u003e"}`}
	rebuilt := func() *pipeline.GraphSnapshot {
		return snapshot("scratch", map[string][]string{
			"X": {"anonymous_id:a1", "email:a@x.test"},
			"Y": {"user_id:u2"},
		}, map[string]profile.State{"X": rebuiltA, "Y": stB}, "email:junk@x.test")
	}
	if d := pipeline.Compare(live(), rebuilt()); d != nil {
		t.Fatalf("equal graphs differ: %+v", d)
	}

	tests := []struct {
		name   string
		change func(live, rebuilt *pipeline.GraphSnapshot)
		want   []string
	}{
		{"identifier in another profile", func(l, r *pipeline.GraphSnapshot) {
			r.Owner["anonymous_id:a1"] = "Y"
		}, []string{"profile anonymous_id:a1,email:a@x.test", "profile user_id:u2"}},
		{"profile split", func(l, r *pipeline.GraphSnapshot) {
			r.Owner["anonymous_id:a1"] = "Z"
			r.States["Z"] = profile.State{}
		}, []string{"profile anonymous_id:a1,email:a@x.test"}},
		{"identifier only live", func(l, r *pipeline.GraphSnapshot) {
			l.Owner["phone:+4915112345678"] = "B"
		}, []string{"profile phone:+4915112345678,user_id:u2"}},
		{"profile only rebuilt", func(l, r *pipeline.GraphSnapshot) {
			r.Owner["phone:+4915112345678"] = "Z"
			r.States["Z"] = profile.State{}
		}, []string{"rebuilt_profile phone:+4915112345678"}},
		{"unlinked only live", func(l, r *pipeline.GraphSnapshot) {
			delete(r.Owner, "email:junk@x.test")
		}, []string{"unlinked email:junk@x.test"}},
		{"unlinked live, linked rebuilt", func(l, r *pipeline.GraphSnapshot) {
			r.Owner["email:junk@x.test"] = "Y"
		}, []string{"profile user_id:u2"}},
		{"state", func(l, r *pipeline.GraphSnapshot) {
			r.States["Y"] = profile.State{"a:events": "2", "i:user_id:u2": "100", "x:last_seen": "5"}
		}, []string{"state user_id:u2"}},
		{"cut", func(l, r *pipeline.GraphSnapshot) {
			l.Cuts["email:a@x.test"] = []string{"user_id:u2"}
			l.Cuts["user_id:u2"] = []string{"email:a@x.test"}
			r.Cuts["user_id:u2"] = []string{"email:a@x.test"}
		}, []string{"cut email:a@x.test"}},
		{"dangling", func(l, r *pipeline.GraphSnapshot) {
			delete(l.Owner, "user_id:u2")
			l.Dangling["user_id:u2"] = "B"
		}, []string{"dangling user_id:u2", "rebuilt_profile user_id:u2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, r := live(), rebuilt()
			tt.change(l, r)
			got := pipeline.Compare(l, r)
			if !slices.Equal(kinds(got), tt.want) {
				b, _ := json.MarshalIndent(got, "", "  ")
				t.Errorf("differences %v, want %v\n%s", kinds(got), tt.want, b)
			}
		})
	}

	t.Run("state fields", func(t *testing.T) {
		l, r := live(), rebuilt()
		r.States["Y"] = profile.State{"a:events": "2", "x:last_seen": "5"}
		got := pipeline.Compare(l, r)
		if len(got) != 1 {
			t.Fatalf("differences %v", kinds(got))
		}
		f := got[0].Fields
		if len(f) != 3 || *f["a:events"].Live != "1" || *f["a:events"].Rebuilt != "2" ||
			f["x:last_seen"].Live != nil || f["i:user_id:u2"].Rebuilt != nil {
			b, _ := json.Marshal(f)
			t.Errorf("fields %s", b)
		}
		if got[0].LiveProfileID != "B" || got[0].RebuiltProfileID != "Y" {
			t.Errorf("profiles %s / %s, want B / Y", got[0].LiveProfileID, got[0].RebuiltProfileID)
		}
	})
}

func TestScratchTenant(t *testing.T) {
	a, err := pipeline.ScratchTenant("acme")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pipeline.ScratchTenant("acme")
	if !strings.HasPrefix(a, "acme-rebuild-") || !event.ValidTenant(a) || a == b {
		t.Errorf("scratch tenants %q, %q: want fresh valid acme-rebuild-<hex> names", a, b)
	}
	long := strings.Repeat("t", 64)
	if s, err := pipeline.ScratchTenant(long); err != nil || !event.ValidTenant(s) || !strings.HasPrefix(s, "ttt") {
		t.Errorf("scratch tenant of a 64-character tenant: %q %v", s, err)
	}
	if _, err := pipeline.ScratchTenant("No*Such"); err == nil {
		t.Error("an invalid tenant got a scratch tenant")
	}
}

// population draws n events of people persons: each event carries one to
// three of a person's identifiers, sometimes one of another person (so that
// merges and user_id conflicts happen), sometimes a blocked value. Times are
// coarse, so that equal times need the event-id tie-break. Some traits hold
// JSON as a producer may send it (spaces, "<"), which the log re-encodes.
func population(t testing.TB, rng *rand.Rand, tenant string, n, people int) []*event.Event {
	t.Helper()
	idsOf := func(p int) []string {
		return []string{
			fmt.Sprintf("user_id:u%d", p), fmt.Sprintf("email:p%d@shop.test", p),
			fmt.Sprintf("phone:+4915100%06d", p), fmt.Sprintf("device_id:d%d", p),
			fmt.Sprintf("anonymous_id:a%d-0", p), fmt.Sprintf("anonymous_id:a%d-1", p),
		}
	}
	channels := []string{"web", "mobile", "store", "call_center", "email"}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	events := make([]*event.Event, n)
	for i := range events {
		own := idsOf(rng.IntN(people))
		var ids []string
		for range 1 + rng.IntN(3) {
			ids = append(ids, own[rng.IntN(len(own))])
		}
		if rng.IntN(8) == 0 {
			other := idsOf(rng.IntN(people))
			ids = append(ids, other[rng.IntN(len(other))])
		}
		if rng.IntN(20) == 0 {
			ids = append(ids, "email:test@test.com")
		}
		at := t0.Add(time.Duration(rng.IntN(30))*time.Minute + time.Duration(rng.IntN(2))*time.Millisecond)
		e := &event.Event{EventID: fmt.Sprintf("ev-%05d", i), Tenant: tenant, Channel: channels[rng.IntN(len(channels))],
			Type: event.TypeTrack, Name: "Viewed", EventTime: at, ReceivedAt: at.Add(time.Second)}
		if rng.IntN(5) == 0 {
			e.Type = event.TypeIdentify
		}
		for _, s := range ids {
			id, _ := event.ParseIdentifier(s)
			e.Identifiers = append(e.Identifiers, id)
		}
		e.Traits = map[string]json.RawMessage{"plan": json.RawMessage(strconv.Quote(fmt.Sprintf("plan-%d", rng.IntN(4))))}
		if rng.IntN(4) == 0 {
			e.Traits["address"] = json.RawMessage(fmt.Sprintf(`{ "city": "Köln %d", "note": "<b>&" }`, rng.IntN(3)))
		}
		if err := event.Prepare(e, event.DefaultLimits()); err != nil {
			t.Fatal(err)
		}
		events[i] = e
	}
	return events
}

// applyLive plays events into the live tenant as resolvers would (see
// redisstoretest.Deliveries). Offsets continue from base.
func applyLive(t testing.TB, rng *rand.Rand, s *redisstore.Store, tenant string, events []*event.Event, base int64) {
	t.Helper()
	redisstoretest.PlaySequential(t, rng, s, tenant, redisstoretest.Deliveries(rng, s.Policy(), events, base), 50)
}

// insertLog writes events to cx_events as the sink would, in batches, with
// some rows twice (a redelivery, under another profile id).
func insertLog(t testing.TB, rng *rand.Rand, ch *chstore.Store, events []*event.Event) {
	t.Helper()
	var rows []event.Resolved
	for _, e := range events {
		rows = append(rows, event.Resolved{ProfileID: "recorded-profile", Event: e})
		if rng.IntN(10) == 0 {
			rows = append(rows, event.Resolved{ProfileID: "replayed-profile", Event: e})
		}
	}
	rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	for len(rows) > 0 {
		k := min(len(rows), 1+rng.IntN(2000))
		if err := ch.InsertEvents(context.Background(), rows[:k]); err != nil {
			t.Fatal(err)
		}
		rows = rows[k:]
	}
}

// unmergeOne takes a random identifier out of a random profile with several
// and writes the records to cx_identity, as the API and the sink would.
func unmergeOne(t testing.TB, rng *rand.Rand, s *redisstore.Store, ch *chstore.Store, tenant string) string {
	t.Helper()
	ctx := context.Background()
	g, err := pipeline.ReadGraph(ctx, s, tenant)
	if err != nil {
		t.Fatal(err)
	}
	byProfile := map[string][]string{}
	for id, pid := range g.Owner {
		if pid != "" {
			byProfile[pid] = append(byProfile[pid], id)
		}
	}
	var cands []string
	for pid, ids := range byProfile {
		if len(ids) > 1 {
			cands = append(cands, pid)
		}
	}
	if len(cands) == 0 {
		return ""
	}
	slices.Sort(cands)
	pid := cands[rng.IntN(len(cands))]
	ids := byProfile[pid]
	slices.Sort(ids)
	x := ids[rng.IntN(len(ids))]
	id, _ := event.ParseIdentifier(x)
	sp, err := s.Unmerge(ctx, tenant, pid, id, time.Now())
	if err != nil {
		t.Fatalf("unmerge %s from %s: %v", x, pid, err)
	}
	if len(sp.Records) == 0 || sp.Records[0].Kind != identity.KindCut {
		t.Fatalf("unmerge records %+v do not start with identifier_cut", sp.Records)
	}
	if err := ch.InsertIdentity(ctx, sp.Records); err != nil {
		t.Fatal(err)
	}
	return x
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestIntegrationRebuildMatchesLiveGraph plays random populations into a
// live tenant in random orders and batches, with an unmerge half-way, writes
// the same events (with duplicates) and the unmerge's records to ClickHouse,
// and checks that a rebuild from ClickHouse yields the live graph: the check
// finds no difference and leaves no scratch keys; a corrupted live graph is
// reported; an in-place rebuild repairs it.
func TestIntegrationRebuildMatchesLiveGraph(t *testing.T) {
	runs := 6
	if testing.Short() {
		runs = 2
	}
	ctx := context.Background()
	ch := chstoretest.New(t)
	log := testLogger(t)
	cuts := 0
	for run := range runs {
		seed := uint64(time.Now().UnixNano()) + uint64(run)
		if v, err := strconv.ParseUint(os.Getenv("CXSTREAM_TEST_SEED"), 10, 64); err == nil {
			seed = v
		}
		rng := rand.New(rand.NewPCG(seed, 7))
		what := fmt.Sprintf("run %d seed %d", run, seed)
		s, tenant := redisstoretest.NewWith(t, redisstore.Default(), redisstoretest.RulesVariant(run))
		events := population(t, rng, tenant, 150+rng.IntN(250), 3+rng.IntN(4))
		half := len(events) / 2
		applyLive(t, rng, s, tenant, events[:half], 0)
		cut := unmergeOne(t, rng, s, ch, tenant)
		if cut != "" {
			cuts++
		}
		applyLive(t, rng, s, tenant, events[half:], 100000)
		insertLog(t, rng, ch, events)
		// An event that identifies nobody under the rules: in the log (as
		// under an older rule), skipped by the rebuild.
		junk := *events[0]
		junk.EventID = "ev-junk"
		junk.Identifiers = []event.Identifier{{Type: "anonymous_id", Value: "undefined"}}
		insertLog(t, rng, ch, []*event.Event{&junk})

		before, err := pipeline.ReadGraph(ctx, s, tenant)
		if err != nil {
			t.Fatal(err)
		}
		rep, diffs, err := pipeline.CheckRebuild(ctx, s, ch, tenant, log)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if len(diffs) > 0 {
			b, _ := json.MarshalIndent(diffs, "", "  ")
			t.Fatalf("%s (cut %s): the rebuild differs from the live graph:\n%s", what, cut, b)
		}
		if rep.Events != len(events)+1 || rep.Skipped != 1 || rep.Replayed != len(events) || rep.Duplicates != 0 {
			t.Errorf("%s: report %+v, want %d events, 1 skipped", what, rep, len(events)+1)
		}
		if cut != "" && rep.Cuts == 0 {
			t.Errorf("%s: an unmerge cut %s but the rebuild restored no cuts", what, cut)
		}
		if int(rep.Identifiers) != len(before.Owner) || rep.Profiles != int64(len(before.States)) {
			t.Errorf("%s: rebuilt %d identifiers, %d profiles; live has %d, %d", what,
				rep.Identifiers, rep.Profiles, len(before.Owner), len(before.States))
		}
		if ok, err := s.TenantExists(ctx, rep.Into); err != nil || ok {
			t.Errorf("%s: scratch key space %s left behind (%v)", what, rep.Into, err)
		}

		// Corrupt the live graph: move an identifier to another profile in
		// the index, and change a profile's counter.
		pids := slices.Sorted(func(yield func(string) bool) {
			for pid := range before.States {
				if !yield(pid) {
					return
				}
			}
		})
		if len(pids) < 3 {
			continue
		}
		var moved string
		for id, pid := range before.Owner {
			if pid == pids[0] {
				moved = id
				break
			}
		}
		p := "cx:{" + tenant + "}:"
		if err := s.Client().HSet(ctx, p+"idx", moved, pids[1]).Err(); err != nil {
			t.Fatal(err)
		}
		if err := s.Client().HIncrBy(ctx, p+"p:"+pids[2], "a:events", 5).Err(); err != nil {
			t.Fatal(err)
		}
		_, diffs, err = pipeline.CheckRebuild(ctx, s, ch, tenant, log)
		if err != nil {
			t.Fatal(err)
		}
		var sawMove, sawState bool
		for _, d := range diffs {
			sawMove = sawMove || (d.Kind == pipeline.DiffProfile && slices.Contains(d.Identifiers, moved))
			sawState = sawState || (d.Kind == pipeline.DiffState && d.LiveProfileID == pids[2] && d.Fields["a:events"].Live != nil)
		}
		if !sawMove || !sawState {
			b, _ := json.MarshalIndent(diffs, "", "  ")
			t.Fatalf("%s: corruption not reported (moved %s: %v, counter of %s: %v):\n%s", what, moved, sawMove, pids[2], sawState, b)
		}

		// An in-place rebuild repairs it: the graph is the one before, and
		// versions go on above every version given out so far.
		liveStats, err := s.TenantStats(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		logVersion, err := ch.MaxVersion(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		rep, err = pipeline.RebuildInPlace(ctx, s, ch, tenant, log)
		if err != nil {
			t.Fatal(err)
		}
		rebuiltStats, err := s.TenantStats(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		if liveStats.Version == 0 || rebuiltStats.Version <= max(liveStats.Version, logVersion) {
			t.Errorf("%s: version counter %d after the rebuild, want above %d (live) and %d (log)",
				what, rebuiltStats.Version, liveStats.Version, logVersion)
		}
		if rep.DeletedKeys == 0 || rep.Into != tenant || rep.CutsKept != 0 {
			t.Errorf("%s: in-place report %+v", what, rep)
		}
		after, err := pipeline.ReadGraph(ctx, s, tenant)
		if err != nil {
			t.Fatal(err)
		}
		if diffs := pipeline.Compare(before, after); len(diffs) > 0 {
			b, _ := json.MarshalIndent(diffs, "", "  ")
			t.Fatalf("%s: in-place rebuild differs from the graph before the corruption:\n%s", what, b)
		}
		same := 0
		for pid := range after.States {
			if _, ok := before.States[pid]; ok {
				same++
			}
		}
		t.Logf("%s: %d events, %d profiles (%d kept their id in place), %d identifiers, cut %q",
			what, len(events), len(after.States), same, len(after.Owner), cut)
	}
	if cuts == 0 {
		t.Error("no run had a profile to unmerge")
	}
}

func TestIntegrationRebuildRefuses(t *testing.T) {
	ctx := context.Background()
	ch := chstoretest.New(t)
	s, tenant := redisstoretest.New(t)
	_, other := redisstoretest.New(t)
	rng := rand.New(rand.NewPCG(1, 2))
	events := population(t, rng, tenant, 20, 2)
	applyLive(t, rng, s, tenant, events, 0)
	applyLive(t, rng, s, other, events, 0)

	// Into a key space that holds a graph.
	if _, err := pipeline.Rebuild(ctx, s, ch, tenant, other, nil); !errors.Is(err, pipeline.ErrTenantNotEmpty) {
		t.Errorf("rebuild into a tenant with state: %v, want ErrTenantNotEmpty", err)
	}
	// In place while ClickHouse has no events of the tenant: the graph
	// must survive.
	if _, err := pipeline.RebuildInPlace(ctx, s, ch, tenant, nil); err == nil || !strings.Contains(err.Error(), "no events") {
		t.Errorf("in-place rebuild without a log: %v", err)
	}
	if ok, _ := s.TenantExists(ctx, tenant); !ok {
		t.Error("the refused in-place rebuild deleted the tenant")
	}
	if _, err := pipeline.Rebuild(ctx, s, ch, tenant, "Bad*Name", nil); err == nil {
		t.Error("rebuild into an invalid tenant name")
	}
}

// TestIntegrationRebuildSpeed measures the replay on a few thousand events
// of many people, and checks the result too.
func TestIntegrationRebuildSpeed(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	ctx := context.Background()
	ch := chstoretest.New(t)
	s, tenant := redisstoretest.New(t)
	rng := rand.New(rand.NewPCG(3, 4))
	events := population(t, rng, tenant, 5000, 800)
	start := time.Now()
	applyLive(t, rng, s, tenant, events, 0)
	live := time.Since(start)
	insertLog(t, rng, ch, events)
	rep, diffs, err := pipeline.CheckRebuild(ctx, s, ch, tenant, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Fatalf("%d differences, first %+v", len(diffs), diffs[0])
	}
	t.Logf("live apply (random batches of 1-50): %.0f events/s; rebuild: %d events in %.2fs = %.0f events/s, %d profiles, %d identifiers, %d re-derivations",
		float64(len(events))/live.Seconds(), rep.Events, rep.DurationSeconds, rep.EventsPerSecond, rep.Profiles, rep.Identifiers, rep.Rederived)
}
