package privacy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
)

// steps records the order in which the fakes were called. The real stores
// are exercised against Redis, Kafka and ClickHouse in
// pipeline/privacy_e2e_test.go; these tests pin the orchestration.
type steps []string

type fakeStore struct {
	s       *steps
	already bool
}

func (f *fakeStore) Resolve(_ context.Context, tenant, ref string) (string, profile.State, error) {
	if ref != "email:ann@example.com" {
		return "", nil, redisstore.ErrNotFound
	}
	// Ann's state as the fold makes it from an event with her consent.
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	e := &event.Event{EventID: "e1", Tenant: tenant, Channel: "web", Type: event.TypeIdentify, EventTime: at, ReceivedAt: at,
		Identifiers: []event.Identifier{{Type: "email", Value: "ann@example.com"}},
		Context:     json.RawMessage(`{"consent": {"categoryPreferences": {"marketing": true, "ads": false}}}`)}
	st := profile.State{profile.IDField("email:ann@example.com"): "1"}
	for _, u := range profile.Default().Updates(e) {
		st.Apply(u)
	}
	return "p-ann", st, nil
}

func (f *fakeStore) Forget(_ context.Context, tenant, ref string, at time.Time) (*redisstore.Erasure, error) {
	*f.s = append(*f.s, "redis")
	if ref == "email:nobody@example.com" {
		return nil, redisstore.ErrNotFound
	}
	er := &redisstore.Erasure{ProfileID: "p-ann", MergedFrom: []string{"p-old"}, Version: 9, At: at, Already: f.already}
	if !f.already {
		er.Identifiers = []string{"anonymous_id:a-1", "email:ann@example.com"}
	}
	return er, nil
}

func (f *fakeStore) Suppressions(context.Context, string) ([]redisstore.Suppression, error) {
	return []redisstore.Suppression{
		{Hash: redisstore.SuppressionHash("email:ann@example.com"), ProfileID: "p-ann"},
		{Hash: redisstore.SuppressionHash("email:zed@example.com"), ProfileID: "p-zed"},
		{Hash: redisstore.SuppressionHash("anonymous_id:a-1"), ProfileID: "p-ann"},
	}, nil
}

type fakeLog struct {
	s      *steps
	erased [][]string
	sups   []chstore.Suppression
	events int
}

func (f *fakeLog) Erase(_ context.Context, tenant string, ids, hashes []string) (chstore.Erased, error) {
	*f.s = append(*f.s, "erase")
	f.erased = append(f.erased, ids, hashes)
	return chstore.Erased{ProfileIDs: ids, Rows: map[string]int{"cx_events": 3}}, nil
}

func (f *fakeLog) InsertSuppressions(_ context.Context, rows []chstore.Suppression) error {
	*f.s = append(*f.s, "suppressions")
	f.sups = rows
	return nil
}

func (f *fakeLog) Timeline(_ context.Context, tenant, id string, q chstore.TimelineQuery) (chstore.TimelinePage, error) {
	start := 0
	if q.Cursor != "" {
		fmt.Sscan(q.Cursor, &start)
	}
	var page chstore.TimelinePage
	for i := start; i < min(start+q.Limit, f.events); i++ {
		page.Events = append(page.Events, chstore.TimelineEvent{EventID: fmt.Sprint("e", i), ProfileID: id})
	}
	if start+q.Limit < f.events {
		page.Next = fmt.Sprint(start + q.Limit)
	}
	return page, nil
}

func (f *fakeLog) IdentityHistory(context.Context, string, string, int) (chstore.History, error) {
	return chstore.History{}, nil
}

type fakeWriter struct {
	s    *steps
	msgs []kafka.Message
	err  error
}

func (f *fakeWriter) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	*f.s = append(*f.s, "tombstones")
	f.msgs = append(f.msgs, msgs...)
	return f.err
}

