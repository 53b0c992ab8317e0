package redisstore_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/redisstore/redisstoretest"
)

// claimAll claims everything due at now, in rounds of 100.
func claimAll(t *testing.T, s *redisstore.Store, tenant string, now time.Time) []redisstore.Claimed {
	t.Helper()
	var out []redisstore.Claimed
	for {
		got, err := s.ClaimTimers(context.Background(), tenant, now, 100, lease)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			return out
		}
		out = append(out, got...)
	}
}

// schedule schedules timers at t0.
func schedule(t *testing.T, s *redisstore.Store, tenant string, timers ...redisstore.TimerSpec) {
	t.Helper()
	if _, err := s.Activate(context.Background(), tenant, nil, timers, t0, lease); err != nil {
		t.Fatal(err)
	}
}

func spec(id string, due time.Time, payload, mode string) redisstore.TimerSpec {
	return redisstore.TimerSpec{ID: id, Due: due, Payload: []byte(payload), Mode: mode}
}

// fired is what claiming at a moment returned: "id@minutes after t0=payload".
func fired(cs []redisstore.Claimed) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = fmt.Sprintf("%s@%v=%s", c.ID, c.Due.Sub(t0), c.Payload)
	}
	return out
}

func TestIntegrationTimerModes(t *testing.T) {
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	type op struct {
		schedule []redisstore.TimerSpec // scheduled at t0
		claim    time.Time              // if not zero: claim everything due then...
		ack      bool                   // ...and ack it
		want     []string
	}
	for _, tc := range []struct {
		name string
		ops  []op
	}{
		{"set replaces, later or earlier", []op{
			{schedule: []redisstore.TimerSpec{spec("x", m(10), "a", "set"), spec("x", m(20), "b", "set")}},
			{claim: m(10), want: []string{}},
			{schedule: []redisstore.TimerSpec{spec("x", m(5), "c", "set")}},
			{claim: m(20), ack: true, want: []string{"x@5m0s=c"}},
			{claim: m(60), want: []string{}},
		}},
		{"max keeps the later due", []op{
			{schedule: []redisstore.TimerSpec{spec("x", m(20), "b", "max"), spec("x", m(10), "a", "max"), spec("x", m(20), "same", "max")}},
			{claim: m(19), want: []string{}},
			{schedule: []redisstore.TimerSpec{spec("x", m(30), "c", "max")}},
			{claim: m(29), want: []string{}},
			{claim: m(30), ack: true, want: []string{"x@30m0s=c"}},
		}},
		{"max does not fire again for a moment being published", []op{
			{schedule: []redisstore.TimerSpec{spec("x", m(10), "a", "max")}},
			{claim: m(10), want: []string{"x@10m0s=a"}},
			{schedule: []redisstore.TimerSpec{spec("x", m(10), "a", "max"), spec("x", m(5), "late", "max")}},
			{claim: m(10).Add(lease - time.Millisecond), want: []string{}},
		}},
		{"nx only if neither pending nor leased", []op{
			{schedule: []redisstore.TimerSpec{spec("x", m(10), "a", "nx"), spec("x", m(5), "b", "nx")}},
			{claim: m(10), want: []string{"x@10m0s=a"}},
			{schedule: []redisstore.TimerSpec{spec("x", m(11), "c", "nx")}},
			{claim: m(10).Add(time.Second), ack: true, want: []string{}},
			{claim: m(10).Add(lease), ack: true, want: []string{"x@10m0s=a"}}, // redelivered, acked now
			{schedule: []redisstore.TimerSpec{spec("x", m(11), "d", "nx")}},
			{claim: m(60), ack: true, want: []string{"x@11m0s=d"}},
		}},
		{"cancel drops a pending occurrence due by its bound", []op{
			{schedule: []redisstore.TimerSpec{spec("x", m(10), "a", "set"), spec("y", m(10), "b", "max")}},
			{schedule: []redisstore.TimerSpec{spec("x", m(10), "", "cancel"), spec("y", m(15), "", "cancel")}},
			{claim: m(60), want: []string{}},
		}},
		{"cancel keeps an occurrence due after its bound", []op{
			{schedule: []redisstore.TimerSpec{spec("cart:p", m(10), "a", "max")}},
			{schedule: []redisstore.TimerSpec{spec("cart:p", m(10).Add(-time.Millisecond), "", "cancel")}},
			{claim: m(10), ack: true, want: []string{"cart:p@10m0s=a"}},
		}},
		{"cancel leaves a leased occurrence alone", []op{
			{schedule: []redisstore.TimerSpec{spec("x", m(10), "a", "set")}},
			{claim: m(10), want: []string{"x@10m0s=a"}},
			// The next occurrence, pending meanwhile, is cancelled; the
			// leased one is redelivered after its lease and acked.
			{schedule: []redisstore.TimerSpec{spec("x", m(11), "b", "set"), spec("x", m(60), "", "cancel")}},
			{claim: m(10).Add(lease), ack: true, want: []string{"x@10m0s=a"}},
			{claim: m(120), want: []string{}},
		}},
		{"cancel follows the order of a call", []op{
			{schedule: []redisstore.TimerSpec{
				spec("x", m(10), "a", "set"), spec("x", m(10), "", "cancel"),
				spec("y", m(10), "", "cancel"), spec("y", m(10), "b", "set"),
			}},
			{claim: m(60), want: []string{"y@10m0s=b"}},
		}},
		{"cancel of an unknown id", []op{
			{schedule: []redisstore.TimerSpec{spec("x", m(10), "", "cancel")}},
			{schedule: []redisstore.TimerSpec{spec("x", m(20), "a", "nx")}},
			{claim: m(60), want: []string{"x@20m0s=a"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, tenant := timerStore(t)
			for i, o := range tc.ops {
				if o.schedule != nil {
					schedule(t, s, tenant, o.schedule...)
				}
				if o.claim.IsZero() {
					continue
				}
				got := claimAll(t, s, tenant, o.claim)
				if f := fired(got); !reflect.DeepEqual(f, o.want) {
					t.Errorf("op %d: claimed %q, want %q", i, f, o.want)
				}
				if o.ack {
					if err := s.AckTimers(context.Background(), tenant, got); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// Eight workers claiming the same 1,000 due timers get each exactly once.
func TestIntegrationClaimTimersConcurrently(t *testing.T) {
	s, tenant := timerStore(t)
	ctx := context.Background()
	const n = 1000
	timers := make([]redisstore.TimerSpec, n)
	for i := range timers {
		timers[i] = spec(fmt.Sprintf("t%04d", i), t0.Add(time.Duration(i)*time.Millisecond), fmt.Sprint(i), redisstore.ModeSet)
	}
	schedule(t, s, tenant, timers...)
	now := t0.Add(time.Hour)
	var (
		mu  sync.Mutex
		got = map[string]int{}
		wg  sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for {
				cs, err := s.ClaimTimers(ctx, tenant, now, 37, lease)
				if err != nil {
					t.Error(err)
					return
				}
				if len(cs) == 0 {
					return
				}
				mu.Lock()
				for _, c := range cs {
					got[c.ID]++
					if n, _ := strconv.Atoi(c.ID[1:]); string(c.Payload) != strconv.Itoa(n) {
						t.Errorf("%s: payload %s", c.ID, c.Payload)
					}
				}
				mu.Unlock()
				if err := s.AckTimers(ctx, tenant, cs); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if len(got) != n {
		t.Errorf("claimed %d distinct timers, want %d", len(got), n)
	}
	for id, k := range got {
		if k != 1 {
			t.Errorf("%s claimed %d times", id, k)
		}
	}
	if rest := claimAll(t, s, tenant, now.Add(time.Hour)); len(rest) != 0 {
		t.Errorf("claimed %d timers again after they were acked", len(rest))
	}
}

// A claimer that dies before acking: the next claimer after the lease gets
// the same occurrence, once; the dead one's late ack does not disturb it.
func TestIntegrationLeaseExpiryRedeliversOnce(t *testing.T) {
	s, tenant := timerStore(t)
	ctx := context.Background()
	schedule(t, s, tenant, spec("fu:r:p", t0, "x", redisstore.ModeNX), spec("fu:r:q", t0, "y", redisstore.ModeNX))
	first := claimAll(t, s, tenant, t0)
	if len(first) != 2 {
		t.Fatalf("claimed %q", ids(first))
	}
	if got := claimAll(t, s, tenant, t0.Add(lease-time.Millisecond)); len(got) != 0 {
		t.Errorf("claimed %q while the lease runs", ids(got))
	}
	// q's claimer acks in time; p's dies.
	if err := s.AckTimers(ctx, tenant, first[1:]); err != nil {
		t.Fatal(err)
	}
	expired := t0.Add(lease)
	var (
		mu    sync.Mutex
		again []redisstore.Claimed
		wg    sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			cs, err := s.ClaimTimers(ctx, tenant, expired, 10, lease)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			again = append(again, cs...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(again) != 1 || again[0].ID != "fu:r:p" || again[0].Seq != first[0].Seq ||
		again[0].Key() != first[0].Key() || string(again[0].Payload) != "x" {
		t.Fatalf("after the lease: claimed %+v, want fu:r:p once as first claimed (%+v)", again, first[0])
	}
	if got := claimAll(t, s, tenant, expired.Add(lease-time.Millisecond)); len(got) != 0 {
		t.Errorf("claimed %q while the new lease runs", ids(got))
	}
	// A wrong seq acks nothing; the right one ends it.
	if err := s.AckTimers(ctx, tenant, []redisstore.Claimed{{ID: "fu:r:p", Seq: again[0].Seq + 1}}); err != nil {
		t.Fatal(err)
	}
	if got := claimAll(t, s, tenant, expired.Add(lease)); len(got) != 1 {
		t.Fatalf("a wrong seq acked the timer: claimed %q", ids(got))
	}
	if err := s.AckTimers(ctx, tenant, first[:1]); err != nil {
		t.Fatal(err)
	}
	if got := claimAll(t, s, tenant, t0.Add(time.Hour)); len(got) != 0 {
		t.Errorf("claimed %q after the ack", ids(got))
	}
}

// A cart timer pushed later by a new cart event while its previous moment
// is being published: acking the published one keeps the new one.
func TestIntegrationRescheduleWhileLeased(t *testing.T) {
	s, tenant := timerStore(t)
	ctx := context.Background()
	window := 10 * time.Second // shorter than the lease: the new moment is due while the old is leased
	schedule(t, s, tenant, spec("cart:p", t0.Add(window), "v1", redisstore.ModeMax))
	old := claimAll(t, s, tenant, t0.Add(window))
	if len(old) != 1 {
		t.Fatalf("claimed %q", ids(old))
	}
	activity := t0.Add(window + time.Second)
	schedule(t, s, tenant, spec("cart:p", activity.Add(window), "v2", redisstore.ModeMax))
	// Due while the first is leased: it waits for that lease.
	if got := claimAll(t, s, tenant, activity.Add(window)); len(got) != 0 {
		t.Errorf("claimed %q while the previous moment is leased", fired(got))
	}
	if err := s.AckTimers(ctx, tenant, old); err != nil {
		t.Fatal(err)
	}
	if got := claimAll(t, s, tenant, activity.Add(window-time.Millisecond)); len(got) != 0 {
		t.Errorf("claimed %q before the new due", fired(got))
	}
	got := claimAll(t, s, tenant, activity.Add(window))
	if len(got) != 1 || string(got[0].Payload) != "v2" || !got[0].Due.Equal(activity.Add(window)) ||
		got[0].Seq == old[0].Seq || got[0].Key() == old[0].Key() {
		t.Fatalf("claimed %+v, want the new cart moment", got)
	}
	// Acking the old occurrence again (a duplicate ack) leaves the new
	// lease alone; its own ack ends it.
	if err := s.AckTimers(ctx, tenant, old); err != nil {
		t.Fatal(err)
	}
	if again := claimAll(t, s, tenant, activity.Add(window+lease)); len(again) != 1 || again[0].Seq != got[0].Seq {
		t.Errorf("the old ack removed the new occurrence: claimed %+v", again)
	}
	if err := s.AckTimers(ctx, tenant, got); err != nil {
		t.Fatal(err)
	}
	if rest := claimAll(t, s, tenant, t0.Add(24*time.Hour)); len(rest) != 0 {
		t.Errorf("claimed %q after everything was acked", fired(rest))
	}
}

func TestIntegrationDueTenants(t *testing.T) {
	s, tenant := timerStore(t)
	ctx := context.Background()
	due := func(now time.Time) bool { return dueTenant(t, s, tenant, now) }
	if due(t0.Add(1000 * time.Hour)) {
		t.Fatal("a tenant without timers is due")
	}
	b := t0.Add(time.Hour + 2*time.Minute) // within the index horizon of a claim at the hour
	schedule(t, s, tenant, spec("a", t0.Add(time.Hour), "", redisstore.ModeSet), spec("b", b, "", redisstore.ModeSet))
	if due(t0.Add(time.Hour - time.Millisecond)) {
		t.Error("due before its earliest timer")
	}
	if !due(t0.Add(time.Hour)) {
		t.Error("not due at its earliest timer")
	}
	// Claiming moves it to its next timer, here the lease of a.
	got := claimAll(t, s, tenant, t0.Add(time.Hour))
	if len(got) != 1 {
		t.Fatalf("claimed %q", ids(got))
	}
	if due(t0.Add(time.Hour+lease-time.Millisecond)) || !due(t0.Add(time.Hour+lease)) {
		t.Error("not due exactly when the lease expires")
	}
	if err := s.AckTimers(ctx, tenant, got); err != nil {
		t.Fatal(err)
	}
	claimAll(t, s, tenant, t0.Add(time.Hour+lease)) // finds nothing, moves the index to b
	if due(b.Add(-time.Millisecond)) || !due(b) {
		t.Error("not due exactly at the next timer")
	}
	// An earlier timer moves it earlier; Activate's inputs make it due when
	// their transitions' lease would expire.
	schedule(t, s, tenant, spec("c", t0.Add(61*time.Minute), "", redisstore.ModeSet))
	if !due(t0.Add(61 * time.Minute)) {
		t.Error("an earlier timer did not move the tenant earlier")
	}
	if _, err := s.Activate(ctx, tenant, []redisstore.ActivationInput{{ProfileID: "p", Version: 1, Segments: []string{"s"}}},
		nil, t0, lease); err != nil {
		t.Fatal(err)
	}
	if !due(t0.Add(lease)) {
		t.Error("not due when unacked transitions' lease expires")
	}
	// Once empty, the tenant is looked at again after the horizon only.
	all := claimAll(t, s, tenant, t0.Add(3*time.Hour))
	if err := s.AckTimers(ctx, tenant, all); err != nil {
		t.Fatal(err)
	}
	claimAll(t, s, tenant, t0.Add(3*time.Hour))
	if due(t0.Add(3*time.Hour + time.Minute)) {
		t.Error("a tenant without timers is due a minute later")
	}
	if !due(t0.Add(4 * time.Hour)) {
		t.Error("a tenant without timers is never looked at again")
	}
}

// A cancel's due is a bound, not a due time: a call cancelling only does
// not index the tenant, and one that also schedules indexes it at the
// scheduled due.
func TestIntegrationCancelLeavesIndexAlone(t *testing.T) {
	s, tenant := timerStore(t)
	due := func(now time.Time) bool { return dueTenant(t, s, tenant, now) }
	schedule(t, s, tenant, redisstore.TimerSpec{ID: "cart:p", Due: t0, Mode: redisstore.ModeCancel})
	if due(t0.Add(1000 * time.Hour)) {
		t.Error("a call that only cancels indexed the tenant")
	}
	schedule(t, s, tenant, redisstore.TimerSpec{ID: "cart:p", Due: t0, Mode: redisstore.ModeCancel},
		spec("cart:q", t0.Add(time.Hour), "", redisstore.ModeSet))
	if due(t0.Add(time.Hour-time.Millisecond)) || !due(t0.Add(time.Hour)) {
		t.Error("not indexed at the due it scheduled")
	}
}

// A claim sets the index from the tenant's timers even when it was too
// late, as a claim racing with Activate may leave it for a moment.
func TestIntegrationClaimRepairsIndex(t *testing.T) {
	s, tenant := timerStore(t)
	ctx := context.Background()
	schedule(t, s, tenant, spec("a", t0.Add(time.Hour), "", redisstore.ModeSet))
	s.Client().ZAdd(ctx, redisstore.TimerIndexKey, redis.Z{Score: float64(t0.Add(100 * time.Hour).UnixMilli()), Member: tenant})
	if _, err := s.ClaimTimers(ctx, tenant, t0, 10, lease); err != nil {
		t.Fatal(err)
	}
	ts, err := s.DueTenants(ctx, t0.Add(time.Hour))
	if err != nil || !slices.Contains(ts, tenant) {
		t.Errorf("after a claim the tenant is not due at its timer (%v)", err)
	}
}

func TestIntegrationClaimTimersRejectsBadArguments(t *testing.T) {
	s, tenant := timerStore(t)
	if _, err := s.ClaimTimers(context.Background(), tenant, t0, 0, lease); err == nil {
		t.Error("limit 0: no error")
	}
	if _, err := s.ClaimTimers(context.Background(), tenant, t0, 1, 0); err == nil {
		t.Error("lease 0: no error")
	}
}

// Claims racing with Activate never leave the index later than the
// tenant's earliest timer.
func TestIntegrationIndexNeverLate(t *testing.T) {
	s, tenant := timerStore(t)
	ctx := context.Background()
	const n = 300
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for i := range n {
			// Ever earlier timers, none due at t0.
			schedule(t, s, tenant, spec(fmt.Sprint(i), t0.Add(time.Duration(n-i)*500*time.Millisecond), "", redisstore.ModeSet))
		}
	})
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := s.ClaimTimers(ctx, tenant, t0, 10, lease); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	score, err := s.Client().ZScore(ctx, redisstore.TimerIndexKey, tenant).Result()
	if err != nil {
		t.Fatal(err)
	}
	if earliest := t0.Add(500 * time.Millisecond).UnixMilli(); int64(score) > earliest {
		t.Errorf("index at %d, after the earliest timer %d", int64(score), earliest)
	}
}

// Setting a timer again to the occurrence already pending (an eval timer
// most batches set to the same moment) keeps that occurrence, sequence
// number and all; another due or payload replaces it.
func TestIntegrationSetSameOccurrenceKeepsIt(t *testing.T) {
	s, tenant := redisstoretest.New(t)
	due := t0.Add(time.Minute)
	schedule(t, s, tenant, spec("eval:p", due, `{"kind":"eval"}`, redisstore.ModeSet))
	schedule(t, s, tenant, spec("eval:p", due, `{"kind":"eval"}`, redisstore.ModeSet))
	schedule(t, s, tenant, spec("eval:q", due, `a`, redisstore.ModeSet))
	schedule(t, s, tenant, spec("eval:q", due, `b`, redisstore.ModeSet))
	got := claimAll(t, s, tenant, due)
	if len(got) != 2 {
		t.Fatalf("claimed %v, want one occurrence each of eval:p and eval:q", fired(got))
	}
	slices.SortFunc(got, func(a, b redisstore.Claimed) int { return strings.Compare(a.ID, b.ID) })
	// Sequence numbers count occurrences made: eval:p's first is 1, and
	// eval:q's are 2 and 3, of which the second (payload b) stands.
	if got[0].Seq != 1 || got[1].Seq != 3 || string(got[1].Payload) != "b" {
		t.Errorf("claimed %v with seqs %d, %d; want eval:p kept at 1, eval:q replaced (3, b)", fired(got), got[0].Seq, got[1].Seq)
	}
}

// dueTenant reports whether DueTenants at now lists tenant.
func dueTenant(t *testing.T, s *redisstore.Store, tenant string, now time.Time) bool {
	t.Helper()
	ts, err := s.DueTenants(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Contains(ts, tenant)
}
