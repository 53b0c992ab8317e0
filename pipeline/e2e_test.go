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
	"net"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pipeline/api"
	"github.com/cxstream/cxstream/pipeline/collect"
	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/chstore/chstoretest"
	"github.com/cxstream/cxstream/pkg/kafkaio/kafkaiotest"
	"github.com/cxstream/cxstream/pkg/profile"
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
	cfg.ClickHouse.Addr = testenv.ClickHouse(t)
	cfg.ClickHouse.Database = "cxstream_e2e_" + suffix
	cfg.Resolver.Group += "-" + suffix
	cfg.Sink.Group += "-" + suffix
	cfg.Sink.FlushInterval = 200 * time.Millisecond
	tenant := "e2e-" + suffix
	for _, ch := range []string{"web", "mobile", "store"} {
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
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// One person browses anonymously on the web, identifies with an email on
// mobile, and buys in a store with a phone number linked to that email.
// Events reach the pipeline before the links that connect them, so the
// pipeline must merge profiles; it must end with ONE profile, the whole
// timeline under it, and the profile on cx.profiles.
func TestIntegrationEndToEndOneCustomerAcrossChannels(t *testing.T) {
	cfg, suffix := testConfig(t)
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

	base := "http://" + cfg.API.Addr + "/v1/profiles/"
	var p profile.Profile
	eventually(t, time.Minute, "one profile with all six events", func() (bool, string) {
		code := getJSON(t, base+"email:JANE.DOE@example.com", &p)
		return code == http.StatusOK && p.Behavioral.Events == 6 && len(p.Identifiers["phone"]) == 1, fmt.Sprintf("%d %+v", code, p)
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
	if p.Behavioral.Channels["web"] != 3 || p.Behavioral.Channels["mobile"] != 1 || p.Behavioral.Channels["store"] != 2 {
		t.Errorf("channels = %v", p.Behavioral.Channels)
	}
	if len(p.MergedFrom) == 0 {
		t.Error("expected merges: the phone-only and app profiles were created before the links")
	}
	if string(p.Traits["loyalty_tier"]) != `"silver"` || string(p.Traits["name"]) != `"Jane Doe"` {
		t.Errorf("traits = %v", p.Traits)
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
	eventually(t, time.Minute, "timeline with six events", func() (bool, string) {
		code := getJSON(t, base+"email:jane.doe@example.com/events", &page)
		return code == http.StatusOK && len(page.Events) == 6, fmt.Sprintf("%d, %d events", code, len(page.Events))
	})
	recorded := map[string]bool{}
	channels := map[string]int{}
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
	if channels["web"] != 3 || channels["mobile"] != 1 || channels["store"] != 2 {
		t.Errorf("timeline channels = %v", channels)
	}
	var filtered chstore.TimelinePage
	if code := getJSON(t, base+p.ProfileID+"/events?channel=store", &filtered); code != http.StatusOK || len(filtered.Events) != 2 {
		t.Errorf("channel filter: %d, %d events, want 2", code, len(filtered.Events))
	}
	if code := getJSON(t, base+"email:nobody@example.com", &p); code != http.StatusNotFound {
		t.Errorf("unknown identifier: %d, want 404", code)
	}

	// cx.profiles carries the final state and the merged-away ids.
	readProfiles(t, cfg, p)
}

func readProfiles(t *testing.T, cfg pipeline.Config, want profile.Profile) {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Kafka.Brokers, GroupID: "e2e-reader-" + cfg.Kafka.Topics.Profiles,
		Topic: cfg.Kafka.Topics.Profiles, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	latest := map[string][]byte{}
	done := func() bool {
		var got profile.Profile
		if json.Unmarshal(latest[want.ProfileID], &got) != nil || got.Behavioral.Events != want.Behavioral.Events {
			return false
		}
		for _, id := range want.MergedFrom {
			var merged profile.Merged
			if json.Unmarshal(latest[id], &merged) != nil || merged.MergedInto != want.ProfileID {
				return false
			}
		}
		return true
	}
	for !done() {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("cx.profiles: final state of %s and merged_into for %v not seen: %v (latest for the profile: %s)",
				want.ProfileID, want.MergedFrom, err, latest[want.ProfileID])
		}
		latest[string(m.Key)] = m.Value
	}
}