// newService returns the service over fakes; behind answers the sink's
// progress per poll.
func newService(t *testing.T, already bool, behind ...int64) (*Service, *steps, *fakeLog, *fakeWriter) {
	t.Helper()
	s := &steps{}
	log := &fakeLog{s: s}
	w := &fakeWriter{s: s}
	kcfg := kafkaio.Default()
	svc, err := New(Config{SinkGroup: "sink", CatchUp: 300 * time.Millisecond}, kcfg, &fakeStore{s: s, already: already}, profile.Default(), log, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc.marks = func(context.Context) (kafkaio.Marks, error) {
		*s = append(*s, "marks")
		return kafkaio.Marks{}, nil
	}
	polls := 0
	svc.behind = func(context.Context, kafkaio.Marks) (int64, error) {
		*s = append(*s, "wait")
		n := behind[min(polls, len(behind)-1)]
		polls++
		return n, nil
	}
	return svc, s, log, w
}

func TestForgetOrder(t *testing.T) {
	svc, s, log, w := newService(t, false, 5, 0)
	rep, err := svc.Forget(context.Background(), "acme", "email:ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	// Redis first (nothing of the person is published after it), the
	// tombstones, the durable suppressions, then the sink's progress is
	// marked and awaited, and only then ClickHouse is erased.
	want := steps{"redis", "tombstones", "suppressions", "marks", "wait", "wait", "erase"}
	if !slices.Equal(*s, want) {
		t.Errorf("steps %v, want %v", *s, want)
	}
	if !rep.Complete || rep.Suppressed != 2 || rep.Tombstones != 2 || rep.SinkBehind != 0 || rep.ClickHouse.Rows["cx_events"] != 3 {
		t.Errorf("report %+v", rep)
	}
	for i, id := range []string{"p-ann", "p-old"} {
		m := w.msgs[i]
		if string(m.Key) != id || m.Value != nil || m.Topic != kafkaio.Default().Topics.Profiles || len(m.Headers) != 2 || string(m.Headers[1].Value) != "9" {
			t.Errorf("tombstone %d = %+v, want key %s, no value, tenant and version 9 headers", i, m, id)
		}
	}
	wantHashes := []string{redisstore.SuppressionHash("anonymous_id:a-1"), redisstore.SuppressionHash("email:ann@example.com")}
	if !slices.Equal(log.erased[0], []string{"p-ann", "p-old"}) || !slices.Equal(log.erased[1], wantHashes) {
		t.Errorf("erased %v", log.erased)
	}
	if len(log.sups) != 2 || log.sups[0].Hash != wantHashes[0] || log.sups[0].ProfileID != "p-ann" || log.sups[0].Version != 9 {
		t.Errorf("suppressions %+v", log.sups)
	}
}

func TestForgetSinkBehindIsIncomplete(t *testing.T) {
	svc, s, _, _ := newService(t, false, 7)
	rep, err := svc.Forget(context.Background(), "acme", "email:ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Complete || rep.SinkBehind != 7 || (*s)[len(*s)-1] != "erase" {
		t.Errorf("sink never caught up: report %+v, steps %v; want incomplete, 7 behind, what is there erased", rep, *s)
	}
}

func TestForgetAgainUsesRecordedHashes(t *testing.T) {
	svc, _, log, _ := newService(t, true, 0)
	rep, err := svc.Forget(context.Background(), "acme", "p-ann")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{redisstore.SuppressionHash("email:ann@example.com"), redisstore.SuppressionHash("anonymous_id:a-1")}
	slices.Sort(want)
	if !rep.AlreadyForgotten || rep.Suppressed != 0 || !slices.Equal(log.erased[1], want) {
		t.Errorf("report %+v, erased hashes %v; want already forgotten, the recorded hashes of p-ann %v", rep, log.erased[1], want)
	}
}

func TestForgetStopsWhenATombstoneCannotBePublished(t *testing.T) {
	svc, s, _, w := newService(t, false, 0)
	w.err = errors.New("kafka down")
	rep, err := svc.Forget(context.Background(), "acme", "email:ann@example.com")
	if err == nil || rep.ProfileID != "p-ann" || slices.Contains(*s, "erase") {
		t.Errorf("err %v, report %+v, steps %v; want an error naming the profile and no erase", err, rep, *s)
	}
	if _, err := svc.Forget(context.Background(), "acme", "email:nobody@example.com"); !errors.Is(err, redisstore.ErrNotFound) {
		t.Errorf("unknown person: %v", err)
	}
}

func TestExport(t *testing.T) {
	svc, _, log, _ := newService(t, false, 0)
	log.events = 2*chstore.MaxLimit + 5
	exp, err := svc.Export(context.Background(), "acme", "email:ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if exp.ProfileID != "p-ann" || len(exp.Events) != log.events || exp.EventsTruncated || exp.Identity == nil {
		t.Errorf("export of %s: %d events (truncated %v), want all %d", exp.ProfileID, len(exp.Events), exp.EventsTruncated, log.events)
	}
	if !exp.Consent["marketing"] || exp.Consent["ads"] || len(exp.Consent) != 2 || exp.Profile.Identifiers["email"][0] != "ann@example.com" {
		t.Errorf("consent %v, identifiers %v", exp.Consent, exp.Profile.Identifiers)
	}
	log.events = MaxExportEvents + 3*chstore.MaxLimit
	if exp, err = svc.Export(context.Background(), "acme", "email:ann@example.com"); err != nil || !exp.EventsTruncated || len(exp.Events) != MaxExportEvents {
		t.Errorf("a huge timeline: %d events, truncated %v (%v); want %d and truncated", len(exp.Events), exp.EventsTruncated, err, MaxExportEvents)
	}
	if _, err := svc.Export(context.Background(), "acme", "email:nobody@example.com"); !errors.Is(err, redisstore.ErrNotFound) {
		t.Errorf("unknown person: %v", err)
	}
}
