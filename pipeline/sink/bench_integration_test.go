package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/chstore/chstoretest"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/kafkaio/kafkaiotest"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/testenv"
)

// The backlog of one BenchmarkSinkDrain iteration.
const (
	benchEvents     = 200_000 // cx.timeline messages
	benchProfiles   = 20_000  // profile ids the events are spread over
	benchMergeEvery = 50      // every 50th profile is merged into its neighbour (2%)
	benchTenant     = "bench"
	benchChunk      = 5_000 // events produced per WriteMessages call
)

// BenchmarkSinkDrain measures the sink catching up on a backlog on the real
// Kafka and ClickHouse servers: sustained throughput and rows per insert.
//
// Each iteration (one op) gets topics and a database of its own and, before
// the timer starts, a fixed backlog written the way the resolver writes it
// (JSON values keyed by profile id, cx-tenant/cx-version headers on
// cx.profiles): 200,000 resolved events on cx.timeline over 20,000 profiles,
// five channels and four types, with identifiers, traits on identify calls
// and small JSON properties and context; per new profile a profile_created
// and an identifier_linked record on cx.identity; per event the rendered
// state of its profile on cx.profiles (a resolver call per event); and for
// 2% of the profiles a versioned profiles_merged record plus a merged_into
// message: about 200,000 cx.profiles and 40,000 cx.identity messages. A
// fixed backlog rather than one scaled by b.N: large enough for 40 full
// batches of events (start-up and the last, partial batches of the other
// flows weigh little), and the figures do not depend on b.N. Run it with
// -benchtime=1x: one drain, about 30 s with the setup on 2 cores.
//
// The timer covers Sink.Run with the production defaults of Default()
// (batch_rows 10,000, flush_interval 5 s, flush_idle 1 s; only the group
// is unique), from
// the start (joining the consumer group included) until every row of all
// three flows was inserted; ns/op is that drain time. A wrapper of the
// store counts inserts, rows and distinct rows (a batch redelivered after a
// consumer-group rebalance is inserted twice: that counts in the inserts
// and rows per insert, not in the throughput); the rows are checked in
// ClickHouse after the timer stops. Reported:
//
//   - events/s: events / time until the last of them was in cx_events;
//   - rows/s: the distinct rows of all three tables / ns/op (the last,
//     partial batches wait out flush_idle);
//   - events-rows/insert, identity-rows/insert, snapshot-rows/insert: the
//     mean rows of the sink's inserts per table (an identity insert also
//     writes its cx_aliases rows, a second INSERT statement);
//   - inserts/op: the sink's insert calls of all three tables;
//   - s-to-first-insert: start-up (group join, first fetch) inside ns/op.
//
// Figures depend on the machine: Kafka, ClickHouse and the benchmark share
// its cores.
func BenchmarkSinkDrain(b *testing.B) {
	if os.Getenv(testenv.EnvKafka) == "" || os.Getenv(testenv.EnvClickHouse) == "" {
		b.Skipf("skipping: %s and %s are not set; run ./scripts/services.sh up and eval \"$(scripts/services.sh env)\"",
			testenv.EnvKafka, testenv.EnvClickHouse)
	}
	var sum drainResult
	for range b.N {
		b.StopTimer()
		r := drainOnce(b)
		sum.events += r.events
		sum.rows += r.rows
		sum.eventsTime += r.eventsTime
		sum.allTime += r.allTime
		sum.firstInsert += r.firstInsert
		for i := range sum.tables {
			sum.tables[i].rows += r.tables[i].rows
			sum.tables[i].inserts += r.tables[i].inserts
		}
	}
	perInsert := func(t tableTotals) float64 {
		if t.inserts == 0 {
			return 0
		}
		return float64(t.rows) / float64(t.inserts)
	}
	var inserts int64
	for _, t := range sum.tables {
		inserts += t.inserts
	}
	b.ReportMetric(float64(sum.events)/sum.eventsTime.Seconds(), "events/s")
	b.ReportMetric(float64(sum.rows)/sum.allTime.Seconds(), "rows/s")
	b.ReportMetric(perInsert(sum.tables[tblEvents]), "events-rows/insert")
	b.ReportMetric(perInsert(sum.tables[tblIdentity]), "identity-rows/insert")
	b.ReportMetric(perInsert(sum.tables[tblSnapshots]), "snapshot-rows/insert")
	b.ReportMetric(float64(inserts)/float64(b.N), "inserts/op")
	b.ReportMetric(sum.firstInsert.Seconds()/float64(b.N), "s-to-first-insert")
}

