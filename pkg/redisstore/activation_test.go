package redisstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/redisstore"
)

// timerStore is newStore for tests of timers: it also takes the tenant out
// of the global timer index when the test ends.
func timerStore(t *testing.T) (*redisstore.Store, string) {
	s, tenant := newStore(t)
	t.Cleanup(func() { s.Client().ZRem(context.Background(), redisstore.TimerIndexKey, tenant) })
	return s, tenant
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

const lease = 30 * time.Second

// activate runs one input and returns the ids of the transitions enqueued.
func activate(t *testing.T, s *redisstore.Store, tenant string, in redisstore.ActivationInput) []string {
	t.Helper()
	got, err := s.Activate(context.Background(), tenant, []redisstore.ActivationInput{in}, nil, t0, lease)
	if err != nil {
		t.Fatal(err)
	}
	return ids(got)
}

func ids(cs []redisstore.Claimed) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func transition(t *testing.T, c redisstore.Claimed) redisstore.Transition {
	t.Helper()
	var tr redisstore.Transition
	if err := json.Unmarshal(c.Payload, &tr); err != nil {
		t.Fatalf("payload of %s: %v: %s", c.ID, err, c.Payload)
	}
	return tr
}

func TestIntegrationActivateTransitions(t *testing.T) {
	s, tenant := timerStore(t)
	ctx := context.Background()
	steps := []struct {
		name string
		in   redisstore.ActivationInput
		want []string
	}{
		{"new profile enters its segments and stage",
			redisstore.ActivationInput{ProfileID: "p", Version: 1, Segments: []string{"b", "a"}, Lifecycle: "new"},
			[]string{"tr:p:1:segment.entered:a", "tr:p:1:segment.entered:b", "tr:p:1:lifecycle.changed:new"}},
		{"exits, entries and a stage change",
			redisstore.ActivationInput{ProfileID: "p", Version: 2, Segments: []string{"b", "c"}, Lifecycle: "active"},
			[]string{"tr:p:2:segment.exited:a", "tr:p:2:segment.entered:c", "tr:p:2:lifecycle.changed:active"}},
		{"a newer version without changes",
			redisstore.ActivationInput{ProfileID: "p", Version: 4, Segments: []string{"b", "c"}, Lifecycle: "active"},
			[]string{}},
		{"leaves every segment",
			redisstore.ActivationInput{ProfileID: "p", Version: 5, Lifecycle: "active"},
			[]string{"tr:p:5:segment.exited:b", "tr:p:5:segment.exited:c"}},
		{"a new profile without segments or stage",
			redisstore.ActivationInput{ProfileID: "q", Version: 3},
			[]string{}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if got := activate(t, s, tenant, st.in); !reflect.DeepEqual(got, st.want) {
				t.Errorf("transitions = %q, want %q", got, st.want)
			}
			segs, lc, v, found, err := s.ActivationState(ctx, tenant, st.in.ProfileID)
			if err != nil || !found {
				t.Fatalf("ActivationState: found %v, %v", found, err)
			}
			want := slices.Sorted(slices.Values(st.in.Segments))
			if len(segs) != len(want) || (len(want) > 0 && !reflect.DeepEqual(segs, want)) ||
				lc != st.in.Lifecycle || v != st.in.Version {
				t.Errorf("state = %q %q v%d, want %q %q v%d", segs, lc, v, want, st.in.Lifecycle, st.in.Version)
			}
		})
	}
	if _, _, _, found, err := s.ActivationState(ctx, tenant, "nobody"); found || err != nil {
		t.Errorf("unknown profile: found %v, %v", found, err)
	}
}

func TestIntegrationActivatePayloads(t *testing.T) {
	s, tenant := timerStore(t)
	ctx := context.Background()
	at := t0.Add(-time.Minute)
	in := []redisstore.ActivationInput{
		{ProfileID: "p", Version: 7, Segments: []string{"vip"}, Lifecycle: "new", At: at},
		{ProfileID: "r", Version: 8, Segments: []string{"x/y \"quoted\""}},
	}
	got, err := s.Activate(ctx, tenant, in, nil, t0, lease)
	if err != nil {
		t.Fatal(err)
	}
	want := []redisstore.Transition{
		{Kind: redisstore.KindSegmentEntered, ProfileID: "p", Version: 7, Segment: "vip", At: at.UnixMilli()},
		{Kind: redisstore.KindLifecycleChanged, ProfileID: "p", Version: 7, From: "", To: "new", At: at.UnixMilli()},
		{Kind: redisstore.KindSegmentEntered, ProfileID: "r", Version: 8, Segment: "x/y \"quoted\"", At: t0.UnixMilli()},
	}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %d transitions", ids(got), len(want))
	}
	for i, c := range got {
		if tr := transition(t, c); tr != want[i] {
			t.Errorf("%s: payload %+v, want %+v", c.ID, tr, want[i])
		}
		if !c.Due.Equal(time.UnixMilli(want[i].At)) || c.Seq == 0 {
			t.Errorf("%s: due %v seq %d, want due %v and a seq", c.ID, c.Due, c.Seq, time.UnixMilli(want[i].At))
		}
	}
}

