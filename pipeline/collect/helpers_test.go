package collect

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
)

// testNow is when every unit-test request is received.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakePublisher records what the collector publishes, call by call, and
// fails every call with err when it is set.
type fakePublisher struct {
	mu    sync.Mutex
	calls [][]kafka.Message
	err   error
}

func (p *fakePublisher) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.calls = append(p.calls, append([]kafka.Message(nil), msgs...))
	return nil
}

// published returns every message published so far, in order.
func (p *fakePublisher) published() []kafka.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	var all []kafka.Message
	for _, c := range p.calls {
		all = append(all, c...)
	}
	return all
}

// nopPublisher accepts everything at once.
type nopPublisher struct{}

func (nopPublisher) WriteMessages(context.Context, ...kafka.Message) error { return nil }

func defaultRules() identity.Rules  { return identity.DefaultRules() }
func defaultTopics() kafkaio.Topics { return kafkaio.DefaultTopics() }

func testConfig() Config {
	cfg := Default()
	cfg.WriteKeys = []WriteKey{
		{Key: "wk-web", Tenant: "acme", Channel: "web"},
		{Key: "wk-store", Tenant: "acme", Channel: "store"},
	}
	return cfg
}

func newTestCollector(t *testing.T, cfg Config, pub Publisher) (*Collector, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := New(cfg, identity.DefaultRules(), kafkaio.DefaultTopics(), pub, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return testNow }
	return c, reg
}

// post sends body to path with the write key as HTTP Basic user (none when
// key is empty) and returns the recorded response.
func post(t *testing.T, h http.Handler, path, key string, body []byte, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if key != "" {
		r.SetBasicAuth(key, "")
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decodeError parses an error answer.
func decodeError(t *testing.T, w *httptest.ResponseRecorder) errorBody {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("answer %d is not a JSON error: %v: %s", w.Code, err, w.Body)
	}
	if b.Error == "" {
		t.Fatalf("answer %d has no error message: %s", w.Code, w.Body)
	}
	return b
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
