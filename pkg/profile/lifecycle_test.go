package profile

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestLifecycleChangeAfter: the stage is the same at every moment before
// the returned time, and every stage change is found by following the
// returned times from one to the next.
func TestLifecycleChangeAfter(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	day := 24 * time.Hour
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	stage := func(p Profile, at time.Time) string {
		p.AsOf = at
		p.Derived = Derived{}
		testModel.derive(&p)
		return p.Derived.Lifecycle
	}
	for range 300 {
		first := base.Add(time.Duration(rng.Int64N(int64(200 * day))))
		last := first.Add(time.Duration(rng.Int64N(int64(120 * day))))
		p := Profile{Behavioral: Behavioral{Events: 1 + rng.Int64N(5), FirstSeen: first, LastSeen: last}}
		at := last.Add(time.Duration(rng.Int64N(int64(100 * day))))
		// Walk an hour at a time for 200 days, checking each change was
		// announced by the previous LifecycleChangeAfter.
		cur := stage(p, at)
		p.AsOf = at
		next := testModel.LifecycleChangeAfter(&p)
		changes := 0
		for now := at; now.Before(at.Add(200 * day)); now = now.Add(time.Hour) {
			s := stage(p, now)
			if s == cur {
				continue
			}
			changes++
			if next.IsZero() || now.Before(next) {
				t.Fatalf("first %v last %v: stage %s -> %s at %v, but the next change was announced for %v",
					first, last, cur, s, now, next)
			}
			cur = s
			p.AsOf = now
			next = testModel.LifecycleChangeAfter(&p)
		}
		if cur == "churned" && !next.IsZero() {
			t.Errorf("churned profile announces a change at %v", next)
		}
	}
	if !testModel.LifecycleChangeAfter(&Profile{AsOf: base}).IsZero() {
		t.Error("a profile without events announces a lifecycle change")
	}
}
