package collect

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkBatch measures one /v1/batch request of 100 track calls through
// the handler (decode, map, validate, encode, key) with a publisher that
// returns at once: the collector's own cost per request.
func BenchmarkBatch(b *testing.B) {
	var body bytes.Buffer
	body.WriteString(`{"sentAt":"2026-03-01T11:59:00Z","batch":[`)
	for i := range 100 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"type":"track","messageId":"m-%d","userId":"u-%d","anonymousId":"a-%d","event":"Product Viewed","properties":{"sku":"SKU-%d","price":19.95},"context":{"ip":"203.0.113.7","traits":{"email":"user%d@example.com"}},"timestamp":"2026-03-01T11:58:00Z"}`, i, i, i, i, i)
	}
	body.WriteString(`]}`)
	c, err := New(testConfig(), defaultRules(), defaultTopics(), nopPublisher{}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := c.Handler()
	b.ReportAllocs()
	b.SetBytes(int64(body.Len()))
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/v1/batch", bytes.NewReader(body.Bytes()))
		r.SetBasicAuth("wk-web", "")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
