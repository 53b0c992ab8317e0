package collect

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/kafkaio"
)

const trackBody = `{"type":"track","messageId":"m-1","userId":"u-1","event":"Clicked"}`

func TestAuth(t *testing.T) {
	tests := []struct {
		name      string
		basic     string
		body      string
		code      int
		published int
	}{
		{"basic auth", "wk-web", trackBody, 200, 1},
		{"body writeKey", "", `{"writeKey":"wk-web","type":"track","messageId":"m","userId":"u","event":"E"}`, 200, 1},
		{"unknown basic key", "nope", trackBody, 401, 0},
		{"basic wins over body", "nope", `{"writeKey":"wk-web","type":"track","userId":"u","event":"E"}`, 401, 0},
		{"no key", "", trackBody, 401, 0},
		{"unknown body key", "", `{"writeKey":"nope","type":"track","userId":"u","event":"E"}`, 401, 0},
		{"malformed body without key", "", `{"writeKey":"wk-web",`, 401, 0},
		{"invalid body with body key", "", `{"writeKey":"wk-web","userId":true,"event":"E"}`, 400, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePublisher{}
			c, _ := newTestCollector(t, testConfig(), pub)
			w := post(t, c.Handler(), "/v1/track", tt.basic, []byte(tt.body))
			if w.Code != tt.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.code, w.Body)
			}
			if tt.code == 401 {
				if msg := decodeError(t, w).Error; strings.Contains(msg, "wk-web") || strings.Contains(msg, "nope") {
					t.Errorf("401 answer echoes the key: %s", msg)
				}
			}
			if got := len(pub.published()); got != tt.published {
				t.Errorf("published %d messages, want %d", got, tt.published)
			}
		})
	}
}

func TestEndpointsMapping(t *testing.T) {
	// The body says "identify"; each endpoint's type wins.
	body := `{"type":"identify","messageId":"m-1","userId":42,"previousId":"anon-1","groupId":"g-1",
		"event":"Clicked","name":"Home","properties":{"a":1},"traits":{"email":"Ann@Example.com"},
		"timestamp":"2026-03-01T11:00:00Z"}`
	tests := []struct {
		path     string
		typ      event.Type
		name     string
		key      string
		nIDs     int
		hasProps bool
	}{
		{"/v1/track", event.TypeTrack, "Clicked", "user_id:42", 3, true},
		{"/v1/identify", event.TypeIdentify, "", "user_id:42", 3, false},
		{"/v1/page", event.TypePage, "Home", "user_id:42", 3, true},
		{"/v1/screen", event.TypeScreen, "Home", "user_id:42", 3, true},
		{"/v1/alias", event.TypeAlias, "", "user_id:42", 3, false},
		{"/v1/group", event.TypeGroup, "", "user_id:42", 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			pub := &fakePublisher{}
			c, _ := newTestCollector(t, testConfig(), pub)
			w := post(t, c.Handler(), tt.path, "wk-store", []byte(body))
			if w.Code != 200 || w.Body.String() != successJSON {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			msgs := pub.published()
			if len(pub.calls) != 1 || len(msgs) != 1 {
				t.Fatalf("got %d calls, %d messages; want one of each", len(pub.calls), len(msgs))
			}
			m := msgs[0]
			if m.Topic != kafkaio.DefaultTopics().Interactions || string(m.Key) != tt.key {
				t.Errorf("topic %q key %q, want %q", m.Topic, m.Key, tt.key)
			}
			e, err := event.DecodePrepared(m.Value, event.DefaultLimits())
			if err != nil {
				t.Fatalf("published envelope is invalid: %v\n%s", err, m.Value)
			}
			if e.Type != tt.typ || e.Name != tt.name || e.EventID != "m-1" ||
				e.Tenant != "acme" || e.Channel != "store" || !e.ReceivedAt.Equal(testNow) ||
				len(e.Identifiers) != tt.nIDs || (len(e.Properties) > 0) != tt.hasProps {
				t.Errorf("unexpected envelope %s", m.Value)
			}
		})
	}
}

