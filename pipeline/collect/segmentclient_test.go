package collect

import (
	"sync"
	"testing"
	"time"

	analytics "github.com/segmentio/analytics-go/v3"

	"github.com/cxstream/cxstream/pkg/event"
)

// callback counts what the Segment client reports as sent and as failed.
type callback struct {
	mu       sync.Mutex
	ok, fail int
}

func (c *callback) Success(analytics.Message) { c.mu.Lock(); c.ok++; c.mu.Unlock() }
func (c *callback) Failure(_ analytics.Message, _ error) {
	c.mu.Lock()
	c.fail++
	c.mu.Unlock()
}

// clientLog sends the Segment client's log to the test log.
type clientLog struct{ t *testing.T }

func (l clientLog) Logf(format string, args ...any) { l.t.Logf("analytics-go: "+format, args...) }
func (l clientLog) Errorf(format string, args ...any) {
	l.t.Logf("analytics-go error: "+format, args...)
}

// TestIntegrationSegmentClient points Segment's official Go library at the
// collector and checks that every kind of call arrives in Kafka as the
// envelope it should be.
func TestIntegrationSegmentClient(t *testing.T) {
	cfg := kafkaTopics(t)
	srv := collectorServer(t, cfg)

	cb := &callback{}
	client, err := analytics.NewWithConfig("wk-web", analytics.Config{
		Endpoint:  srv.URL,
		Interval:  50 * time.Millisecond,
		BatchSize: 100,
		Callback:  cb,
		Logger:    clientLog{t},
		DefaultContext: &analytics.Context{
			Library: analytics.LibraryInfo{Name: "analytics-go", Version: "3.3.0"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := []analytics.Message{
		analytics.Track{MessageId: "sc-track", UserId: "u-1", Event: "Order Completed",
			Properties: analytics.NewProperties().SetRevenue(42.5).SetCurrency("EUR")},
		analytics.Identify{MessageId: "sc-identify", UserId: "u-1",
			Traits: analytics.NewTraits().SetEmail("Jane@Example.com").SetName("Jane")},
		analytics.Page{MessageId: "sc-page", AnonymousId: "anon-1", Name: "Pricing",
			Properties: analytics.NewProperties().SetURL("https://shop.example/pricing")},
		analytics.Screen{MessageId: "sc-screen", UserId: "u-1", Name: "Home"},
		analytics.Alias{MessageId: "sc-alias", UserId: "u-1", PreviousId: "anon-1"},
		analytics.Group{MessageId: "sc-group", UserId: "u-1", GroupId: "g-1",
			Traits: analytics.NewTraits().SetName("Acme")},
		// PostHog-style trait operations in a track call's properties.
		analytics.Track{MessageId: "sc-track-ops", UserId: "u-1", Event: "Points Earned",
			Properties: analytics.NewProperties().
				Set("$increment", map[string]any{"points": 10}).
				Set("$set", map[string]any{"tier": "gold"})},
	}
	for _, m := range calls {
		if err := client.Enqueue(m); err != nil {
			t.Fatalf("enqueue %T: %v", m, err)
		}
	}
	if err := client.Close(); err != nil { // flushes
		t.Fatal(err)
	}
	cb.mu.Lock()
	ok, fail := cb.ok, cb.fail
	cb.mu.Unlock()
	if ok != len(calls) || fail != 0 {
		t.Fatalf("Segment client reports %d sent, %d failed; want %d sent", ok, fail, len(calls))
	}

	want := map[string]struct {
		typ  event.Type
		name string
		key  string
	}{
		"sc-track":     {event.TypeTrack, "Order Completed", "user_id:u-1"},
		"sc-identify":  {event.TypeIdentify, "", "user_id:u-1"},
		"sc-page":      {event.TypePage, "Pricing", "anonymous_id:anon-1"},
		"sc-screen":    {event.TypeScreen, "Home", "user_id:u-1"},
		"sc-alias":     {event.TypeAlias, "", "user_id:u-1"},
		"sc-group":     {event.TypeGroup, "", "user_id:u-1"},
		"sc-track-ops": {event.TypeTrack, "Points Earned", "user_id:u-1"},
	}
	for _, m := range readTopic(t, cfg, cfg.Topics.Interactions, len(calls)) {
		e, err := event.DecodePrepared(m.Value, event.DefaultLimits())
		if err != nil {
			t.Fatalf("invalid envelope: %v\n%s", err, m.Value)
		}
		w, found := want[e.EventID]
		if !found {
			t.Fatalf("unexpected or repeated event %s", e.EventID)
		}
		delete(want, e.EventID)
		if e.Type != w.typ || e.Name != w.name || string(m.Key) != w.key || e.Tenant != "acme" || e.Channel != "web" {
			t.Errorf("event %s: type %s name %q key %q, want %s %q %q\n%s", e.EventID, e.Type, e.Name, m.Key, w.typ, w.name, w.key, m.Value)
		}
		if e.EventID == "sc-track-ops" && (e.TraitsIncrement["points"] != "10" || string(e.Traits["tier"]) != `"gold"`) {
			t.Errorf("event %s: trait operations not mapped\n%s", e.EventID, m.Value)
		}
		if d := time.Since(e.EventTime); d < -time.Minute || d > time.Minute {
			t.Errorf("event %s: event_time %v is not about now", e.EventID, e.EventTime)
		}
	}
	if len(want) > 0 {
		t.Errorf("events missing from Kafka: %v", want)
	}
}