func TestIntegrationActivateStaleAndReplayedEnqueueNothing(t *testing.T) {
	s, tenant := timerStore(t)
	ctx := context.Background()
	batch := []redisstore.ActivationInput{
		{ProfileID: "p", Version: 2, Segments: []string{"a"}, Lifecycle: "active"},
		{ProfileID: "q", Version: 3, Segments: []string{"b"}},
	}
	first, err := s.Activate(ctx, tenant, batch, nil, t0, lease)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 3 {
		t.Fatalf("first call: %q, want 3 transitions", ids(first))
	}
	for _, c := range [][]redisstore.ActivationInput{
		batch, // the same batch again (a retry after a timeout)
		{{ProfileID: "p", Version: 2, Segments: []string{"z"}, Lifecycle: "churned"}}, // same version, other result
		{{ProfileID: "p", Version: 1, Segments: []string{"old"}}},                     // stale
		{{ProfileID: "q", Version: 2, Reevaluate: true}},                              // re-evaluation of an old version
	} {
		got, err := s.Activate(ctx, tenant, c, nil, t0.Add(time.Minute), lease)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Errorf("%+v: enqueued %q, want nothing", c, ids(got))
		}
	}
	segs, lc, v, _, _ := s.ActivationState(ctx, tenant, "p")
	if !reflect.DeepEqual(segs, []string{"a"}) || lc != "active" || v != 2 {
		t.Errorf("state of p = %q %q v%d, want [a] active v2", segs, lc, v)
	}
	// Nothing but the first call's transitions is ever delivered.
	if err := s.AckTimers(ctx, tenant, first); err != nil {
		t.Fatal(err)
	}
	if got := claimAll(t, s, tenant, t0.Add(time.Hour)); len(got) != 0 {
		t.Errorf("claimed %q after acking, want nothing", ids(got))
	}
}

func TestIntegrationActivateReevaluate(t *testing.T) {
	s, tenant := timerStore(t)
	in := func(v int64, re bool, lc string, segs ...string) redisstore.ActivationInput {
		return redisstore.ActivationInput{ProfileID: "p", Version: v, Segments: segs, Lifecycle: lc, Reevaluate: re}
	}
	steps := []struct {
		name string
		in   redisstore.ActivationInput
		want []string
	}{
		{"batch", in(5, false, "active", "a"), []string{"tr:p:5:segment.entered:a", "tr:p:5:lifecycle.changed:active"}},
		{"time moves the profile on", in(5, true, "at_risk"),
			[]string{"tr:p:5.1:segment.exited:a", "tr:p:5.1:lifecycle.changed:at_risk"}},
		{"the same re-evaluation again", in(5, true, "at_risk"), []string{}},
		{"a batch at the same version", in(5, false, "churned", "z"), []string{}},
		{"a re-evaluation of an older state", in(4, true, "churned"), []string{}},
		{"a second change at the same version", in(5, true, "churned"), []string{"tr:p:5.2:lifecycle.changed:churned"}},
		{"a newer version", in(6, false, "active", "a"),
			[]string{"tr:p:6:segment.entered:a", "tr:p:6:lifecycle.changed:active"}},
		{"a re-evaluation of a newer version", in(7, true, "at_risk", "a"), []string{"tr:p:7:lifecycle.changed:at_risk"}},
	}
	for _, st := range steps {
		if got := activate(t, s, tenant, st.in); !reflect.DeepEqual(got, st.want) {
			t.Errorf("%s: transitions = %q, want %q", st.name, got, st.want)
		}
	}
}