// The tables of countingStore, in the order of Sink.Run.
const (
	tblEvents = iota
	tblIdentity
	tblSnapshots
	tblCount
)

type tableTotals struct{ rows, inserts int64 }

type drainResult struct {
	events, rows                     int64
	eventsTime, allTime, firstInsert time.Duration
	tables                           [tblCount]tableTotals
}

// countingStore counts, per table, the rows and calls of the successful
// inserts, and the distinct rows among them (a batch redelivered after a
// rebalance is inserted again), and notes when the first insert began.
type countingStore struct {
	Store
	rows, inserts, distinct [tblCount]atomic.Int64
	firstInsert             atomic.Int64 // UnixNano

	mu   sync.Mutex
	seen [tblCount]map[string]struct{}
}

func newCountingStore(s Store) *countingStore {
	c := &countingStore{Store: s}
	for t := range c.seen {
		c.seen[t] = map[string]struct{}{}
	}
	return c
}

func (c *countingStore) begin() { c.firstInsert.CompareAndSwap(0, time.Now().UnixNano()) }

// inserted records a successful insert of n rows into table t; keys
// yields each row's identity.
func (c *countingStore) inserted(t, n int, keys func(add func(string))) {
	c.rows[t].Add(int64(n))
	c.inserts[t].Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	keys(func(k string) { c.seen[t][k] = struct{}{} })
	c.distinct[t].Store(int64(len(c.seen[t])))
}

func (c *countingStore) InsertEvents(ctx context.Context, rs []event.Resolved) error {
	c.begin()
	if err := c.Store.InsertEvents(ctx, rs); err != nil {
		return err
	}
	c.inserted(tblEvents, len(rs), func(add func(string)) {
		for _, r := range rs {
			add(r.EventID)
		}
	})
	return nil
}

func (c *countingStore) InsertIdentity(ctx context.Context, recs []identity.Record) error {
	c.begin()
	if err := c.Store.InsertIdentity(ctx, recs); err != nil {
		return err
	}
	c.inserted(tblIdentity, len(recs), func(add func(string)) {
		for _, r := range recs {
			add(string(r.Kind) + "/" + r.ProfileID + "/" + r.EventID)
		}
	})
	return nil
}

func (c *countingStore) InsertSnapshots(ctx context.Context, rows []chstore.Snapshot) error {
	c.begin()
	if err := c.Store.InsertSnapshots(ctx, rows); err != nil {
		return err
	}
	c.inserted(tblSnapshots, len(rows), func(add func(string)) {
		for _, r := range rows {
			add(r.ProfileID + "/" + strconv.FormatUint(r.Version, 10))
		}
	})
	return nil
}