func TestSizeLimits(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageBytes = 1 << 10
	cfg.MaxBatchBytes = 4 << 10
	big := `{"type":"track","userId":"u","event":"E","properties":{"pad":"` + strings.Repeat("x", 2<<10) + `"}}`
	huge := `{"batch":[` + big + `,` + big + `]}`
	tests := []struct {
		name    string
		path    string
		body    []byte
		headers []string
		code    int
		setting string
	}{
		{"message over limit", "/v1/track", []byte(big), nil, 413, "max_message_bytes"},
		{"batch over limit", "/v1/batch", []byte(huge), nil, 413, "max_batch_bytes"},
		{"gzip bomb", "/v1/track", gzipBytes(t, bytes.Repeat([]byte(" "), 1<<20)), []string{"Content-Encoding", "gzip"}, 413, "max_message_bytes"},
		{"gzip over limit", "/v1/batch", gzipBytes(t, []byte(huge)), []string{"Content-Encoding", "gzip"}, 413, "max_batch_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePublisher{}
			c, _ := newTestCollector(t, cfg, pub)
			w := post(t, c.Handler(), tt.path, "wk-web", tt.body, tt.headers...)
			if w.Code != tt.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.code, w.Body)
			}
			if msg := decodeError(t, w).Error; !strings.Contains(msg, tt.setting) {
				t.Errorf("error %q does not name %s", msg, tt.setting)
			}
			if len(pub.calls) != 0 {
				t.Errorf("published %d calls for an over-size body", len(pub.calls))
			}
		})
	}

	t.Run("batch item over message limit", func(t *testing.T) {
		pub := &fakePublisher{}
		c, _ := newTestCollector(t, cfg, pub)
		body := `{"batch":[` + trackBody + `,` + big + `]}`
		w := post(t, c.Handler(), "/v1/batch", "wk-web", []byte(body))
		if w.Code != 400 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		eb := decodeError(t, w)
		if *eb.Accepted != 1 || len(eb.Errors) != 1 || eb.Errors[0].Index != 1 || !strings.Contains(eb.Errors[0].Reason, "max_message_bytes") {
			t.Errorf("unexpected answer %+v", eb)
		}
		msgs := pub.published()
		if len(msgs) != 2 || msgs[1].Topic != kafkaio.DefaultTopics().DeadLetter || len(msgs[1].Value) != cfg.MaxMessageBytes {
			t.Fatalf("want the valid item and a dead letter cut to %d bytes, got %d messages", cfg.MaxMessageBytes, len(msgs))
		}
	})
}

func TestBodyEncodings(t *testing.T) {
	tests := []struct {
		name    string
		body    []byte
		headers []string
		code    int
	}{
		{"gzip", gzipBytes(t, []byte(trackBody)), []string{"Content-Encoding", "gzip"}, 200},
		{"gzip upper case", gzipBytes(t, []byte(trackBody)), []string{"Content-Encoding", "GZIP"}, 200},
		{"identity", []byte(trackBody), []string{"Content-Encoding", "identity"}, 200},
		{"corrupt gzip", []byte("\x1f\x8b\x08\x00garbage"), []string{"Content-Encoding", "gzip"}, 400},
		{"truncated gzip", gzipBytes(t, []byte(trackBody))[:20], []string{"Content-Encoding", "gzip"}, 400},
		{"brotli", []byte(trackBody), []string{"Content-Encoding", "br"}, 415},
		{"text/plain like analytics.js", []byte(trackBody), []string{"Content-Type", "text/plain"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePublisher{}
			c, _ := newTestCollector(t, testConfig(), pub)
			w := post(t, c.Handler(), "/v1/track", "wk-web", tt.body, tt.headers...)
			if w.Code != tt.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.code, w.Body)
			}
		})
	}
}

