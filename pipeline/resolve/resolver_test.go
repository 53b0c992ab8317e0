package resolve_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pipeline/resolve"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/kafkaio/kafkaiotest"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore/redisstoretest"
)

func envelope(tenant, id, anon, email string, at time.Time) []byte {
	ids := []event.Identifier{{Type: "anonymous_id", Value: anon}}
	if email != "" {
		ids = append(ids, event.Identifier{Type: "email", Value: email})
	}
	b, _ := json.Marshal(&event.Event{EventID: id, Tenant: tenant, Channel: "web", Type: event.TypeTrack, Name: "Viewed",
		EventTime: at, Identifiers: ids}) // received_at left out: the message time stands in
	return b
}

// readAll reads a topic from the start until it has n messages.
func readAll(t *testing.T, brokers []string, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: "read-" + topic, Topic: topic, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("%s: got %d of %d messages: %v", topic, len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

func TestIntegrationResolverPublishesAndDeadLetters(t *testing.T) {
	kcfg := kafkaiotest.Config(t, 4)
	b := make([]byte, 4)
	rand.Read(b)
	suffix := "." + hex.EncodeToString(b)
	ctx := context.Background()
	store, tenant := redisstoretest.New(t)

	t0 := time.Now().UTC().Add(-time.Hour)
	w := kafkaio.NewWriter(kcfg)
	defer w.Close()
	in := []kafka.Message{
		{Key: []byte("a"), Value: envelope(tenant, "e1"+suffix, "anon-1"+suffix, "", t0)},
		{Key: []byte("b"), Value: envelope(tenant, "e2"+suffix, "anon-2"+suffix, "jo"+hex.EncodeToString(b)+"@example.com", t0.Add(time.Minute))},
		{Key: []byte("a"), Value: envelope(tenant, "e3"+suffix, "anon-1"+suffix, "jo"+hex.EncodeToString(b)+"@example.com", t0.Add(2*time.Minute))},
		{Key: []byte("a"), Value: envelope(tenant, "e3"+suffix, "anon-1"+suffix, "jo"+hex.EncodeToString(b)+"@example.com", t0.Add(2*time.Minute))}, // client retry
		{Key: []byte("x"), Value: []byte(`{"event_id": "bad", "tenant": "` + tenant + `"`)},
		{Key: []byte("y"), Value: []byte(`{"event_id":"no-ids","tenant":"` + tenant + `","channel":"web","type":"page","event_time":"2026-01-01T00:00:00Z"}`)},
	}
	for i := range in {
		in[i].Topic = kcfg.Topics.Interactions
	}
	if err := w.WriteMessages(ctx, in...); err != nil {
		t.Fatal(err)
	}

	cfg := resolve.Default()
	cfg.Group += suffix
	r, err := resolve.New(cfg, kcfg, identity.DefaultRules(), profile.Default(), store, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()

	dead := readAll(t, kcfg.Brokers, kcfg.Topics.DeadLetter, 2)
	for _, m := range dead {
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		if h[kafkaio.HeaderError] == "" || h[kafkaio.HeaderOriginTopic] != kcfg.Topics.Interactions || h[kafkaio.HeaderStage] != "resolver" {
			t.Errorf("dead letter headers: %v", h)
		}
		switch string(m.Value) {
		case string(in[4].Value): // malformed: no tenant decoded
			if tn, has := h[kafkaio.HeaderTenant]; has {
				t.Errorf("dead letter of a malformed message has %s %q", kafkaio.HeaderTenant, tn)
			}
		case string(in[5].Value): // decoded, then invalid: its tenant
			if h[kafkaio.HeaderTenant] != tenant {
				t.Errorf("dead letter %s = %q, want %q", kafkaio.HeaderTenant, h[kafkaio.HeaderTenant], tenant)
			}
		default:
			t.Errorf("dead letter value changed: %s", m.Value)
		}
	}
	timeline := readAll(t, kcfg.Brokers, kcfg.Topics.Timeline, 3)
	var survivor string
	for _, m := range timeline {
		var e event.Resolved
		if err := json.Unmarshal(m.Value, &e); err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != e.ProfileID || e.ReceivedAt.IsZero() {
			t.Errorf("timeline message key %s, profile %s, received_at %v", m.Key, e.ProfileID, e.ReceivedAt)
		}
		if e.EventID == "e3"+suffix {
			survivor = e.ProfileID
		}
	}
	identityRecs := readAll(t, kcfg.Brokers, kcfg.Topics.Identity, 5) // 2 created, 3 linked, 1 merged
	kinds := map[identity.Kind]int{}
	for _, m := range identityRecs {
		var rec identity.Record
		json.Unmarshal(m.Value, &rec)
		kinds[rec.Kind]++
	}
	if kinds[identity.KindCreated] != 2 {
		t.Errorf("identity kinds = %v", kinds)
	}
	// The profile's final state is on cx.profiles, counted once despite the retry.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, st, err := store.Resolve(ctx, tenant, "anonymous_id:anon-1"+suffix)
		if err == nil {
			p := profile.Default().Render(tenant, survivor, st, profile.Meta{})
			if p.Behavioral.Events == 3 && len(p.MergedFrom) == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("profile never reached 3 events with one merge: %v %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// cx.profiles ends with the survivor's final state: 3 events despite the
	// client retry, and one merged-from id.
	r2 := kafka.NewReader(kafka.ReaderConfig{Brokers: kcfg.Brokers, GroupID: "check-" + kcfg.Topics.Profiles,
		Topic: kcfg.Topics.Profiles, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r2.Close()
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		m, err := r2.ReadMessage(pctx)
		if err != nil {
			t.Fatalf("cx.profiles: no final state for %s: %v", survivor, err)
		}
		var p profile.Profile
		if string(m.Key) == survivor && json.Unmarshal(m.Value, &p) == nil && p.Behavioral.Events == 3 && len(p.MergedFrom) == 1 {
			break
		}
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("resolver did not stop")
	}
}

func TestConfigValidate(t *testing.T) {
	c := resolve.Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Group, c.BatchSize = "", 0
	if err := c.Validate(); err == nil {
		t.Error("invalid config accepted")
	}
	c = resolve.Default()
	c.Consumers = 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "resolver.consumers") {
		t.Errorf("no consumer loop: err = %v, want one naming resolver.consumers", err)
	}
}
