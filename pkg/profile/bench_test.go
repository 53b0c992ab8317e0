package profile

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkFold measures computing an event's updates and folding them into
// a profile state (the Go reference of what the Redis script does).
func BenchmarkFold(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	e := randomEvent(rng, 1)
	s := State{}
	b.ReportAllocs()
	for b.Loop() {
		for _, u := range Updates(e) {
			s.Apply(u)
		}
	}
}