func TestInvalidMessageIsDeadLettered(t *testing.T) {
	pub := &fakePublisher{}
	c, _ := newTestCollector(t, testConfig(), pub)
	body := []byte(`{"messageId":"m-9","event":"Clicked","traits":{"email":"nope"},"userId":"u"}`)
	w := post(t, c.Handler(), "/v1/track", "wk-web", body)
	if w.Code != 400 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	eb := decodeError(t, w)
	if len(eb.Errors) != 1 || eb.Errors[0] != (itemError{Index: 0, Field: "traits.email", Reason: "email must look like local@domain"}) {
		t.Errorf("errors %+v", eb.Errors)
	}
	msgs := pub.published()
	if len(msgs) != 1 {
		t.Fatalf("published %d messages, want the dead letter", len(msgs))
	}
	dl := msgs[0]
	if dl.Topic != kafkaio.DefaultTopics().DeadLetter || !bytes.Equal(dl.Value, body) {
		t.Errorf("dead letter on %q with value %s", dl.Topic, dl.Value)
	}
	for k, want := range map[string]string{
		kafkaio.HeaderStage:  "collector",
		kafkaio.HeaderTenant: "acme",
		kafkaio.HeaderError:  "traits.email: email must look like local@domain",
		headerEndpoint:       "/v1/track",
		headerChannel:        "web",
	} {
		if got := header(dl, k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
}

func TestPartialBatch(t *testing.T) {
	pub := &fakePublisher{}
	c, reg := newTestCollector(t, testConfig(), pub)
	bad := `{"type":"track","messageId":"b-2","userId":true,"event":"E"}`
	body := `{"sentAt":"2026-03-01T11:59:00Z","batch":[
		{"type":"track","messageId":"b-1","userId":"u-1","event":"E","timestamp":"2026-03-01T11:58:00Z"},
		` + bad + `,
		{"type":"identify","messageId":"b-3","anonymousId":"a-3","traits":{"email":"c@example.com"}},
		"not a message"]}`
	w := post(t, c.Handler(), "/v1/import", "wk-web", []byte(body))
	if w.Code != 400 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	eb := decodeError(t, w)
	if eb.Accepted == nil || *eb.Accepted != 2 || len(eb.Errors) != 2 || eb.Errors[0].Index != 1 || eb.Errors[0].Field != "userId" || eb.Errors[1].Index != 3 {
		t.Errorf("unexpected answer %s", w.Body)
	}
	if len(pub.calls) != 1 {
		t.Fatalf("%d publish calls, want one for valid items and dead letters together", len(pub.calls))
	}
	msgs := pub.calls[0]
	topics := kafkaio.DefaultTopics()
	wantTopics := []string{topics.Interactions, topics.DeadLetter, topics.Interactions, topics.DeadLetter}
	for i, m := range msgs {
		if i >= len(wantTopics) || m.Topic != wantTopics[i] {
			t.Fatalf("message %d on %q, want topics %v", i, m.Topic, wantTopics)
		}
	}
	if string(msgs[0].Key) != "user_id:u-1" || string(msgs[2].Key) != "email:c@example.com" {
		t.Errorf("keys %q, %q", msgs[0].Key, msgs[2].Key)
	}
	e, err := event.DecodePrepared(msgs[0].Value, event.DefaultLimits())
	if err != nil || !e.EventTime.Equal(testNow.Add(-time.Minute)) {
		t.Errorf("batch sentAt not applied: %v %s", err, msgs[0].Value)
	}
	if string(msgs[1].Value) != bad || header(msgs[1], headerIndex) != "1" {
		t.Errorf("dead letter %s index %q", msgs[1].Value, header(msgs[1], headerIndex))
	}
	if got := testutil.ToFloat64(c.metrics.events.WithLabelValues(resultAccepted)); got != 2 {
		t.Errorf("accepted events metric %v, want 2", got)
	}
	if got := testutil.ToFloat64(c.metrics.events.WithLabelValues(resultRejected)); got != 2 {
		t.Errorf("rejected events metric %v, want 2", got)
	}
	if n, err := testutil.GatherAndCount(reg, "cxstream_collector_requests_total", "cxstream_collector_publish_duration_seconds"); err != nil || n != 2 {
		t.Errorf("gathered %d series (%v), want a request counter and the histogram", n, err)
	}
}

func TestMalformedBodies(t *testing.T) {
	tests := []struct {
		name, path, body string
		deadLetter       bool
	}{
		{"single not JSON", "/v1/track", `{"type":`, true},
		{"single not an object", "/v1/track", `["track"]`, true},
		{"batch not JSON", "/v1/batch", `{"batch":[`, true},
		{"batch without batch", "/v1/batch", `{"type":"track"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePublisher{}
			c, _ := newTestCollector(t, testConfig(), pub)
			w := post(t, c.Handler(), tt.path, "wk-web", []byte(tt.body))
			if w.Code != 400 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			decodeError(t, w)
			msgs := pub.published()
			if len(msgs) != 1 || msgs[0].Topic != kafkaio.DefaultTopics().DeadLetter || string(msgs[0].Value) != tt.body {
				t.Errorf("want the raw body dead-lettered, got %d messages", len(msgs))
			}
		})
	}
}

func TestPublishFailure(t *testing.T) {
	for _, tt := range []struct{ name, path, body string }{
		{"valid message", "/v1/track", trackBody},
		{"dead letter only", "/v1/track", `{"event":"E"}`},
		{"batch", "/v1/batch", `{"batch":[` + trackBody + `]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePublisher{err: errors.New("kafka: leader not available")}
			c, _ := newTestCollector(t, testConfig(), pub)
			w := post(t, c.Handler(), tt.path, "wk-web", []byte(tt.body))
			if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" {
				t.Fatalf("status %d Retry-After %q: %s", w.Code, w.Header().Get("Retry-After"), w.Body)
			}
			if msg := decodeError(t, w).Error; strings.Contains(msg, "leader") {
				t.Errorf("503 answer leaks the internal error: %s", msg)
			}
		})
	}
}

func TestEmptyBatch(t *testing.T) {
	pub := &fakePublisher{}
	c, _ := newTestCollector(t, testConfig(), pub)
	w := post(t, c.Handler(), "/v1/batch", "wk-web", []byte(`{"batch":[]}`))
	if w.Code != 200 || len(pub.calls) != 0 {
		t.Fatalf("status %d, %d publish calls: %s", w.Code, len(pub.calls), w.Body)
	}
}

func TestRoutes(t *testing.T) {
	c, _ := newTestCollector(t, testConfig(), &fakePublisher{})
	h := c.Handler()
	tests := []struct {
		method, path string
		code         int
	}{
		{"GET", "/healthz", 200},
		{"GET", "/v1/track", 405},
		{"OPTIONS", "/v1/batch", 204},
		{"POST", "/v1/unknown", 404},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.path, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.code {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, w.Code, tt.code)
		}
		if tt.method == "OPTIONS" && w.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("preflight without Access-Control-Allow-Origin")
		}
	}
}

