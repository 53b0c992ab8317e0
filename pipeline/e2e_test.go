package pipeline_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pipeline/api"
	"github.com/cxstream/cxstream/pipeline/collect"
	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/chstore/chstoretest"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/kafkaio/kafkaiotest"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/sentiment"
	"github.com/cxstream/cxstream/pkg/telemetry"
	"github.com/cxstream/cxstream/pkg/testenv"
)

const apiToken = "e2e-token-0123456789abcdef"

// testConfig points a whole pipeline at the real services, with topics,
// consumer groups, database and tenant of its own.
func testConfig(t *testing.T) (pipeline.Config, string) {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	suffix := hex.EncodeToString(b)
	cfg := pipeline.Default()
	cfg.Kafka = kafkaiotest.Config(t, 3)
	cfg.Redis.Addr = testenv.Redis(t)
	// Timer loops claim the due timers of every tenant in their database:
	// this package keeps to database 2 (pipeline/resolve tests use 1).
	cfg.Redis.DB = 2
	cfg.ClickHouse.Addr = testenv.ClickHouse(t)
	cfg.ClickHouse.Database = "cxstream_e2e_" + suffix
	cfg.Resolver.Group += "-" + suffix
	cfg.Sink.Group += "-" + suffix
	cfg.Sink.FlushInterval = 200 * time.Millisecond
	tenant := "e2e-" + suffix
	for _, ch := range []string{"web", "mobile", "store", "survey"} {
		cfg.Collector.WriteKeys = append(cfg.Collector.WriteKeys, collect.WriteKey{Key: ch + "-" + suffix, Tenant: tenant, Channel: ch})
	}
	cfg.API.Tokens = []api.Token{{Token: apiToken, Tenant: tenant}}
	cfg.Collector.Addr = freeAddr(t)
	cfg.API.Addr = freeAddr(t)
	cfg.Telemetry.Addr = freeAddr(t)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chstoretest.Drop(t, cfg.ClickHouse) })
	return cfg, suffix
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startPipeline runs every stage in-process until the test ends.
func startPipeline(t *testing.T, cfg pipeline.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	done := make(chan error, 1)
	go func() { done <- pipeline.Run(ctx, cfg, pipeline.AllStages, log, telemetry.NewRegistry()) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("pipeline did not stop cleanly: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("pipeline did not stop within 30 s of cancellation")
		}
	})
	eventually(t, 2*time.Minute, "pipeline ready", func() (bool, string) {
		select {
		case err := <-done:
			t.Fatalf("pipeline stopped: %v", err)
		default:
		}
		resp, err := http.Get("http://" + cfg.Telemetry.Addr + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s; last state: %s", what, within, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func track(t *testing.T, cfg pipeline.Config, key, path string, msg map[string]any) {
	t.Helper()
	body, _ := json.Marshal(msg)
	req, _ := http.NewRequest(http.MethodPost, "http://"+cfg.Collector.Addr+path, bytes.NewReader(body))
	req.SetBasicAuth(key, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %s %s", path, resp.Status, b)
	}
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	code, body := get(t, url)
	if code == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return code
}

// get returns the status and body of an API request.
func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	return apiGet(t, apiToken, url)
}

// One person browses anonymously on the web, identifies with an email on
// mobile, and buys in a store with a phone number linked to that email; she
// also orders online, gets part of that order refunded, collects loyalty
// points, answers an NPS survey and gives her consent to marketing.
// Events reach the pipeline before the links that connect them, and out of
// event-time order, so the pipeline must merge profiles and order trait
// operations by event time; it must end with ONE profile, the whole
// timeline under it, and that profile, exactly as the API shows it, as the
// last word on cx.profiles.
func TestIntegrationEndToEndOneCustomerAcrossChannels(t *testing.T) {
	cfg, suffix := testConfig(t)
	tenant := cfg.API.Tokens[0].Tenant
	startPipeline(t, cfg)
	key := func(ch string) string { return ch + "-" + suffix }
	t0 := time.Now().UTC().Add(-6 * time.Hour).Truncate(time.Second)
	at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }

	track(t, cfg, key("web"), "/v1/page", map[string]any{"messageId": "m1", "anonymousId": "web-anon-1", "name": "Home", "timestamp": at(0)})
	track(t, cfg, key("web"), "/v1/track", map[string]any{"messageId": "m2", "anonymousId": "web-anon-1", "event": "Product Viewed",
		"properties": map[string]any{"sku": "SKU-1"}, "timestamp": at(time.Minute)})
	track(t, cfg, key("mobile"), "/v1/identify", map[string]any{"messageId": "m3", "userId": "u-42", "anonymousId": "app-anon-7",
		"traits": map[string]any{"email": "Jane.Doe@Example.com", "name": "Jane Doe"}, "context": map[string]any{"device": map[string]any{"id": "iphone-1"}},
		"timestamp": at(time.Hour)})
	// The till sells by phone number before the phone is linked to anyone.
	track(t, cfg, key("store"), "/v1/track", map[string]any{"messageId": "m4", "event": "Order Completed",
		"properties": map[string]any{"order_id": "POS-1", "revenue": 129.0}, "context": map[string]any{"traits": map[string]any{"phone": "0049 151 2345 6789"}},
		"timestamp": at(5 * time.Hour)})
	// Back on the web, Jane logs in: the anonymous browsing joins her profile.
	track(t, cfg, key("web"), "/v1/identify", map[string]any{"messageId": "m5", "anonymousId": "web-anon-1", "userId": "u-42",
		"traits": map[string]any{"email": "jane.doe@example.com"}, "timestamp": at(2 * time.Hour)})
	// Loyalty sign-up in the store links the phone number to the email.
	track(t, cfg, key("store"), "/v1/identify", map[string]any{"messageId": "m6",
		"traits": map[string]any{"email": "jane.doe@example.com", "phone": "+49 151 23456789", "loyalty_tier": "silver"}, "timestamp": at(4 * time.Hour)})
	// A newsletter sign-up late in the day records where Jane came from,
	// only if nothing earlier did (it arrives before the earlier one).
	track(t, cfg, key("web"), "/v1/identify", map[string]any{"messageId": "m8", "userId": "u-42",
		"traits": map[string]any{"$set_once": map[string]any{"first_source": "newsletter"}}, "timestamp": at(5*time.Hour + 30*time.Minute)})
	// An online order in euros, with her consent to marketing at checkout,
	// and a refund of one of its items.
	track(t, cfg, key("web"), "/v1/track", map[string]any{"messageId": "m9", "userId": "u-42", "anonymousId": "web-anon-1", "event": "Order Completed",
		"properties": map[string]any{"order_id": "WEB-1001", "revenue": 149.8, "currency": "EUR", "products": []any{
			map[string]any{"product_id": "P-1001", "sku": "SKU-1001", "name": "Trail Runner Shoe", "price": 64.9, "quantity": 2},
			map[string]any{"product_id": "P-1003", "sku": "SKU-1003", "name": "Merino Socks", "price": 20.0, "quantity": 1},
		}},
		"context":   map[string]any{"consent": map[string]any{"categoryPreferences": map[string]any{"marketing": true}}},
		"timestamp": at(3 * time.Hour)})
	track(t, cfg, key("web"), "/v1/track", map[string]any{"messageId": "m10", "userId": "u-42", "event": "Order Refunded",
		"properties": map[string]any{"order_id": "WEB-1001", "total": 20.0, "currency": "EUR",
			"products": []any{map[string]any{"product_id": "P-1003", "sku": "SKU-1003", "quantity": 1}}},
		"timestamp": at(3*time.Hour + 30*time.Minute)})
	// Loyalty points for both orders, the later one first.
	track(t, cfg, key("store"), "/v1/track", map[string]any{"messageId": "m12", "event": "Loyalty Points Earned",
		"properties": map[string]any{"order_id": "POS-1", "$increment": map[string]any{"loyalty_points": 129}},
		"context": map[string]any{"traits": map[string]any{"phone": "0049 151 2345 6789"},
			"location": map[string]any{"country": "Germany", "city": "Berlin"}},
		"timestamp": at(5*time.Hour + 10*time.Minute)})
	track(t, cfg, key("web"), "/v1/track", map[string]any{"messageId": "m13", "userId": "u-42", "event": "Loyalty Points Earned",
		"properties": map[string]any{"order_id": "WEB-1001", "$increment": map[string]any{"loyalty_points": 150}},
		"timestamp":  at(3*time.Hour + 10*time.Minute)})
	// The survey tool knows her email only.
	const feedback = "The delivery was late and the box arrived damaged."
	track(t, cfg, key("survey"), "/v1/track", map[string]any{"messageId": "m11", "event": "Survey Responded",
		"properties": map[string]any{"survey": "nps", "nps": 3, "feedback": feedback},
		"context":    map[string]any{"traits": map[string]any{"email": "jane.doe@example.com"}},
		"timestamp":  at(4*time.Hour + 30*time.Minute)})
	// The app's first launch after the login, in German, says where she
	// came from: the earliest set_once wins, whatever the arrival order.
	track(t, cfg, key("mobile"), "/v1/identify", map[string]any{"messageId": "m7", "userId": "u-42",
		"traits":  map[string]any{"$set_once": map[string]any{"first_source": "instagram_ad"}},
		"context": map[string]any{"device": map[string]any{"id": "iphone-1"}, "locale": "de-DE"}, "timestamp": at(time.Hour + 30*time.Minute)})
	const events = 13

	base := "http://" + cfg.API.Addr + "/v1/profiles/"
	var p profile.Profile
	eventually(t, time.Minute, "one profile with all the events", func() (bool, string) {
		p = profile.Profile{} // no map entries left over from an earlier answer
		code := getJSON(t, base+"email:JANE.DOE@example.com", &p)
		return code == http.StatusOK && p.Behavioral.Events == events && len(p.Identifiers["phone"]) == 1, fmt.Sprintf("%d %+v", code, p)
	})
	wantIDs := map[string][]string{
		"anonymous_id": {"app-anon-7", "web-anon-1"}, "device_id": {"iphone-1"}, "email": {"jane.doe@example.com"},
		"phone": {"+4915123456789"}, "user_id": {"u-42"},
	}
	for typ, vals := range wantIDs {
		if !slices.Equal(p.Identifiers[typ], vals) {
			t.Errorf("identifiers[%s] = %v, want %v", typ, p.Identifiers[typ], vals)
		}
	}
	if len(p.Identifiers) != len(wantIDs) {
		t.Errorf("identifiers = %v, want %v", p.Identifiers, wantIDs)
	}
	if len(p.MergedFrom) == 0 {
		t.Fatal("expected merges: the phone-only and app profiles were created before the links")
	}
	checkProfile(t, p, t0, feedback)

	// With provenance: the same profile, and where its stamped values came
	// from (the event with the latest event time for a set or increment,
	// the earliest for a set_once).
	var withSources profile.Profile
	if code := getJSON(t, base+"user_id:u-42?provenance=true", &withSources); code != http.StatusOK {
		t.Fatalf("GET ?provenance=true: %d", code)
	}
	src := func(ch, id string, d time.Duration) profile.Source {
		return profile.Source{Channel: ch, EventID: id, EventTime: t0.Add(d)}
	}
	for path, want := range map[string]profile.Source{
		"traits.loyalty_points":           src("store", "m12", 5*time.Hour+10*time.Minute),
		"traits.first_source":             src("mobile", "m7", time.Hour+30*time.Minute),
		"traits.loyalty_tier":             src("store", "m6", 4*time.Hour),
		"psychographic.nps":               src("survey", "m11", 4*time.Hour+30*time.Minute),
		"psychographic.sentiment":         src("survey", "m11", 4*time.Hour+30*time.Minute),
		"psychographic.consent.marketing": src("web", "m9", 3*time.Hour),
		"demographic.locale":              src("mobile", "m7", time.Hour+30*time.Minute),
		"demographic.city":                src("store", "m12", 5*time.Hour+10*time.Minute),
	} {
		got, ok := withSources.Provenance[path]
		if !ok || got.Channel != want.Channel || got.EventID != want.EventID || !got.EventTime.Equal(want.EventTime) {
			t.Errorf("provenance[%s] = %+v (present: %v), want %+v", path, got, ok, want)
		}
	}
	withSources.Provenance = nil
	if withSources.AsOf = p.AsOf; !reflect.DeepEqual(normalized(t, withSources), normalized(t, p)) {
		t.Errorf("?provenance=true changed the profile:\n%s\nwithout: %s", mustJSON(withSources), mustJSON(p))
	}
	if p.Provenance != nil {
		t.Errorf("provenance without ?provenance=true: %v", p.Provenance)
	}

	for _, ref := range []string{"phone:+4915123456789", "anonymous_id:web-anon-1", "user_id:u-42", "device_id:iphone-1", p.MergedFrom[0]} {
		var other profile.Profile
		if code := getJSON(t, base+ref, &other); code != http.StatusOK || other.ProfileID != p.ProfileID {
			t.Errorf("GET %s: %d, profile %s, want %s", ref, code, other.ProfileID, p.ProfileID)
		}
	}

	// The ClickHouse timeline holds every event under the surviving profile,
	// including those recorded under the profiles merged into it.
	var page chstore.TimelinePage
	eventually(t, time.Minute, "timeline with every event", func() (bool, string) {
		code := getJSON(t, base+"email:jane.doe@example.com/events", &page)
		return code == http.StatusOK && len(page.Events) == events, fmt.Sprintf("%d, %d events", code, len(page.Events))
	})
	recorded := map[string]bool{}
	channels := map[string]int64{}
	for i, e := range page.Events {
		if e.ProfileID != p.ProfileID {
			t.Errorf("timeline event %s under %s, want %s", e.EventID, e.ProfileID, p.ProfileID)
		}
		if i > 0 && e.EventTime.Before(page.Events[i-1].EventTime) {
			t.Error("timeline not in event-time order")
		}
		recorded[e.RecordedProfileID] = true
		channels[e.Channel]++
	}
	if len(recorded) < 2 {
		t.Errorf("timeline events were all recorded under %v; the merged profiles' events are missing", recorded)
	}
	if !maps.Equal(channels, p.Behavioral.Channels) {
		t.Errorf("timeline channels = %v, profile channels %v", channels, p.Behavioral.Channels)
	}
	var filtered chstore.TimelinePage
	if code := getJSON(t, base+p.ProfileID+"/events?channel=store", &filtered); code != http.StatusOK || len(filtered.Events) != 3 {
		t.Errorf("channel filter: %d, %d events, want 3", code, len(filtered.Events))
	}
	var nobody profile.Profile
	if code := getJSON(t, base+"email:nobody@example.com", &nobody); code != http.StatusNotFound {
		t.Errorf("unknown identifier: %d, want 404", code)
	}

	// cx.profiles carries the final state and the merged-away ids.
	checkProfilesTopic(t, cfg, tenant, base, p)
}

