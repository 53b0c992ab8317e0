package profile

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkUpdates measures computing an event's field updates (the Go side
// of the fold, run by the resolver for every event).
func BenchmarkUpdates(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	e := randomEvent(rng, 1)
	m := Default()
	b.ReportAllocs()
	for b.Loop() {
		m.Updates(e)
	}
}

// BenchmarkFold measures computing an event's updates and folding them into
// a profile state (the Go reference of what the Redis script does).
func BenchmarkFold(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	e := randomEvent(rng, 1)
	m := Default()
	s := State{}
	b.ReportAllocs()
	for b.Loop() {
		for _, u := range m.Updates(e) {
			s.Apply(u)
		}
	}
}

// BenchmarkRender measures rendering a profile of forty events.
func BenchmarkRender(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	m := Default()
	s := fold(m, randomEvents(rng, 40))
	b.ReportAllocs()
	for b.Loop() {
		m.Render("t", "p", s, testMeta)
	}
}