// Each re-evaluation at a version that changes something carries its
// number in the payload, as in the id; a batch evaluation carries none.
func TestIntegrationActivateRevInPayload(t *testing.T) {
	s, tenant := timerStore(t)
	ctx := context.Background()
	for _, st := range []struct {
		in      redisstore.ActivationInput
		wantRev []int
	}{
		{redisstore.ActivationInput{ProfileID: "p", Version: 5, Segments: []string{"a"}, Lifecycle: "active"}, []int{0, 0}},
		{redisstore.ActivationInput{ProfileID: "p", Version: 5, Lifecycle: "at_risk", Reevaluate: true}, []int{1, 1}},
		{redisstore.ActivationInput{ProfileID: "p", Version: 5, Lifecycle: "at_risk", Reevaluate: true}, []int{}},
		{redisstore.ActivationInput{ProfileID: "p", Version: 5, Lifecycle: "churned", Reevaluate: true}, []int{2}},
		{redisstore.ActivationInput{ProfileID: "p", Version: 6, Lifecycle: "active"}, []int{0}},
	} {
		got, err := s.Activate(ctx, tenant, []redisstore.ActivationInput{st.in}, nil, t0, lease)
		if err != nil {
			t.Fatal(err)
		}
		revs := make([]int, len(got))
		for i, c := range got {
			tr := transition(t, c)
			revs[i] = tr.Rev
			if tr.Version != st.in.Version {
				t.Errorf("%s: version %d, want %d", c.ID, tr.Version, st.in.Version)
			}
		}
		if !reflect.DeepEqual(revs, st.wantRev) {
			t.Errorf("%+v: enqueued %q with revs %v, want %v", st.in, ids(got), revs, st.wantRev)
		}
		for _, c := range got {
			if transition(t, c).Rev == 0 && strings.Contains(string(c.Payload), `"rev"`) {
				t.Errorf("%s: payload names rev 0: %s", c.ID, c.Payload)
			}
		}
	}
}

// A profile merged into another leaves its segments, once, and stays a
// tombstone: stale inputs for it are ignored, a revival starts afresh.
func TestIntegrationActivateMerge(t *testing.T) {
	s, tenant := timerStore(t)
	ctx := context.Background()
	at := t0.Add(-time.Minute)
	first, err := s.Activate(ctx, tenant, []redisstore.ActivationInput{
		{ProfileID: "p", Version: 1, Segments: []string{"b", "a"}, Lifecycle: "active", Next: t0.Add(time.Hour)}}, nil, t0, lease)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 3 {
		t.Fatalf("first evaluation enqueued %q", ids(first))
	}
	tombstone := func(pid string, version int64) {
		t.Helper()
		segs, lc, v, found, err := s.ActivationState(ctx, tenant, pid)
		if err != nil || !found || len(segs) != 0 || lc != "" || v != version {
			t.Errorf("state of %s = %q %q v%d found %v (%v), want a tombstone at v%d", pid, segs, lc, v, found, err, version)
		}
	}

	// Segments, lifecycle, Next and Reevaluate of a merge are ignored.
	merge := redisstore.ActivationInput{ProfileID: "p", Version: 3, MergedInto: "q", At: at,
		Segments: []string{"z"}, Lifecycle: "churned", Next: t0.Add(time.Minute), Reevaluate: true}
	got, err := s.Activate(ctx, tenant, []redisstore.ActivationInput{merge}, nil, t0, lease)
	if err != nil {
		t.Fatal(err)
	}
	want := []redisstore.Transition{
		{Kind: redisstore.KindSegmentExited, ProfileID: "p", Version: 3, Segment: "a", MergedInto: "q", At: at.UnixMilli()},
		{Kind: redisstore.KindSegmentExited, ProfileID: "p", Version: 3, Segment: "b", MergedInto: "q", At: at.UnixMilli()},
	}
	if !reflect.DeepEqual(ids(got), []string{"tr:p:3:segment.exited:a", "tr:p:3:segment.exited:b"}) {
		t.Fatalf("merge enqueued %q", ids(got))
	}
	for i, c := range got {
		if tr := transition(t, c); tr != want[i] {
			t.Errorf("%s: payload %+v, want %+v", c.ID, tr, want[i])
		}
	}
	tombstone("p", 3)
	if err := s.AckTimers(ctx, tenant, append(first, got...)); err != nil {
		t.Fatal(err)
	}

	for name, in := range map[string]redisstore.ActivationInput{
		"the merge again":                   merge,
		"an older merge":                    {ProfileID: "p", Version: 2, MergedInto: "q"},
		"a stale evaluation":                {ProfileID: "p", Version: 2, Segments: []string{"a"}, Lifecycle: "active"},
		"a stale re-evaluation":             {ProfileID: "p", Version: 1, Segments: []string{"a"}, Lifecycle: "active", Reevaluate: true},
		"a merge into another at that time": {ProfileID: "p", Version: 3, MergedInto: "r"},
	} {
		if got := activate(t, s, tenant, in); len(got) != 0 {
			t.Errorf("%s: enqueued %q, want nothing", name, got)
		}
	}
	tombstone("p", 3)
	// The evaluation timer pending before the merge is gone.
	if got := claimAll(t, s, tenant, t0.Add(1000*time.Hour)); len(got) != 0 {
		t.Errorf("claimed %q after the merge, want nothing", ids(got))
	}

	// An unmerge revives p at a newer version: it enters its segments and
	// changes stage from "", as a new profile does.
	got, err = s.Activate(ctx, tenant, []redisstore.ActivationInput{
		{ProfileID: "p", Version: 4, Segments: []string{"a"}, Lifecycle: "active"}}, nil, t0, lease)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids(got), []string{"tr:p:4:segment.entered:a", "tr:p:4:lifecycle.changed:active"}) {
		t.Fatalf("revival enqueued %q", ids(got))
	}
	if tr := transition(t, got[1]); tr.From != "" || tr.To != "active" || tr.MergedInto != "" {
		t.Errorf("revival's lifecycle change %+v, want from \"\" to active", tr)
	}

	// A profile never activated: only the tombstone is stored.
	if got := activate(t, s, tenant, redisstore.ActivationInput{ProfileID: "n", Version: 5, MergedInto: "q"}); len(got) != 0 {
		t.Errorf("merge of a new profile enqueued %q", got)
	}
	tombstone("n", 5)
	if got := activate(t, s, tenant, redisstore.ActivationInput{ProfileID: "n", Version: 4, Segments: []string{"a"}}); len(got) != 0 {
		t.Errorf("stale input for a merged-away new profile enqueued %q", got)
	}
}