// checkProfile checks Jane's profile field by field against her journey.
func checkProfile(t *testing.T, p profile.Profile, t0 time.Time, feedback string) {
	t.Helper()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	sameTime := func(what string, got *time.Time, want time.Time) {
		if got == nil || !got.Equal(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}

	b := p.Behavioral
	if want := map[string]int64{"web": 7, "mobile": 2, "store": 3, "survey": 1}; !maps.Equal(b.Channels, want) {
		t.Errorf("behavioral.channels = %v, want %v", b.Channels, want)
	}
	if want := map[string]int64{"page": 1, "track": 7, "identify": 5}; !maps.Equal(b.EventTypes, want) {
		t.Errorf("behavioral.event_types = %v, want %v", b.EventTypes, want)
	}
	if b.PageViews != 1 || b.ScreenViews != 0 || b.LastChannel != "web" || b.LastEvent != "Loyalty Points Earned" {
		t.Errorf("behavioral: page_views %d, screen_views %d, last_channel %q, last_event %q; want 1, 0, web, Loyalty Points Earned",
			b.PageViews, b.ScreenViews, b.LastChannel, b.LastEvent)
	}
	sameTime("behavioral.first_seen", &b.FirstSeen, at(0))
	sameTime("behavioral.last_seen", &b.LastSeen, at(5*time.Hour+30*time.Minute))

	// Traits: the latest set, the earliest set_once, the sum of the
	// increments.
	traits := map[string]any{}
	for k, v := range p.Traits {
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			t.Errorf("traits.%s: %s is not JSON: %v", k, v, err)
		}
		traits[k] = x
	}
	wantTraits := map[string]any{"email": "jane.doe@example.com", "name": "Jane Doe", "phone": "+49 151 23456789",
		"loyalty_tier": "silver", "first_source": "instagram_ad", "loyalty_points": 279.0}
	if !reflect.DeepEqual(traits, wantTraits) {
		t.Errorf("traits = %v, want %v", traits, wantTraits)
	}
	if string(p.Traits["loyalty_points"]) != "279" {
		t.Errorf("traits.loyalty_points = %s, want 279", p.Traits["loyalty_points"])
	}

	if want := (profile.Demographic{Name: "Jane Doe", Email: "jane.doe@example.com", Phone: "+49 151 23456789",
		Locale: "de-DE", Country: "Germany", City: "Berlin"}); p.Demographic != want {
		t.Errorf("demographic = %+v, want %+v", p.Demographic, want)
	}

	// Two orders: POS-1 in the default currency (USD, no products), WEB-1001
	// in EUR with three items, of which 20 EUR refunded. EUR has no rate, so
	// the reporting figures are in USD alone: the average order value is the
	// USD revenue over the one USD order.
	tr := p.Transactional
	if tr.Orders != 2 || tr.Items != 3 || tr.Refunds != 1 {
		t.Errorf("transactional: orders %d, items %d, refunds %d; want 2, 3, 1", tr.Orders, tr.Items, tr.Refunds)
	}
	for what, c := range map[string]struct{ got, want map[string]float64 }{
		"revenue":        {tr.Revenue, map[string]float64{"USD": 129, "EUR": 149.8}},
		"refunded":       {tr.Refunded, map[string]float64{"EUR": 20}},
		"lifetime_value": {tr.LifetimeValue, map[string]float64{"USD": 129, "EUR": 129.8}},
	} {
		if !maps.Equal(c.got, c.want) {
			t.Errorf("transactional.%s = %v, want %v", what, c.got, c.want)
		}
	}
	if tr.Currency != "USD" || tr.LifetimeValueReporting != 129 || tr.AverageOrderValue != 129 || !slices.Equal(tr.Unconverted, []string{"EUR"}) {
		t.Errorf("transactional: currency %q, lifetime_value_reporting %v, average_order_value %v, unconverted %v; want USD, 129, 129, [EUR]",
			tr.Currency, tr.LifetimeValueReporting, tr.AverageOrderValue, tr.Unconverted)
	}
	sameTime("transactional.first_order_at", tr.FirstOrderAt, at(3*time.Hour))
	sameTime("transactional.last_order_at", tr.LastOrderAt, at(5*time.Hour))

	ps := p.Psychographic
	if !maps.Equal(ps.Consent, map[string]bool{"marketing": true}) || len(ps.Preferences) != 0 || ps.CSAT != nil {
		t.Errorf("psychographic: consent %v, preferences %v, csat %v; want {marketing: true}, none, none", ps.Consent, ps.Preferences, ps.CSAT)
	}
	surveyed := at(4*time.Hour + 30*time.Minute)
	if ps.NPS == nil || ps.NPS.Score != 3 || ps.NPS.Channel != "survey" || !ps.NPS.At.Equal(surveyed) {
		t.Errorf("psychographic.nps = %+v, want score 3 on survey at %s", ps.NPS, surveyed)
	}
	score := sentiment.Analyze(feedback).Score
	if s := ps.Sentiment; s == nil || s.Label != "negative" || s.Score != score || s.Average != score || s.Responses != 1 || !s.At.Equal(surveyed) {
		t.Errorf("psychographic.sentiment = %+v, want negative, score and average %d, 1 response at %s", s, score, surveyed)
	}

	// New (first seen 6 hours ago); last order today (recency 5), two
	// orders (frequency 2), 129 USD (monetary 2).
	if d := p.Derived; d.Lifecycle != "new" || d.RFM == nil || *d.RFM != (profile.RFM{Recency: 5, Frequency: 2, Monetary: 2, Segment: "522"}) {
		t.Errorf("derived = %+v (rfm %+v), want new, 522", d, d.RFM)
	}
}