// drainOnce preloads a backlog with the timer stopped, times the sink
// draining it and checks the rows in ClickHouse.
func drainOnce(b *testing.B) drainResult {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	kcfg := kafkaiotest.Config(b, kafkaio.Default().Partitions)
	store := chstoretest.New(b)
	produced := time.Now()
	want := preload(b, ctx, kcfg)
	b.Logf("backlog: %d timeline, %d identity, %d profiles messages (%d profile ids), produced in %s",
		want[tblEvents], want[tblIdentity], want[tblSnapshots], want[tblCount], time.Since(produced).Round(time.Millisecond))

	cfg := Default()
	cfg.Group = "sink-bench-" + kcfg.Topics.Timeline
	counting := newCountingStore(store)
	s, err := New(cfg, kcfg, counting, slog.New(slog.NewJSONHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)

	b.StartTimer()
	start := time.Now()
	go func() { done <- s.Run(runCtx) }()
	var doneAt [tblCount]time.Time
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for remaining := tblCount; remaining > 0; {
		select {
		case <-tick.C:
		case err := <-done:
			b.Fatalf("sink stopped before draining the backlog: %v", err)
		case <-ctx.Done():
			b.Fatalf("backlog not drained: inserted %d/%d events, %d/%d identity records, %d/%d snapshots",
				counting.distinct[tblEvents].Load(), want[tblEvents], counting.distinct[tblIdentity].Load(), want[tblIdentity],
				counting.distinct[tblSnapshots].Load(), want[tblSnapshots])
		}
		now := time.Now()
		for t := range tblCount {
			if doneAt[t].IsZero() && counting.distinct[t].Load() == want[t] {
				doneAt[t] = now
				remaining--
			}
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.Logf("drained: cx_events after %s, cx_identity after %s, cx_profile_snapshots after %s",
		doneAt[tblEvents].Sub(start).Round(time.Millisecond), doneAt[tblIdentity].Sub(start).Round(time.Millisecond),
		doneAt[tblSnapshots].Sub(start).Round(time.Millisecond))

	stop()
	if err := <-done; err != nil {
		b.Fatalf("sink run: %v", err)
	}
	if n := testutil.ToFloat64(s.metrics.deadLetters); n != 0 {
		b.Fatalf("%v messages were dead-lettered, want none", n)
	}
	for t, name := range []string{"cx_events", "cx_identity", "cx_profile_snapshots"} {
		if n := testutil.ToFloat64(s.metrics.insertErrors.WithLabelValues(name)); n != 0 {
			b.Logf("%s: %v failed insert attempts (retried)", name, n)
		}
		if got := counting.rows[t].Load(); got != want[t] {
			b.Logf("%s: %d rows inserted for %d messages (batches redelivered)", name, got, want[t])
		}
	}
	checkClickHouse(b, ctx, store.Database(), want)

	r := drainResult{events: want[tblEvents], eventsTime: doneAt[tblEvents].Sub(start), allTime: elapsed,
		firstInsert: time.Unix(0, counting.firstInsert.Load()).Sub(start)}
	for t := range tblCount {
		r.rows += want[t]
		r.tables[t] = tableTotals{rows: counting.rows[t].Load(), inserts: counting.inserts[t].Load()}
	}
	return r
}

// checkClickHouse checks that every distinct row of the backlog is stored.
func checkClickHouse(b *testing.B, ctx context.Context, database string, want [tblCount + 1]int64) {
	b.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{testenv.ClickHouse(b)}, Auth: clickhouse.Auth{Database: database}})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []struct {
		query string
		want  int64
	}{
		{"SELECT uniqExact(event_id) FROM cx_events WHERE tenant = ?", want[tblEvents]},
		{"SELECT count() FROM cx_identity FINAL WHERE tenant = ?", want[tblIdentity]},
		// One row per profile id survives (ReplacingMergeTree by
		// version): every profile seen, merged-away ones included.
		{"SELECT uniqExact(profile_id) FROM cx_profile_snapshots WHERE tenant = ?", want[tblCount]},
	} {
		var n uint64
		if err := conn.QueryRow(ctx, q.query, benchTenant).Scan(&n); err != nil {
			b.Fatalf("%s: %v", q.query, err)
		}
		if int64(n) != q.want {
			b.Fatalf("%s = %d, want %d", q.query, n, q.want)
		}
	}
}

// benchKinds is the mix of channels, types and names of the backlog.
var benchKinds = []struct {
	weight  int
	channel string
	typ     event.Type
	name    string
}{
	{20, "web", event.TypePage, "Product"},
	{12, "web", event.TypeTrack, "Product Viewed"},
	{6, "web", event.TypeTrack, "Added to Cart"},
	{3, "web", event.TypeTrack, "Order Completed"},
	{4, "web", event.TypeIdentify, ""},
	{14, "mobile", event.TypeScreen, "Product"},
	{8, "mobile", event.TypeTrack, "Product Viewed"},
	{2, "mobile", event.TypeTrack, "Order Completed"},
	{2, "mobile", event.TypeIdentify, ""},
	{10, "email", event.TypeTrack, "Email Opened"},
	{4, "email", event.TypeTrack, "Email Clicked"},
	{10, "store", event.TypeTrack, "Order Completed"},
	{5, "call_center", event.TypeTrack, "Call Completed"},
}

// benchProfile is what the generator knows of a profile, to render its
// state.
type benchProfile struct {
	created     bool
	mergedInto  int // index of the survivor, -1 if live
	events      int64
	orders      int64
	ltv         float64
	first, last time.Time
	channels    map[string]int64
	types       map[string]int64
	lastChannel string
	lastEvent   string
	mergedFrom  []string
}

func benchProfileID(p int) string { return fmt.Sprintf("0193a5b0-0000-7000-8000-%012d", p) }

// preload writes the backlog and returns the rows each table must get,
// and at [tblCount] the number of profile ids on cx.profiles.
func preload(b *testing.B, ctx context.Context, kcfg kafkaio.Config) (want [tblCount + 1]int64) {
	b.Helper()
	w := kafkaio.NewWriter(kcfg)
	defer w.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	totalWeight := 0
	for _, k := range benchKinds {
		totalWeight += k.weight
	}
	profiles := make([]benchProfile, benchProfiles)
	for i := range profiles {
		profiles[i].mergedInto = -1
	}
	base := time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
	step := 48 * time.Hour / benchEvents // two days of traffic
	marshal := func(v any) []byte {
		buf, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		return buf
	}
	var msgs []kafka.Message
	flush := func() {
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			b.Fatalf("produce backlog: %v", err)
		}
		msgs = msgs[:0]
	}
	for i := range benchEvents {
		version := int64(i + 1) // one resolver call per event
		at := base.Add(time.Duration(i)*step + time.Duration(rng.IntN(1000))*time.Millisecond)
		p := rng.IntN(benchProfiles)
		n := rng.IntN(totalWeight)
		k := benchKinds[len(benchKinds)-1]
		for _, kind := range benchKinds {
			if n < kind.weight {
				k = kind
				break
			}
			n -= kind.weight
		}
		email := fmt.Sprintf("user%d@example.com", p)
		var ids []event.Identifier
		switch k.channel {
		case "web", "mobile":
			ids = append(ids, event.Identifier{Type: "anonymous_id", Value: fmt.Sprintf("anon-%d-%d", p, rng.IntN(3))})
			if k.typ == event.TypeIdentify || k.name == "Order Completed" {
				ids = append(ids, event.Identifier{Type: "email", Value: email})
			}
		case "call_center":
			ids = append(ids, event.Identifier{Type: "phone", Value: fmt.Sprintf("+4930%07d", p)})
		default:
			ids = append(ids, event.Identifier{Type: "email", Value: email})
		}
		ev := &event.Event{
			EventID: fmt.Sprintf("0193a5b1-%04x-7000-8000-%012d", i%0x10000, i), Tenant: benchTenant,
			Channel: k.channel, Type: k.typ, Name: k.name,
			EventTime: at, ReceivedAt: at.Add(time.Duration(200+rng.IntN(3000)) * time.Millisecond),
			Identifiers: ids,
		}
		sku := rng.IntN(2000)
		switch {
		case k.typ == event.TypeIdentify:
			ev.Traits = map[string]json.RawMessage{"email": marshal(email), "first_name": json.RawMessage(`"Jane"`),
				"plan": json.RawMessage(`"gold"`)}
		case k.typ == event.TypePage || k.typ == event.TypeScreen:
			ev.Properties = json.RawMessage(fmt.Sprintf(`{"path":"/p/sku-%d","title":"Product %d"}`, sku, sku))
		case k.name == "Order Completed":
			ev.Properties = json.RawMessage(fmt.Sprintf(`{"order_id":"o-%d","revenue":%d.97,"currency":"EUR","products":[{"sku":"sku-%d","qty":%d}]}`,
				i, 10+rng.IntN(200), sku, 1+rng.IntN(3)))
		case k.channel == "email":
			ev.Properties = json.RawMessage(fmt.Sprintf(`{"campaign":"spring-%d","message_id":"m-%d"}`, rng.IntN(20), i))
		case k.channel == "call_center":
			ev.Properties = json.RawMessage(fmt.Sprintf(`{"duration_s":%d,"reason":"billing"}`, 30+rng.IntN(900)))
		default:
			ev.Properties = json.RawMessage(fmt.Sprintf(`{"product_id":"sku-%d","price":%d.99,"currency":"EUR"}`, sku, 5+rng.IntN(100)))
		}
		if k.channel == "web" || k.channel == "mobile" {
			ev.Context = json.RawMessage(fmt.Sprintf(`{"ip":"203.0.113.%d","user_agent":"Mozilla/5.0 (X11; Linux x86_64)","locale":"de-DE"}`, p%256))
		}

		var recs []identity.Record
		var profileMsgs []kafka.Message
		target := p
		if s := profiles[p].mergedInto; s >= 0 {
			target = s
		} else if p%benchMergeEvery == benchMergeEvery-1 && profiles[p].events >= 3 && profiles[p-1].created {
			// This event carries identifiers of p and of p-1: p, the
			// younger, is merged into p-1.
			target = p - 1
			from, into := &profiles[p], &profiles[p-1]
			from.mergedInto = target
			recs = append(recs, identity.Record{Kind: identity.KindMerged, Tenant: benchTenant,
				ProfileID: benchProfileID(target), FromProfileID: benchProfileID(p),
				Aliases:     append([]string{benchProfileID(p)}, from.mergedFrom...),
				Identifiers: []string{"email:" + email, ids[0].String()}, EventID: ev.EventID, At: at, Version: version})
			into.mergedFrom = append(into.mergedFrom, benchProfileID(p))
			into.events += from.events
			into.orders += from.orders
			into.ltv += from.ltv
			for c, n := range from.channels {
				into.channels[c] += n
			}
			for t, n := range from.types {
				into.types[t] += n
			}
			profileMsgs = append(profileMsgs, tagged(kafka.Message{Topic: kcfg.Topics.Profiles, Key: []byte(benchProfileID(p)),
				Value: marshal(profile.Merged{MergedInto: benchProfileID(target), Version: version})}, benchTenant, version))
		}
		st := &profiles[target]
		id := benchProfileID(target)
		if !st.created {
			st.created, st.first = true, at
			st.channels, st.types = map[string]int64{}, map[string]int64{}
			recs = append(recs,
				identity.Record{Kind: identity.KindCreated, Tenant: benchTenant, ProfileID: id, EventID: ev.EventID, At: at, Version: version},
				identity.Record{Kind: identity.KindLinked, Tenant: benchTenant, ProfileID: id, Identifier: ids[0].String(),
					EventID: ev.EventID, At: at, Version: version})
			want[tblCount]++
		}
		st.events++
		st.last, st.lastChannel, st.lastEvent = at, k.channel, k.name
		st.channels[k.channel]++
		st.types[string(k.typ)]++
		if k.name == "Order Completed" {
			st.orders++
			st.ltv += 59.97
		}
		msgs = append(msgs, kafka.Message{Topic: kcfg.Topics.Timeline, Key: []byte(id),
			Value: marshal(event.Resolved{ProfileID: id, Event: ev})})
		for _, rec := range recs {
			msgs = append(msgs, kafka.Message{Topic: kcfg.Topics.Identity, Key: []byte(rec.ProfileID), Value: marshal(rec)})
		}
		profileMsgs = append(profileMsgs, tagged(kafka.Message{Topic: kcfg.Topics.Profiles, Key: []byte(id),
			Value: marshal(renderBenchProfile(id, version, at, email, st))}, benchTenant, version))
		msgs = append(msgs, profileMsgs...)
		want[tblEvents]++
		want[tblIdentity] += int64(len(recs))
		want[tblSnapshots] += int64(len(profileMsgs))
		if (i+1)%benchChunk == 0 {
			flush()
		}
	}
	if len(msgs) > 0 {
		flush()
	}
	return want
}