func TestIntegrationActivateSchedulesEvaluation(t *testing.T) {
	s, tenant := timerStore(t)
	ctx := context.Background()
	next := t0.Add(24 * time.Hour)
	tr, err := s.Activate(ctx, tenant, []redisstore.ActivationInput{
		{ProfileID: "p", Version: 1, Lifecycle: "new", Next: next},
		{ProfileID: "q", Version: 1, Lifecycle: "new", Next: next},
	}, nil, t0, lease)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AckTimers(ctx, tenant, tr); err != nil {
		t.Fatal(err)
	}
	// A stale input keeps p's timer; q's newer state needs none.
	activate(t, s, tenant, redisstore.ActivationInput{ProfileID: "p", Version: 1, Lifecycle: "new"})
	activate(t, s, tenant, redisstore.ActivationInput{ProfileID: "q", Version: 2, Lifecycle: "new"})
	if got := claimAll(t, s, tenant, next.Add(-time.Millisecond)); len(got) != 0 {
		t.Errorf("claimed %q before the evaluation is due", ids(got))
	}
	got := claimAll(t, s, tenant, next)
	if !reflect.DeepEqual(ids(got), []string{"eval:p"}) {
		t.Fatalf("claimed %q at the evaluation time, want eval:p", ids(got))
	}
	if p := transition(t, got[0]); p.Kind != redisstore.KindEval || p.ProfileID != "p" || !got[0].Due.Equal(next) {
		t.Errorf("eval payload %+v due %v", p, got[0].Due)
	}
	// The worker re-evaluates while it holds the lease: the next
	// evaluation is scheduled, and acking the fired one keeps it.
	later := next.Add(24 * time.Hour)
	res, err := s.Activate(ctx, tenant, []redisstore.ActivationInput{
		{ProfileID: "p", Version: 1, Lifecycle: "active", Reevaluate: true, Next: later}}, nil, next, lease)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids(res), []string{"tr:p:1.1:lifecycle.changed:active"}) {
		t.Errorf("re-evaluation enqueued %q", ids(res))
	}
	if err := s.AckTimers(ctx, tenant, append(got, res...)); err != nil {
		t.Fatal(err)
	}
	if got := claimAll(t, s, tenant, later); !reflect.DeepEqual(ids(got), []string{"eval:p"}) || !got[0].Due.Equal(later) {
		t.Errorf("claimed %q at the next evaluation, want eval:p due %v", ids(got), later)
	}
}