// TestAnalyticsJSPaths posts the way the browser library does: one-letter
// paths, text/plain, the write key in the body, sentAt on the batch only.
func TestAnalyticsJSPaths(t *testing.T) {
	pub := &fakePublisher{}
	c, _ := newTestCollector(t, testConfig(), pub)
	h := c.Handler()
	single := `{"writeKey":"wk-web","type":"page","messageId":"p-1","anonymousId":"a-1","name":"Home","sentAt":"2026-03-01T11:00:00Z","timestamp":"2026-03-01T11:00:00Z"}`
	if w := post(t, h, "/v1/p", "", []byte(single), "Content-Type", "text/plain"); w.Code != 200 {
		t.Fatalf("/v1/p: status %d: %s", w.Code, w.Body)
	}
	batch := `{"writeKey":"wk-web","sentAt":"2026-03-01T11:00:00Z","batch":[{"type":"track","messageId":"t-1","anonymousId":"a-1","event":"E","timestamp":"2026-03-01T10:59:00Z"}]}`
	if w := post(t, h, "/v1/b", "", []byte(batch), "Content-Type", "text/plain"); w.Code != 200 {
		t.Fatalf("/v1/b: status %d: %s", w.Code, w.Body)
	}
	msgs := pub.published()
	if len(msgs) != 2 {
		t.Fatalf("published %d messages, want 2", len(msgs))
	}
	for i, want := range []time.Time{testNow, testNow.Add(-time.Minute)} {
		e, err := event.DecodePrepared(msgs[i].Value, event.DefaultLimits())
		if err != nil || !e.EventTime.Equal(want) || e.Channel != "web" {
			t.Errorf("message %d: %v %s; want event_time %v", i, err, msgs[i].Value, want)
		}
	}
}
