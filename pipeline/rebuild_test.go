package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/chstore/chstoretest"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/redisstore/redisstoretest"
	"github.com/cxstream/cxstream/pkg/testenv"
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
// some rows twice (a redelivery, under another profile id). Each row takes
// the way of a cx.timeline message: encoded by encoding/json as the resolver
// publishes it, decoded as the sink reads it, so JSON values come to
// ClickHouse re-encoded (compact, HTML-escaped).
func insertLog(t testing.TB, rng *rand.Rand, ch *chstore.Store, events []*event.Event) {
	t.Helper()
	var rows []event.Resolved
	for _, e := range events {
		rows = append(rows, timelineRow(t, "recorded-profile", e))
		if rng.IntN(10) == 0 {
			rows = append(rows, timelineRow(t, "replayed-profile", e))
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

// timelineRow is e attributed to profile as the sink decodes it from the
// cx.timeline message the resolver wrote.
func timelineRow(t testing.TB, profile string, e *event.Event) event.Resolved {
	t.Helper()
	b, err := json.Marshal(event.Resolved{ProfileID: profile, Event: e})
	if err != nil {
		t.Fatalf("encode timeline event %s: %v", e.EventID, err)
	}
	var r event.Resolved
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("decode timeline event %s: %v", e.EventID, err)
	}
	if err := chstore.CheckEvent(r); err != nil {
		t.Fatalf("timeline event %s: %v", e.EventID, err)
	}
	return r
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

	// In place while the log lacks a column the replay reads (a database
	// not migrated to the current schema): the graph must survive.
	insertLog(t, rng, ch, events)
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{testenv.ClickHouse(t)},
		Auth: clickhouse.Auth{Database: ch.Database(), Username: chstore.Default().Username}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "ALTER TABLE cx_events DROP COLUMN traits_increment"); err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.RebuildInPlace(ctx, s, ch, tenant, nil); err == nil || !strings.Contains(err.Error(), "cxstream migrate") {
		t.Errorf("in-place rebuild from a log without traits_increment: %v", err)
	}
	if ok, _ := s.TenantExists(ctx, tenant); !ok {
		t.Error("the refused in-place rebuild deleted the tenant")
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

// journeys draws the events of people customers that between them feed every
// kind of profile data: anonymous page and screen views with a session id in
// the properties or the context, or none (sessions by time window); locale
// and location in the context; identify calls with every trait operation
// (set, set once, unset, unset by null, increment), preferences and consent;
// orders with revenue, currency and items at the till (by phone only) and on
// the web; refunds; surveys with NPS, CSAT and feedback text; email opens.
// Identifiers join up over time (anonymous -> known, phone-only till ->
// email), which merges profiles, and every fourth pair of customers shares a
// family tablet, where merge protection keeps two user ids apart. JSON is
// written as a producer may send it (spaces, "<", "&"), and event times
// have nanoseconds.
func journeys(t testing.TB, rng *rand.Rand, tenant string, people int) []*event.Event {
	t.Helper()
	t0 := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	feedback := []string{
		"Great service, fast delivery & friendly staff <3",
		"Terrible experience, the parcel arrived broken and nobody answered.",
		"Super Beratung, sehr zufrieden!",
		"Produit décevant, je suis très déçu.",
		"ok",
	}
	locales := []string{"de-DE", "en-GB", "fr-FR", "es-ES"}
	cities := [][2]string{{"DE", "Köln"}, {"GB", "London"}, {"FR", "Lyon"}, {"ES", "Sevilla"}}
	var events []*event.Event
	for p := range people {
		var (
			anon   = fmt.Sprintf("anonymous_id:web-%d", p)
			device = fmt.Sprintf("device_id:dev-%d", p)
			email  = fmt.Sprintf("email:P%d@Shop.test", p) // normalised to lower case
			phone  = fmt.Sprintf("phone:+49151%08d", p)
			user   = fmt.Sprintf("user_id:u%d", p)
			at     = t0.Add(time.Duration(p)*17*time.Minute + time.Duration(rng.IntN(1e9)))
			n      int
			loc    = rng.IntN(len(locales))
		)
		add := func(channel string, typ event.Type, name string, ids []string, edit func(e *event.Event)) {
			n++
			at = at.Add(time.Duration(1+rng.IntN(40))*time.Minute + time.Duration(rng.IntN(1e9)))
			e := &event.Event{EventID: fmt.Sprintf("p%d-e%02d", p, n), Tenant: tenant, Channel: channel,
				Type: typ, Name: name, EventTime: at, ReceivedAt: at.Add(time.Duration(rng.IntN(5000)) * time.Millisecond)}
			for _, s := range ids {
				id, _ := event.ParseIdentifier(s)
				e.Identifiers = append(e.Identifiers, id)
			}
			if edit != nil {
				edit(e)
			}
			if err := event.Prepare(e, event.DefaultLimits()); err != nil {
				t.Fatalf("event %s: %v", e.EventID, err)
			}
			events = append(events, e)
		}
		raw := func(format string, args ...any) json.RawMessage { return json.RawMessage(fmt.Sprintf(format, args...)) }
		session := fmt.Sprintf("s-%d-%d", p, rng.IntN(3))

		add("web", event.TypePage, "Home", []string{anon}, func(e *event.Event) {
			e.Properties = raw(`{"url": "https://shop.test/?a=1&b=<2>", "session_id": %q}`, session)
			e.Context = raw(`{ "locale": %q, "location": {"country": %q, "city": %q}, "ip": "203.0.113.%d" }`,
				locales[loc], cities[loc][0], cities[loc][1], p%250)
		})
		add("web", event.TypePage, "Product", []string{anon}, func(e *event.Event) {
			e.Context = raw(`{"sessionId": %q, "campaign": {"source": "news & mail"}}`, session+"-ctx")
		})
		add("web", event.TypeTrack, "Product Added", []string{anon}, func(e *event.Event) {
			e.Properties = raw(`{"sku": "sku-%d", "price": 19.9, "session_id": %d}`, p, 1000+p)
		})
		add("web", event.TypeIdentify, "", []string{anon, email, user}, func(e *event.Event) {
			e.Traits = map[string]json.RawMessage{
				"name":        raw(`"Person %d"`, p),
				"plan":        raw(`"basic"`),
				"coupon":      raw(`"WELCOME"`),
				"nickname":    raw(`"p%d"`, p),
				"address":     raw(`{ "street": "Ring %d", "note": "<b>back door</b>" }`, p),
				"preferences": raw(`{"newsletter": "weekly", "sms": %v}`, p%2 == 0),
				"consent":     raw(`{"marketing": true, "analytics": %v}`, p%3 != 0),
			}
			e.TraitsSetOnce = map[string]json.RawMessage{"first_channel": raw(`"web"`), "signup": raw(`{"via": "ad", "at": %d}`, p)}
			e.TraitsIncrement = map[string]json.Number{"logins": "1", "points": "10"}
		})
		add("mobile", event.TypeScreen, "Orders", []string{device, user}, func(e *event.Event) {
			e.Context = raw(`{"locale": "en-US", "device": {"model": "Pixel"}}`)
		})
		add("store", event.TypeTrack, "Order Completed", []string{phone}, func(e *event.Event) {
			e.Properties = raw(`{"order_id": "till-%d", "revenue": %d.5, "currency": "eur", `+
				`"products": [{"sku": "a", "quantity": %d}, {"sku": "b"}]}`, p, 20+rng.IntN(80), 1+rng.IntN(3))
			e.Context = raw(`{"consent": {"categoryPreferences": {"marketing": false, "receipts": true}}}`)
		})
		add("call_center", event.TypeIdentify, "", []string{email, phone}, func(e *event.Event) {
			e.Traits = map[string]json.RawMessage{"plan": raw(`"gold"`), "nickname": raw(`null`)}
			e.TraitsUnset = []string{"coupon", "never_set"}
			e.TraitsIncrement = map[string]json.Number{"support_calls": "1", "points": "-2.5"}
			e.TraitsSetOnce = map[string]json.RawMessage{"first_channel": raw(`"call_center"`)}
		})
		add("web", event.TypeTrack, "Order Completed", []string{user, anon}, func(e *event.Event) {
			e.Properties = raw(`{"order_id": "web-%d", "total": "19.90", "currency": "USD", "quantity": %d, "sessionId": %q}`,
				p, 1+rng.IntN(4), session)
		})
		if p%3 == 0 {
			add("store", event.TypeTrack, "Order Refunded", []string{phone}, func(e *event.Event) {
				e.Properties = raw(`{"order_id": "till-%d", "total": 5, "currency": "EUR"}`, p)
			})
		}
		add("survey", event.TypeTrack, "Survey Completed", []string{email}, func(e *event.Event) {
			e.Properties = raw(`{"nps": %d, "csat": %d, "feedback": %q}`, rng.IntN(11), 1+rng.IntN(5),
				feedback[rng.IntN(len(feedback))])
		})
		add("email", event.TypeTrack, "Email Opened", []string{email}, func(e *event.Event) {
			e.Properties = raw(`{"campaign": "autumn"}`)
			e.TraitsSetOnce = map[string]json.RawMessage{"first_channel": raw(`"email"`)}
		})
		add("survey", event.TypeTrack, "Review Submitted", []string{email}, func(e *event.Event) {
			e.Properties = raw(`{"nps": %d.0, "review": %q}`, rng.IntN(11), feedback[rng.IntN(len(feedback))])
		})
		add("mobile", event.TypeIdentify, "", []string{user, device}, func(e *event.Event) {
			e.Traits = map[string]json.RawMessage{"plan": raw(`"platinum"`)}
			e.TraitsIncrement = map[string]json.Number{"logins": "1", "points": "0.25"}
		})
		if p%4 == 1 { // a family tablet shared with the previous customer
			tablet := fmt.Sprintf("anonymous_id:tablet-%d", p/4)
			add("mobile", event.TypeScreen, "Home", []string{tablet, fmt.Sprintf("user_id:u%d", p-1)}, nil)
			add("mobile", event.TypeScreen, "Home", []string{tablet, user}, func(e *event.Event) {
				e.Context = raw(`{"session_id": "tablet-%d"}`, p)
			})
		}
	}
	return events
}

// renderedProfiles renders every profile of tenant as the Profile API shows
// it (with provenance, as of a fixed time so that the derived fields are
// comparable), without what a rebuild may change (profile id, version,
// merged_from), keyed by the profile's identifiers. It returns the profiles
// too.
func renderedProfiles(t testing.TB, s *redisstore.Store, tenant string) (map[string]string, map[string]*profile.Profile) {
	t.Helper()
	ctx := context.Background()
	graph, err := s.Graph(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	members := map[string][]string{}
	for id, pid := range graph {
		if pid != "" && !strings.HasPrefix(pid, "~") {
			members[pid] = append(members[pid], id)
		}
	}
	asOf := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	out, profiles := map[string]string{}, map[string]*profile.Profile{}
	for pid, ids := range members {
		live, st, err := s.Profile(ctx, tenant, pid)
		if err != nil {
			t.Fatalf("profile %s: %v", pid, err)
		}
		p := s.Model().Render(tenant, live, st, profile.Meta{AsOf: asOf, Provenance: true})
		p.ProfileID, p.Version, p.MergedFrom = "", 0, nil
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ids)
		key := strings.Join(ids, ",")
		out[key], profiles[key] = string(b), p
	}
	return out, profiles
}

// profileDiffs lists the profiles that differ between two renderings.
func profileDiffs(before, after map[string]string) []string {
	var out []string
	for _, k := range sortedKeys(before) {
		switch a, ok := after[k]; {
		case !ok:
			out = append(out, "profile of "+k+": before only")
		case a != before[k]:
			out = append(out, fmt.Sprintf("profile of %s differs:\n  before %s\n  after  %s", k, before[k], a))
		}
	}
	for _, k := range sortedKeys(after) {
		if _, ok := before[k]; !ok {
			out = append(out, "profile of "+k+": after only")
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// checkCoverage fails the test unless the profiles hold every kind of data
// journeys feeds, so that a rebuild that loses any of it shows as a
// difference.
func checkCoverage(t *testing.T, profiles map[string]*profile.Profile, merges int64) {
	t.Helper()
	has := map[string]bool{}
	for _, p := range profiles {
		tr := p.Transactional
		for what, ok := range map[string]bool{
			"items":                   tr.Items > 0,
			"revenue":                 len(tr.Revenue) > 1,
			"lifetime value":          tr.LifetimeValueReporting > 0,
			"refunds":                 tr.Refunds > 0 && len(tr.Refunded) > 0,
			"rfm":                     p.Derived.RFM != nil,
			"nps":                     p.Psychographic.NPS != nil,
			"csat":                    p.Psychographic.CSAT != nil,
			"sentiment":               p.Psychographic.Sentiment != nil && p.Psychographic.Sentiment.Responses > 1,
			"preferences":             len(p.Psychographic.Preferences) > 0,
			"consent from context":    p.Psychographic.Consent["receipts"],
			"sessions":                p.Behavioral.Sessions > 3,
			"locale":                  p.Demographic.Locale != "",
			"city":                    p.Demographic.City != "",
			"set":                     string(p.Traits["plan"]) == `"platinum"`,
			"set once":                string(p.Traits["first_channel"]) == `"web"`,
			"unset":                   p.Traits["coupon"] == nil && p.Traits["name"] != nil,
			"unset by null":           p.Traits["nickname"] == nil && p.Traits["name"] != nil,
			"increment":               string(p.Traits["points"]) == "7.75" && string(p.Traits["logins"]) == "2",
			"provenance of a context": p.Provenance["demographic.locale"].EventID != "",
		} {
			has[what] = has[what] || ok
		}
	}
	for what, ok := range has {
		if !ok {
			t.Errorf("no profile has %s: the test would not see it lost", what)
		}
	}
	if merges == 0 {
		t.Error("no profiles merged")
	}
}

// TestIntegrationRebuildRestoresProfiles loses a tenant's Redis state and
// rebuilds it from ClickHouse: customers' journeys feeding every kind of
// profile data are resolved as the resolvers do (three partitions, random
// batches, retries, late events), their timeline rows written to ClickHouse
// as the sink writes them, the tenant's keys deleted, and an in-place
// rebuild must give back every profile as rendered before (profile ids,
// versions and merged_from aside). A rebuild from a log that lacks
// properties, context and the trait operations, as cx_events and the scan
// once were, must be seen to differ.
func TestIntegrationRebuildRestoresProfiles(t *testing.T) {
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("CXSTREAM_TEST_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	log := testLogger(t)
	ch := chstoretest.New(t)
	s, tenant := redisstoretest.New(t)
	events := journeys(t, rng, tenant, 24)
	applyLive(t, rng, s, tenant, events, 0)
	insertLog(t, rng, ch, events)

	before, profiles := renderedProfiles(t, s, tenant)
	stats, err := s.TenantStats(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	checkCoverage(t, profiles, stats.Merges)

	// The check compares states in a scratch key space.
	rep, diffs, err := pipeline.CheckRebuild(ctx, s, ch, tenant, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		b, _ := json.MarshalIndent(diffs, "", "  ")
		t.Fatalf("the rebuild check finds %d differences:\n%s", len(diffs), b)
	}
	if rep.Replayed != len(events) || rep.Skipped != 0 {
		t.Errorf("check report %+v, want %d events replayed", rep, len(events))
	}

	// Redis loses the tenant; the log gives it back.
	if _, err := s.DeleteTenant(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.TenantExists(ctx, tenant); err != nil || ok {
		t.Fatalf("tenant still in redis after the loss (%v)", err)
	}
	rep, err = pipeline.RebuildInPlace(ctx, s, ch, tenant, log)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Replayed != len(events) || rep.Profiles != int64(len(before)) {
		t.Errorf("in-place report %+v, want %d events and %d profiles", rep, len(events), len(before))
	}
	after, _ := renderedProfiles(t, s, tenant)
	if d := profileDiffs(before, after); len(d) > 0 {
		t.Fatalf("%d of %d profiles differ after the rebuild:\n%s", len(d), len(before), strings.Join(d[:min(len(d), 3)], "\n"))
	}

	// The control: the same log without what the fold reads beyond
	// identifiers and traits loses data, and the comparison shows it.
	bareLog := chstoretest.New(t)
	var bare []*event.Event
	for _, e := range events {
		b := *e
		b.Properties, b.Context, b.TraitsSetOnce, b.TraitsUnset, b.TraitsIncrement = nil, nil, nil, nil, nil
		bare = append(bare, &b)
	}
	insertLog(t, rng, bareLog, bare)
	scratch, err := pipeline.ScratchTenant(tenant)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { redisstoretest.DeleteTenant(t, s, scratch) })
	if _, err := pipeline.Rebuild(ctx, s, bareLog, tenant, scratch, log); err != nil {
		t.Fatal(err)
	}
	lossy, _ := renderedProfiles(t, s, scratch)
	for k, v := range lossy { // the scratch tenant's name is in each profile
		lossy[k] = strings.ReplaceAll(v, scratch, tenant)
	}
	if d := profileDiffs(before, lossy); len(d) != len(before) {
		t.Errorf("a rebuild without properties, context and trait operations differs in %d of %d profiles, want all", len(d), len(before))
	}
}
