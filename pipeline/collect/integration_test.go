package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/kafkaio/kafkaiotest"
)

// kafkaTopics creates cxstream's topics under names unique to this test on
// the real broker, and deletes them when the test ends.
func kafkaTopics(t *testing.T) kafkaio.Config { return kafkaiotest.Config(t, 2) }

// collectorServer runs a collector publishing to the real Kafka of cfg
// behind an httptest server.
func collectorServer(t *testing.T, cfg kafkaio.Config) *httptest.Server {
	t.Helper()
	w := kafkaio.NewWriter(cfg)
	t.Cleanup(func() { _ = w.Close() })
	c, err := New(testConfig(), identity.DefaultRules(), cfg.Topics, w, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// readTopic reads n messages from topic with a fresh consumer group.
func readTopic(t *testing.T, cfg kafkaio.Config, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafkaio.NewReader(cfg, fmt.Sprintf("test-collect-%016x", rand.Uint64()), topic)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var msgs []kafka.Message
	for len(msgs) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("read %s: got %d of %d messages: %v", topic, len(msgs), n, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func TestIntegrationCollectorPublishes(t *testing.T) {
	cfg := kafkaTopics(t)
	srv := collectorServer(t, cfg)

	invalid := `{"type":"track","messageId":"it-4","userId":"u-4"}`
	batch := `{"sentAt":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","batch":[
		{"type":"track","messageId":"it-1","userId":1001,"event":"Order Completed","properties":{"revenue":10}},
		{"type":"identify","messageId":"it-2","anonymousId":"anon-2","traits":{"email":"Ann@Example.com"}},
		{"type":"page","messageId":"it-3","anonymousId":"anon-3","name":"Home"},
		` + invalid + `]}`
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/batch", bytes.NewReader(gzipBytes(t, []byte(batch))))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("wk-store", "")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var answer errorBody
	if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &answer) != nil ||
		answer.Accepted == nil || *answer.Accepted != 3 || len(answer.Errors) != 1 || answer.Errors[0].Index != 3 {
		t.Fatalf("status %d: %s; want 400 with 3 accepted and item 3 rejected", resp.StatusCode, body)
	}

	wantKeys := map[string]string{
		"it-1": "user_id:1001",
		"it-2": "email:ann@example.com",
		"it-3": "anonymous_id:anon-3",
	}
	for _, m := range readTopic(t, cfg, cfg.Topics.Interactions, len(wantKeys)) {
		e, err := event.DecodePrepared(m.Value, event.DefaultLimits())
		if err != nil {
			t.Fatalf("envelope on %s is invalid: %v\n%s", m.Topic, err, m.Value)
		}
		want, ok := wantKeys[e.EventID]
		if !ok {
			t.Fatalf("unexpected or repeated event %s", e.EventID)
		}
		delete(wantKeys, e.EventID)
		if string(m.Key) != want || e.Tenant != "acme" || e.Channel != "store" {
			t.Errorf("event %s: key %q tenant %q channel %q, want key %q acme/store", e.EventID, m.Key, e.Tenant, e.Channel, want)
		}
	}
	dl := readTopic(t, cfg, cfg.Topics.DeadLetter, 1)[0]
	if string(dl.Value) != invalid || header(dl, kafkaio.HeaderStage) != "collector" ||
		header(dl, kafkaio.HeaderTenant) != "acme" || header(dl, kafkaio.HeaderError) != "event: required for track calls" {
		t.Errorf("dead letter %s with headers %v", dl.Value, dl.Headers)
	}
}