// profileMessage is a cx.profiles message as a downstream consumer sees it.
type profileMessage struct {
	version   int64
	value     []byte // nil for a tombstone
	partition int
	offset    int64
}

func (m profileMessage) String() string {
	return fmt.Sprintf("version %d at %d/%d: %s", m.version, m.partition, m.offset, m.value)
}

// latestProfiles reads every message of the tenant on cx.profiles, from the
// start of each partition up to its end at the time of the call, and keeps
// per key the one with the highest version (of equal versions the later,
// which is what compaction keeps). Every message must carry the tenant and
// version headers, and a value's version must equal the header's; problems
// lists the messages that do not. ties lists the keys with two different
// messages of one version, which must not happen: a resolver call sends one
// message per key.
func latestProfiles(t *testing.T, cfg pipeline.Config, tenant string) (latest map[string]profileMessage, n int, problems, ties []string) {
	t.Helper()
	topic := cfg.Kafka.Topics.Profiles
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", cfg.Kafka.Brokers[0])
	if err != nil {
		t.Fatalf("cx.profiles: %v", err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatalf("cx.profiles partitions: %v", err)
	}
	latest = map[string]profileMessage{}
	for _, part := range parts {
		leader, err := kafka.DialLeader(ctx, "tcp", cfg.Kafka.Brokers[0], topic, part.ID)
		if err != nil {
			t.Fatalf("cx.profiles partition %d: %v", part.ID, err)
		}
		first, last, err := leader.ReadOffsets()
		leader.Close()
		if err != nil {
			t.Fatalf("cx.profiles partition %d offsets: %v", part.ID, err)
		}
		if first >= last {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Kafka.Brokers, Topic: topic, Partition: part.ID, MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(first); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("cx.profiles partition %d: read up to offset %d: %v", part.ID, last, err)
			}
			if msg, ok, problem := profileMessageOf(m, tenant); problem != "" {
				problems = append(problems, problem)
			} else if ok {
				n++
				k := string(m.Key)
				cur, seen := latest[k]
				if seen && msg.version == cur.version && !sameButAsOf(msg.value, cur.value) {
					ties = append(ties, fmt.Sprintf("key %s: two messages of version %d differ: %v and %v", k, msg.version, cur, msg))
				}
				if !seen || msg.version >= cur.version {
					latest[k] = msg
				}
			}
			if m.Offset >= last-1 {
				break
			}
		}
		r.Close()
	}
	return latest, n, problems, ties
}

