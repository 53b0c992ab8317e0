package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/chstore/chstoretest"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/kafkaio/kafkaiotest"
)

// flakyStore fails the first failEvents InsertEvents calls, as a ClickHouse
// outage would.
type flakyStore struct {
	*chstore.Store
	failEvents atomic.Int32
}

func (f *flakyStore) InsertEvents(ctx context.Context, rs []event.Resolved) error {
	if f.failEvents.Add(-1) >= 0 {
		return errors.New("clickhouse unavailable (injected)")
	}
	return f.Store.InsertEvents(ctx, rs)
}

func TestIntegrationSinkStoresAndDeadLetters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kcfg := kafkaiotest.Config(t, 2)
	store := chstoretest.New(t)
	flaky := &flakyStore{Store: store}
	flaky.failEvents.Store(2)

	const (
		tenant = "sinktest"
		events = 300
	)
	w := kafkaio.NewWriter(kcfg)
	defer w.Close()

	var msgs []kafka.Message
	for i := range events {
		profile := "profile-a"
		if i%3 == 0 {
			profile = "profile-b"
		}
		msgs = append(msgs, jsonMessage(t, kcfg.Topics.Timeline, profile, event.Resolved{ProfileID: profile, Event: &event.Event{
			EventID: fmt.Sprintf("ev-%04d", i), Tenant: tenant, Channel: "web", Type: event.TypeTrack, Name: "Viewed",
			EventTime:   time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
			ReceivedAt:  time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
			Identifiers: []event.Identifier{{Type: "anonymous_id", Value: fmt.Sprintf("anon-%d", i%7)}},
		}}))
	}
	// Redelivered duplicates: stored once.
	msgs = append(msgs, msgs[:20]...)
	msgs = append(msgs, jsonMessage(t, kcfg.Topics.Identity, "profile-a", identity.Record{
		Kind: identity.KindMerged, Tenant: tenant, ProfileID: "profile-a", FromProfileID: "profile-b",
		Aliases: []string{"profile-b"}, EventID: "ev-0299", At: time.Date(2026, 2, 1, 11, 0, 0, 0, time.UTC),
	}))
	// cx.profiles: states, a merge, a tombstone, an older state after a
	// newer one, and a redelivery.
	msgs = append(msgs,
		profileMessage(t, kcfg.Topics.Profiles, tenant, "profile-a", 5, "active", 120.5),
		profileMessage(t, kcfg.Topics.Profiles, tenant, "profile-a", 3, "new", 20), // late: v5 stays
		profileMessage(t, kcfg.Topics.Profiles, tenant, "profile-b", 2, "active", 10),
		tagged(kafka.Message{Topic: kcfg.Topics.Profiles, Key: []byte("profile-b"),
			Value: []byte(`{"merged_into":"profile-a","version":4}`)}, tenant, 4),
		profileMessage(t, kcfg.Topics.Profiles, tenant, "profile-c", 6, "churned", 0),
		tagged(kafka.Message{Topic: kcfg.Topics.Profiles, Key: []byte("profile-c")}, tenant, 7), // tombstone
		profileMessage(t, kcfg.Topics.Profiles, tenant, "profile-d", 1, "new", 7.25),
		profileMessage(t, kcfg.Topics.Profiles, tenant, "profile-d", 1, "new", 7.25), // redelivered
	)
	const profileRows = 8
	badTimeline := []byte(`{"profile_id": "p", not json`)
	badIdentity := []byte(`{"kind":"profile_created","tenant":"sinktest"}`) // no profile_id, no at
	badProfile := kafka.Message{Topic: kcfg.Topics.Profiles, Key: []byte("profile-e"), Value: []byte(`{"merged_into":"profile-a"}`),
		Headers: []kafka.Header{{Key: kafkaio.HeaderTenant, Value: []byte(tenant)}, {Key: kafkaio.HeaderVersion, Value: []byte("v9")}}}
	msgs = append(msgs,
		kafka.Message{Topic: kcfg.Topics.Timeline, Key: []byte("bad"), Value: badTimeline},
		kafka.Message{Topic: kcfg.Topics.Identity, Key: []byte("bad"), Value: badIdentity},
		badProfile,
	)
	produced := time.Now().Truncate(time.Second)
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}

	reg := prometheus.NewRegistry()
	sink, stop := runSink(t, ctx, kcfg, flaky, reg)

	waitFor(t, ctx, "all events in ClickHouse", func() (bool, string) {
		n, err := store.CountEvents(ctx, tenant)
		return err == nil && n == events, fmt.Sprintf("count = %d, err = %v", n, err)
	})
	waitFor(t, ctx, "merge re-attributes profile-b's events", func() (bool, string) {
		page, err := store.Timeline(ctx, tenant, "profile-a", chstore.TimelineQuery{Limit: chstore.MaxLimit})
		return err == nil && len(page.Events) == events, fmt.Sprintf("timeline has %d events, err = %v", len(page.Events), err)
	})

	waitFor(t, ctx, "current profiles in ClickHouse", func() (bool, string) {
		snaps, err := store.CurrentProfiles(ctx, tenant)
		var got []string
		for _, sn := range snaps {
			got = append(got, fmt.Sprintf("%s@%d", sn.ProfileID, sn.Version))
		}
		return err == nil && slices.Equal(got, []string{"profile-a@5", "profile-d@1"}),
			fmt.Sprintf("current = %v, err = %v; want profile-a@5 profile-d@1", got, err)
	})
	a, _, err := store.LatestSnapshot(ctx, tenant, "profile-a")
	if err != nil || a.LifetimeValue != 120.5 || a.Lifecycle != "active" || a.Email != "profile-a@example.com" ||
		a.Events != 50 || !a.AsOf.Equal(time.Date(2026, 2, 1, 12, 0, 5, 0, time.UTC)) || a.Profile == "" ||
		!slices.Equal(a.Segments, []string{"vip"}) {
		t.Errorf("latest snapshot of profile-a = %+v, %v", a, err)
	}
	if d, _, err := store.LatestSnapshot(ctx, tenant, "profile-d"); err != nil || d.Segments == nil || len(d.Segments) != 0 {
		t.Errorf("latest snapshot of profile-d = %+v, %v; want one in no segment", d, err)
	}
	waitFor(t, ctx, "merge and tombstone in ClickHouse", func() (bool, string) {
		b, _, berr := store.LatestSnapshot(ctx, tenant, "profile-b")
		c, _, cerr := store.LatestSnapshot(ctx, tenant, "profile-c")
		return berr == nil && cerr == nil && b.MergedInto == "profile-a" && b.Version == 4 && c.Deleted && c.Version == 7,
			fmt.Sprintf("profile-b = %+v, %v; profile-c = %+v, %v", b, berr, c, cerr)
	})
	if b, _, _ := store.LatestSnapshot(ctx, tenant, "profile-b"); b.AsOf.Before(produced.Add(-time.Minute)) {
		t.Errorf("merge as_of = %v, want the Kafka timestamp (about %v)", b.AsOf, produced)
	}

	dl := readMessages(t, ctx, kcfg.Brokers, kcfg.Topics.DeadLetter, 3)
	byOrigin := map[string]kafka.Message{}
	for _, m := range dl {
		byOrigin[header(m, kafkaio.HeaderOriginTopic)] = m
	}
	if m := byOrigin[kcfg.Topics.Profiles]; header(m, kafkaio.HeaderTenant) != tenant || !strings.Contains(header(m, kafkaio.HeaderError), "cx-version") {
		t.Errorf("dead letter from %s: tenant %q, error %q; want tenant %q and an error naming cx-version",
			kcfg.Topics.Profiles, header(m, kafkaio.HeaderTenant), header(m, kafkaio.HeaderError), tenant)
	}
	for topic, want := range map[string][]byte{kcfg.Topics.Timeline: badTimeline, kcfg.Topics.Identity: badIdentity, kcfg.Topics.Profiles: badProfile.Value} {
		m, ok := byOrigin[topic]
		if !ok {
			t.Errorf("no dead letter from %s", topic)
			continue
		}
		if string(m.Value) != string(want) {
			t.Errorf("dead letter from %s = %q, want the original bytes %q", topic, m.Value, want)
		}
		if header(m, kafkaio.HeaderError) == "" || header(m, kafkaio.HeaderStage) != "sink" || header(m, kafkaio.HeaderOriginOffset) == "" {
			t.Errorf("dead letter from %s lacks headers: %v", topic, m.Headers)
		}
	}

	if err := stop(); err != nil {
		t.Fatalf("sink run: %v", err)
	}
	if got := testutil.ToFloat64(sink.metrics.insertErrors.WithLabelValues("cx_events")); got < 2 {
		t.Errorf("insert errors of cx_events = %v, want >= 2 (injected failures)", got)
	}
	// One delay series per table; nothing is left unread at the end.
	if n, err := testutil.GatherAndCount(reg, "cxstream_sink_delay_seconds"); err != nil || n != 3 {
		t.Errorf("delay series: %d, %v; want one per table", n, err)
	}
	if got := testutil.ToFloat64(sink.metrics.lagMessages.WithLabelValues("cx_events")); got != 0 {
		t.Errorf("lag of cx_events after everything was consumed = %v, want 0", got)
	}
	if got := testutil.ToFloat64(sink.metrics.deadLetters); got != 3 {
		t.Errorf("dead letters = %v, want 3", got)
	}
	if got := testutil.ToFloat64(sink.metrics.rowsInserted.WithLabelValues("cx_identity")); got != 1 {
		t.Errorf("identity rows inserted = %v, want 1", got)
	}
	if got := testutil.ToFloat64(sink.metrics.rowsInserted.WithLabelValues("cx_profile_snapshots")); got != profileRows {
		t.Errorf("profile snapshot rows inserted = %v, want %d", got, profileRows)
	}
	for _, name := range []string{"cxstream_sink_rows_inserted_total", "cxstream_sink_insert_duration_seconds",
		"cxstream_sink_rows_per_insert", "cxstream_sink_insert_errors_total", "cxstream_sink_deadletters_total",
		"cxstream_sink_lag_messages", "cxstream_sink_delay_seconds"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n == 0 {
			t.Errorf("metric %s not registered: %d series, %v", name, n, err)
		}
	}

	// Offsets were committed: after a restart only new messages are
	// consumed, so the next dead letter read in the same group is the new
	// one, not a redelivery of the first three.
	newBad := []byte(`still not json`)
	if err := w.WriteMessages(ctx, kafka.Message{Topic: kcfg.Topics.Timeline, Key: []byte("bad"), Value: newBad}); err != nil {
		t.Fatal(err)
	}
	_, stop = runSink(t, ctx, kcfg, store, nil)
	next := readMessages(t, ctx, kcfg.Brokers, kcfg.Topics.DeadLetter, 1)
	if string(next[0].Value) != string(newBad) {
		t.Errorf("after restart the next dead letter is %q, want the new message %q (offsets not committed?)", next[0].Value, newBad)
	}
	if err := stop(); err != nil {
		t.Fatalf("second sink run: %v", err)
	}
}

