package profile

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
)

var update = flag.Bool("update", false, "rewrite golden files")

func randomEvent(rng *rand.Rand, i int) *event.Event {
	channels := []string{"web", "mobile", "store", "call_center"}
	types := []event.Type{event.TypeTrack, event.TypeIdentify, event.TypePage}
	e := &event.Event{
		EventID:   fmt.Sprintf("e%d", i),
		Tenant:    "t",
		Channel:   channels[rng.IntN(len(channels))],
		Type:      types[rng.IntN(len(types))],
		Name:      fmt.Sprintf("n%d", rng.IntN(3)),
		EventTime: time.Date(2026, 1, 1, 0, rng.IntN(10), 0, 0, time.UTC), // many equal times
		Traits:    map[string]json.RawMessage{"plan": json.RawMessage(strconv.Quote(fmt.Sprint(rng.IntN(5))))},
	}
	if rng.IntN(4) == 0 {
		e.Traits["plan"] = json.RawMessage("null")
	}
	return e
}

func fold(events []*event.Event) State {
	s := State{}
	for _, e := range events {
		for _, u := range Updates(e) {
			s.Apply(u)
		}
	}
	return s
}

// The fold must give the same state whatever the order of events and
// however they are split between profiles that are merged later.
func TestFoldIsOrderInsensitive(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 2))
	for run := range 200 {
		events := make([]*event.Event, 1+rng.IntN(30))
		for i := range events {
			events[i] = randomEvent(rng, i)
		}
		want := fold(events)

		shuffled := append([]*event.Event(nil), events...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := fold(shuffled); !maps.Equal(got, want) {
			t.Fatalf("seed %d run %d: order changed the state\n got %v\nwant %v", seed, run, got, want)
		}

		// Split into profiles, fold each, merge them in a random order.
		parts := make([][]*event.Event, 1+rng.IntN(4))
		for _, e := range shuffled {
			k := rng.IntN(len(parts))
			parts[k] = append(parts[k], e)
		}
		merged := State{}
		for _, k := range rng.Perm(len(parts)) {
			merged.Merge(fold(parts[k]))
		}
		if !maps.Equal(merged, want) {
			t.Fatalf("seed %d run %d: merging changed the state\n got %v\nwant %v", seed, run, merged, want)
		}

		// Merging a state into itself changes nothing but the sums.
		again := maps.Clone(want)
		again.Merge(want)
		for f, v := range want {
			if f[0] != prefixAdd && again[f] != v {
				t.Fatalf("seed %d: merge is not idempotent for %s: %s vs %s", seed, f, again[f], v)
			}
		}
	}
}

func TestLaterEventWinsWhateverTheArrival(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	newer := &event.Event{EventID: "b", Channel: "store", Type: event.TypeIdentify, EventTime: t0.Add(time.Minute),
		Traits: map[string]json.RawMessage{"city": json.RawMessage(`"Paris"`)}}
	older := &event.Event{EventID: "a", Channel: "web", Type: event.TypeIdentify, EventTime: t0,
		Traits: map[string]json.RawMessage{"city": json.RawMessage(`"Lyon"`)}}
	p := FromState("t", "p", fold([]*event.Event{newer, older})) // the older arrives late
	if string(p.Traits["city"]) != `"Paris"` || p.LastChannel != "store" {
		t.Errorf("late event overwrote newer data: city=%s last_channel=%s", p.Traits["city"], p.LastChannel)
	}
}

func TestProfileGolden(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	s := fold([]*event.Event{
		{EventID: "e1", Channel: "web", Type: event.TypePage, Name: "Home", EventTime: t0},
		{EventID: "e2", Channel: "mobile", Type: event.TypeIdentify, EventTime: t0.Add(time.Hour),
			Traits: map[string]json.RawMessage{"name": json.RawMessage(`"Jane Doe"`), "email": json.RawMessage(`"jane@example.com"`), "fax": json.RawMessage(`null`)}},
		{EventID: "e3", Channel: "store", Type: event.TypeTrack, Name: "Order Completed", EventTime: t0.Add(2 * time.Hour)},
	})
	s.Apply(Update{IDField("email:jane@example.com"), strconv.FormatInt(t0.Add(time.Hour).UnixMilli(), 10)})
	s.Apply(Update{IDField("anonymous_id:a-1"), strconv.FormatInt(t0.UnixMilli(), 10)})
	s.Apply(Update{MergedField("0b9a3c2e-0000-5000-8000-000000000002"), strconv.FormatInt(t0.Add(time.Hour).UnixMilli(), 10)})
	got, err := json.MarshalIndent(FromState("acme", "0b9a3c2e-0000-5000-8000-000000000001", s), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "profile.golden.json")
	if *update {
		os.WriteFile(path, append(got, '\n'), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(got)+"\n" {
		t.Errorf("profile JSON differs from %s (run with -update to accept):\n%s", path, got)
	}
}