// profileMessageOf checks a cx.profiles message's headers; ok is false for
// another tenant's message.
func profileMessageOf(m kafka.Message, tenant string) (msg profileMessage, ok bool, problem string) {
	where := fmt.Sprintf("message %d/%d (key %s)", m.Partition, m.Offset, m.Key)
	headers := map[string]string{}
	for _, h := range m.Headers {
		headers[h.Key] = string(h.Value)
	}
	tn, hasTenant := headers[kafkaio.HeaderTenant]
	vh, hasVersion := headers[kafkaio.HeaderVersion]
	switch {
	case !hasTenant || !hasVersion:
		return msg, false, fmt.Sprintf("%s: headers %v lack %s or %s", where, headers, kafkaio.HeaderTenant, kafkaio.HeaderVersion)
	case tn != tenant:
		return msg, false, ""
	case len(m.Key) == 0:
		return msg, false, where + ": no key"
	}
	v, err := strconv.ParseInt(vh, 10, 64)
	if err != nil {
		return msg, false, fmt.Sprintf("%s: %s header %q is not a number", where, kafkaio.HeaderVersion, vh)
	}
	msg = profileMessage{version: v, value: m.Value, partition: m.Partition, offset: m.Offset}
	if m.Value == nil {
		return msg, true, "" // a tombstone: the version is in the header only
	}
	var body struct {
		Version *int64 `json:"version"`
	}
	if err := json.Unmarshal(m.Value, &body); err != nil || body.Version == nil || *body.Version != v {
		return msg, false, fmt.Sprintf("%s: %s header %d, value's version %v (%v): %s", where, kafkaio.HeaderVersion, v, body.Version, err, m.Value)
	}
	return msg, true, ""
}

