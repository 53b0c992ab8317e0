// Package limit bounds how much one caller may ask of a server: a request
// rate per credential (write key, API token) and a number of requests in
// flight, so that a burst is refused with a status the client retries on
// instead of growing the server's memory without bound.
package limit

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is a token bucket per credential: PerSecond requests a second on
// average, Burst at once. PerSecond 0 turns it off.
type Rate struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

// Validate checks the settings; field names the section ("collector.rate_limit").
func (r Rate) Validate(field string) error {
	switch {
	case r.PerSecond < 0 || math.IsNaN(r.PerSecond) || math.IsInf(r.PerSecond, 0):
		return fmt.Errorf("%s.per_second: must be >= 0 (0 turns the limit off), got %v", field, r.PerSecond)
	case r.PerSecond > 0 && r.Burst < 1:
		return fmt.Errorf("%s.burst: must be >= 1 with a rate, got %d", field, r.Burst)
	}
	return nil
}

// Limiter keeps one bucket per credential. Only credentials the server
// knows (configured keys and tokens) get a bucket, so the map is bounded by
// the configuration. It is safe for concurrent use.
type Limiter struct {
	r  Rate
	mu sync.Mutex
	by map[string]*rate.Limiter
}

// NewLimiter returns a limiter of r (nil when r is off: Allow always admits).
func NewLimiter(r Rate) *Limiter {
	if r.PerSecond == 0 {
		return nil
	}
	return &Limiter{r: r, by: map[string]*rate.Limiter{}}
}

// Allow takes one request of credential from its bucket. When the bucket is
// empty it returns false and how long until a request would be admitted.
func (l *Limiter) Allow(credential string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	b, ok := l.by[credential]
	if !ok {
		b = rate.NewLimiter(rate.Limit(l.r.PerSecond), l.r.Burst)
		l.by[credential] = b
	}
	l.mu.Unlock()
	res := b.Reserve()
	if d := res.Delay(); d > 0 {
		res.Cancel()
		return false, d
	}
	return true, 0
}

// RetryAfter renders a wait as the whole seconds of a Retry-After header,
// at least 1.
func RetryAfter(d time.Duration) string {
	return fmt.Sprint(max(1, int(math.Ceil(d.Seconds()))))
}

// InFlight admits at most n requests at once (n 0: no bound).
type InFlight struct{ slots chan struct{} }

// NewInFlight returns a bound of n requests in flight.
func NewInFlight(n int) *InFlight {
	if n <= 0 {
		return &InFlight{}
	}
	return &InFlight{slots: make(chan struct{}, n)}
}

// ErrBusy: every slot is taken.
var ErrBusy = errors.New("too many requests in flight")

// Acquire takes a slot without waiting; release it with the returned func.
func (f *InFlight) Acquire() (release func(), err error) {
	if f.slots == nil {
		return func() {}, nil
	}
	select {
	case f.slots <- struct{}{}:
		return func() { <-f.slots }, nil
	default:
		return nil, ErrBusy
	}
}