// runSink starts a sink and returns it and a function that stops it and
// returns Run's error.
func runSink(t *testing.T, ctx context.Context, kcfg kafkaio.Config, store Store, reg prometheus.Registerer) (*Sink, func() error) {
	t.Helper()
	cfg := Default()
	cfg.Group = "sink-test-" + kcfg.Topics.Timeline
	cfg.BatchRows = 50
	cfg.FlushInterval = 100 * time.Millisecond
	cfg.RetryMin, cfg.RetryMax = 10*time.Millisecond, 100*time.Millisecond
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewJSONHandler(testWriter{t}, nil))
	}
	s, err := New(cfg, kcfg, store, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	return s, func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(time.Minute):
			return errors.New("sink did not stop within a minute")
		}
	}
}

// readMessages reads n messages of topic in a consumer group of its own.
func readMessages(t *testing.T, ctx context.Context, brokers []string, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: "reader-" + topic, Topic: topic,
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx) // commits: a later call continues after it
		if err != nil {
			t.Fatalf("read %s: got %d of %d messages: %v", topic, len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

// waitFor polls cond until it holds or a minute passes.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s: %s", what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func jsonMessage(t *testing.T, topic, key string, v any) kafka.Message {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Message{Topic: topic, Key: []byte(key), Value: b}
}

// profileMessage is a cx.profiles message holding a profile document (the
// fields the sink reads, and some it does not) at version.
func profileMessage(t *testing.T, topic, tenant, profile string, version int64, lifecycle string, ltv float64) kafka.Message {
	t.Helper()
	at := time.Date(2026, 2, 1, 12, 0, int(version), 0, time.UTC)
	segments := []string{}
	if ltv > 100 {
		segments = append(segments, "vip")
	}
	doc := map[string]any{
		"profile_id": profile, "tenant": tenant, "version": version, "as_of": at,
		"identifiers": map[string][]string{"email": {profile + "@example.com"}},
		"traits":      map[string]any{"plan": "pro"},
		"demographic": map[string]any{"email": profile + "@example.com", "country": "DE"},
		"behavioral": map[string]any{"first_seen": at.Add(-time.Hour), "last_seen": at, "events": 10 * version,
			"channels": map[string]int64{"web": version}},
		"transactional": map[string]any{"orders": version, "currency": "EUR", "lifetime_value_reporting": ltv,
			"lifetime_value": map[string]float64{"EUR": ltv}},
		"derived":     map[string]any{"lifecycle": lifecycle},
		"merged_from": []string{},
		"segments":    segments,
	}
	return tagged(jsonMessage(t, topic, profile, doc), tenant, version)
}

// tagged adds the cx-tenant and cx-version headers of cx.profiles.
func tagged(m kafka.Message, tenant string, version int64) kafka.Message {
	m.Headers = append(m.Headers,
		kafka.Header{Key: kafkaio.HeaderTenant, Value: []byte(tenant)},
		kafka.Header{Key: kafkaio.HeaderVersion, Value: []byte(strconv.FormatInt(version, 10))})
	return m
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
