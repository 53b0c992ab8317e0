package redisstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/redisstore"
)

// BenchmarkIntegrationApplyBatch measures one resolve-script call over a
// batch of 1,000 events on the real Redis: each event has an anonymous id
// and every third an email shared with the previous event, so batches
// create, attach and merge. ns/op is per batch (one round trip); divide by
// 1,000 for the cost per event.
func BenchmarkIntegrationApplyBatch(b *testing.B) {
	s, tenant := newStore(b)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	offset := int64(0)
	b.ReportAllocs()
	for n := 0; b.Loop(); n++ {
		items := make([]redisstore.Item, 1000)
		for i := range items {
			id := n*1000 + i
			ids := []string{fmt.Sprintf("anonymous_id:a%d", id)}
			if i%3 == 0 {
				ids = append(ids, fmt.Sprintf("email:p%d@example.com", id/6))
			}
			e := ev(b, tenant, fmt.Sprintf("e%d", id), "web", t0.Add(time.Duration(id)*time.Second), ids...)
			items[i] = item("in/0", offset, e)
			offset++
		}
		if _, err := s.Apply(context.Background(), tenant, items); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIntegrationProfileUpdates measures what a profile update costs
// with events that feed every kind of profile data: batches of 1,000 events
// of 2,000 customers (each identified by a user id and an email), so most
// events update a profile that already exists. Every event sets two traits
// and carries a locale; every fifth is an order, every tenth a survey
// answer with feedback text, every seventh a loyalty-points increment.
// Besides ns/op (per batch) it reports Redis's own time in the script per
// event (INFO commandstats, evalsha) and, at the end, the mean memory of a
// profile hash and of an anchor-state hash (MEMORY USAGE over up to 200 of
// each).
func BenchmarkIntegrationProfileUpdates(b *testing.B) {
	s, tenant := newStore(b)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const people = 2000
	offset := int64(0)
	usec0 := scriptMicros(b, s)
	events := 0
	b.ReportAllocs()
	for n := 0; b.Loop(); n++ {
		items := make([]redisstore.Item, 1000)
		for i := range items {
			k := n*1000 + i
			p := (k * 7919) % people
			e := ev(b, tenant, fmt.Sprintf("e%d", k), []string{"web", "mobile", "store", "email"}[k%4],
				t0.Add(time.Duration(k)*time.Second), fmt.Sprintf("user_id:u%d", p), fmt.Sprintf("email:p%d@example.com", p))
			e.Traits = map[string]json.RawMessage{"plan": json.RawMessage(`"gold"`), "name": json.RawMessage(`"Pat Doe"`)}
			e.Context = json.RawMessage(`{"locale":"de-DE","session_id":"s` + fmt.Sprint(k/3) + `"}`)
			switch {
			case k%5 == 0:
				e.Name = "Order Completed"
				e.Properties = json.RawMessage(`{"revenue": 49.9, "currency": "EUR", "products": [{"quantity": 2}]}`)
			case k%10 == 1:
				e.Name = "Survey Responded"
				e.Properties = json.RawMessage(`{"nps": 9, "feedback": "Great service, quick delivery"}`)
			case k%7 == 2:
				e.TraitsIncrement = map[string]json.Number{"loyalty_points": "50"}
			}
			items[i] = item("in/0", offset, e)
			offset++
		}
		if _, err := s.Apply(ctx, tenant, items); err != nil {
			b.Fatal(err)
		}
		events += len(items)
	}
	b.ReportMetric(float64(scriptMicros(b, s)-usec0)/float64(events), "redis-µs/event")
	b.ReportMetric(meanMemory(b, s, "cx:{"+tenant+"}:p:*"), "B/profile")
	b.ReportMetric(meanMemory(b, s, "cx:{"+tenant+"}:s:*"), "B/anchor")
}

// scriptMicros is Redis's total time spent in EVALSHA so far.
func scriptMicros(b *testing.B, s *redisstore.Store) int64 {
	info, err := s.Client().Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_evalsha:"); ok {
			for kv := range strings.SplitSeq(rest, ",") {
				if v, ok := strings.CutPrefix(kv, "usec="); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					return n
				}
			}
		}
	}
	return 0
}

// meanMemory is the mean MEMORY USAGE of up to 200 keys matching pattern.
func meanMemory(b *testing.B, s *redisstore.Store, pattern string) float64 {
	ctx := context.Background()
	keys, _, err := s.Client().Scan(ctx, 0, pattern, 1000).Result()
	if err != nil {
		b.Fatal(err)
	}
	if len(keys) > 200 {
		keys = keys[:200]
	}
	var total int64
	for _, k := range keys {
		n, err := s.Client().MemoryUsage(ctx, k).Result()
		if err != nil {
			b.Fatal(err)
		}
		total += n
	}
	if len(keys) == 0 {
		return 0
	}
	return float64(total) / float64(len(keys))
}