// renderBenchProfile is the cx.profiles document of a profile state, with
// the fields the resolver's renderer fills.
func renderBenchProfile(id string, version int64, asOf time.Time, email string, st *benchProfile) profile.Profile {
	lifecycle := "new"
	if st.events > 5 {
		lifecycle = "active"
	}
	return profile.Profile{
		ProfileID: id, Tenant: benchTenant, Version: version, AsOf: asOf,
		Identifiers: map[string][]string{"email": {email}},
		Traits:      map[string]json.RawMessage{"first_name": json.RawMessage(`"Jane"`), "plan": json.RawMessage(`"gold"`)},
		Demographic: profile.Demographic{Name: "Jane", Email: email, Locale: "de-DE", Country: "DE"},
		Behavioral: profile.Behavioral{FirstSeen: st.first, LastSeen: st.last, Events: st.events, Sessions: 1 + st.events/4,
			Channels: st.channels, EventTypes: st.types, LastChannel: st.lastChannel, LastEvent: st.lastEvent},
		Transactional: profile.Transactional{Orders: st.orders, Items: st.orders, Revenue: map[string]float64{"EUR": st.ltv},
			Refunded: map[string]float64{}, LifetimeValue: map[string]float64{"EUR": st.ltv}, Currency: "EUR",
			LifetimeValueReporting: st.ltv},
		Psychographic: profile.Psychographic{Preferences: map[string]json.RawMessage{}, Consent: map[string]bool{"email": true}},
		Derived:       profile.Derived{Lifecycle: lifecycle},
		MergedFrom:    append([]string{}, st.mergedFrom...),
	}
}