// checkProfilesTopic checks what a consumer of cx.profiles ends with for
// the tenant: per key the message of the highest version. Jane's live
// profile must be the API's in every field but as_of, every id merged into
// it must forward to it, and there must be no other profile.
func checkProfilesTopic(t *testing.T, cfg pipeline.Config, tenant, base string, want profile.Profile) {
	t.Helper()
	var (
		latest   map[string]profileMessage
		n        int
		problems []string
		ties     []string
	)
	eventually(t, 30*time.Second, "cx.profiles: the final state and merged_into for every merged id", func() (bool, string) {
		latest, n, problems, ties = latestProfiles(t, cfg, tenant)
		m := latest[want.ProfileID]
		var missing []string
		for _, id := range want.MergedFrom {
			var merged profile.Merged
			if json.Unmarshal(latest[id].value, &merged) != nil || merged.MergedInto == "" {
				missing = append(missing, fmt.Sprintf("%s: %v", id, latest[id]))
			}
		}
		return m.version >= want.Version && len(missing) == 0,
			fmt.Sprintf("%d messages; %s: %v (want version %d); merged ids without merged_into: %v", n, want.ProfileID, m, want.Version, missing)
	})
	for _, p := range problems {
		t.Error("cx.profiles " + p)
	}
	for _, tie := range ties { // the announcer sends one message per key and call
		t.Error("cx.profiles " + tie)
	}

	// The profile as the API shows it now (the state has not changed since
	// the last message).
	code, body := get(t, base+want.ProfileID)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", want.ProfileID, code, body)
	}
	final := latest[want.ProfileID]
	api, topic := withoutAsOf(t, "API", body), withoutAsOf(t, "cx.profiles", final.value)
	if !reflect.DeepEqual(api, topic) {
		for _, k := range slices.Sorted(maps.Keys(union(api, topic))) {
			if !reflect.DeepEqual(api[k], topic[k]) {
				t.Errorf("cx.profiles final message for %s differs from the API in %s:\ncx.profiles: %s\nAPI:         %s",
					want.ProfileID, k, mustJSON(topic[k]), mustJSON(api[k]))
			}
		}
	}

	for _, id := range want.MergedFrom {
		var merged map[string]any
		if err := json.Unmarshal(latest[id].value, &merged); err != nil {
			t.Errorf("cx.profiles final message for merged id %s: %v", id, latest[id])
			continue
		}
		v, _ := merged["version"].(float64)
		if len(merged) != 2 || merged["merged_into"] != want.ProfileID || v < 1 || v != math.Trunc(v) {
			t.Errorf("cx.profiles final message for merged id %s: %s, want {\"merged_into\": %q, \"version\": >= 1}", id, latest[id].value, want.ProfileID)
		}
	}
	for k, m := range latest {
		if k != want.ProfileID && !slices.Contains(want.MergedFrom, k) {
			t.Errorf("cx.profiles: a final message for %s, neither the profile nor merged into it: %v", k, m)
		}
	}
	t.Logf("cx.profiles: %d messages of the tenant, %d keys; final version %d", n, len(latest), final.version)
}

// normalized is a profile's JSON as a generic value, without as_of.
func normalized(t *testing.T, p profile.Profile) map[string]any {
	t.Helper()
	return withoutAsOf(t, "profile", []byte(mustJSON(p)))
}

func withoutAsOf(t *testing.T, what string, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v: %s", what, err, b)
	}
	if _, ok := m["as_of"]; !ok {
		t.Errorf("%s: no as_of in %s", what, b)
	}
	delete(m, "as_of")
	return m
}

// sameButAsOf reports whether two message values are equal but for as_of.
func sameButAsOf(a, b []byte) bool {
	var x, y map[string]any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	delete(x, "as_of")
	delete(y, "as_of")
	return reflect.DeepEqual(x, y)
}

func union(a, b map[string]any) map[string]any {
	u := maps.Clone(a)
	maps.Copy(u, b)
	return u
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v (%v)", v, err)
	}
	return string(b)
}