// Resolvers evaluating the same profile at once enqueue each transition
// once.
func TestIntegrationActivateConcurrentResolvers(t *testing.T) {
	s, tenant := timerStore(t)
	ctx := context.Background()
	seen := map[string]int{}
	var mu sync.Mutex
	want := 0
	prev := map[string]bool{}
	for v := int64(1); v <= 20; v++ {
		segs := []string{}
		cur := map[string]bool{}
		for k := range 6 {
			if (v+int64(k))%3 == 0 {
				name := fmt.Sprintf("s%d", k)
				segs = append(segs, name)
				cur[name] = true
			}
		}
		for name := range cur {
			if !prev[name] {
				want++
			}
		}
		for name := range prev {
			if !cur[name] {
				want++
			}
		}
		prev = cur
		in := []redisstore.ActivationInput{{ProfileID: "p", Version: v, Segments: segs}}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				got, err := s.Activate(ctx, tenant, in, nil, t0, lease)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, c := range got {
					seen[c.ID]++
				}
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	if len(seen) != want {
		t.Errorf("%d distinct transitions, want %d", len(seen), want)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s enqueued %d times", id, n)
		}
	}
}

func TestIntegrationActivateRejectsBadArguments(t *testing.T) {
	s, tenant := timerStore(t)
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"no lease": func() error {
			_, err := s.Activate(ctx, tenant, []redisstore.ActivationInput{{ProfileID: "p"}}, nil, t0, 0)
			return err
		},
		"no profile id": func() error {
			_, err := s.Activate(ctx, tenant, []redisstore.ActivationInput{{Version: 1}}, nil, t0, lease)
			return err
		},
		"merged into itself": func() error {
			_, err := s.Activate(ctx, tenant, []redisstore.ActivationInput{{ProfileID: "p", Version: 1, MergedInto: "p"}}, nil, t0, lease)
			return err
		},
		"unknown mode": func() error {
			_, err := s.Activate(ctx, tenant, nil, []redisstore.TimerSpec{{ID: "x", Due: t0, Mode: "later"}}, t0, lease)
			return err
		},
		"no due": func() error {
			_, err := s.Activate(ctx, tenant, nil, []redisstore.TimerSpec{{ID: "x", Mode: redisstore.ModeSet}}, t0, lease)
			return err
		},
	} {
		if call() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// Activate sends its script along when Redis does not know it (after a
// restart), and still indexes the tenant after the script ran.
func TestIntegrationActivateAfterScriptFlush(t *testing.T) {
	s, tenant := timerStore(t)
	ctx := context.Background()
	if err := s.Client().ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Activate(ctx, tenant, []redisstore.ActivationInput{{ProfileID: "p", Version: 1, Segments: []string{"a"}}}, nil, t0, lease)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids(got), []string{"tr:p:1:segment.entered:a"}) {
		t.Errorf("transitions %q", ids(got))
	}
	ts, err := s.DueTenants(ctx, t0.Add(lease))
	if err != nil || !slices.Contains(ts, tenant) {
		t.Errorf("tenant not indexed at its lease expiry (%v)", err)
	}
}

// TestIntegrationActivateOneProfileTwiceInACall gives one call several
// inputs of the same profiles: each sees what the one before it stored, as
// it would across calls (the script reads the stored memberships once and
// writes them once).
func TestIntegrationActivateOneProfileTwiceInACall(t *testing.T) {
	ctx := context.Background()
	inputs := []redisstore.ActivationInput{
		{ProfileID: "p", Version: 1, Segments: []string{"a"}, Lifecycle: "new"},
		{ProfileID: "q", Version: 1, Segments: []string{"a"}},
		{ProfileID: "p", Version: 2, Segments: []string{"b"}, Lifecycle: "active"},
		{ProfileID: "p", Version: 1, Segments: []string{"c"}}, // stale by now
		{ProfileID: "q", Version: 2, MergedInto: "p"},
		{ProfileID: "p", Version: 2, Segments: []string{"a", "b"}, Lifecycle: "active", Reevaluate: true},
	}
	one, tenantA := timerStore(t)
	got, err := one.Activate(ctx, tenantA, inputs, nil, t0, lease)
	if err != nil {
		t.Fatal(err)
	}
	each, tenantB := timerStore(t)
	var want []string
	for _, in := range inputs {
		want = append(want, activate(t, each, tenantB, in)...)
	}
	if !slices.Equal(ids(got), want) {
		t.Errorf("one call enqueued\n %v\ncall by call\n %v", ids(got), want)
	}
	for _, pid := range []string{"p", "q"} {
		sa, la, va, _, _ := one.ActivationState(ctx, tenantA, pid)
		sb, lb, vb, _, _ := each.ActivationState(ctx, tenantB, pid)
		if !slices.Equal(sa, sb) || la != lb || va != vb {
			t.Errorf("%s: one call %v %q %d, call by call %v %q %d", pid, sa, la, va, sb, lb, vb)
		}
	}
}
