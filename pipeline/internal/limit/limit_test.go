package limit

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRateIsPerCredential(t *testing.T) {
	l := NewLimiter(Rate{PerSecond: 1, Burst: 3})
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d within the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait <= 0 || wait > time.Second {
		t.Errorf("4th request at once: %v, wait %s; want refused, under a second to wait", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Error("another credential is limited by the first one's requests")
	}
	if got := RetryAfter(wait); got != "1" {
		t.Errorf("Retry-After %q, want 1", got)
	}
	if got := RetryAfter(2500 * time.Millisecond); got != "3" {
		t.Errorf("Retry-After of 2.5 s = %q, want 3", got)
	}
}

func TestRateOff(t *testing.T) {
	var l *Limiter = NewLimiter(Rate{})
	for range 1000 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatal("a limiter that is off refused a request")
		}
	}
}

func TestRateValidate(t *testing.T) {
	for _, tc := range []struct {
		r    Rate
		want string
	}{
		{Rate{PerSecond: -1}, "x.per_second"},
		{Rate{PerSecond: 5}, "x.burst"},
		{Rate{}, ""},
		{Rate{PerSecond: 5, Burst: 10}, ""},
	} {
		err := tc.r.Validate("x")
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.r, err, tc.want)
		}
	}
}

func TestInFlight(t *testing.T) {
	f := NewInFlight(2)
	r1, err1 := f.Acquire()
	r2, err2 := f.Acquire()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := f.Acquire(); err != ErrBusy {
		t.Errorf("third request: %v, want ErrBusy", err)
	}
	r1()
	r3, err := f.Acquire()
	if err != nil {
		t.Errorf("after a release: %v", err)
	}
	r2()
	r3()
	// Concurrent use never admits more than the bound.
	f = NewInFlight(3)
	var mu sync.Mutex
	in, most := 0, 0
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			release, err := f.Acquire()
			if err != nil {
				return
			}
			mu.Lock()
			in++
			most = max(most, in)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			in--
			mu.Unlock()
			release()
		})
	}
	wg.Wait()
	if most > 3 {
		t.Errorf("%d requests in flight at once, bound 3", most)
	}
	if _, err := NewInFlight(0).Acquire(); err != nil {
		t.Errorf("no bound: %v", err)
	}
}
