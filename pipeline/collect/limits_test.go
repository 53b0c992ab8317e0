package collect

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pipeline/internal/limit"
)

// blockingPublisher holds every publish until release is closed.
type blockingPublisher struct {
	entered chan struct{}
	release chan struct{}
}

func (p *blockingPublisher) WriteMessages(ctx context.Context, _ ...kafka.Message) error {
	p.entered <- struct{}{}
	<-p.release
	return nil
}

func TestRateLimitPerWriteKey(t *testing.T) {
	cfg := testConfig()
	cfg.RateLimit = limit.Rate{PerSecond: 0.001, Burst: 2}
	c, _ := newTestCollector(t, cfg, nopPublisher{})
	h := c.Handler()
	body := []byte(`{"messageId": "m1", "anonymousId": "a1", "event": "Viewed"}`)
	for i := range 2 {
		if w := post(t, h, "/v1/track", "wk-web", body); w.Code != http.StatusOK {
			t.Fatalf("request %d within the burst: %d %s", i+1, w.Code, w.Body)
		}
	}
	w := post(t, h, "/v1/track", "wk-web", body)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || !strings.Contains(decodeError(t, w).Error, "collector.rate_limit") {
		t.Errorf("past the burst: %d, Retry-After %q, %s; want 429 with Retry-After naming collector.rate_limit", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	// The channel endpoint draws from the same key's bucket; another key has its own.
	if w := post(t, h, "/v1/channels/pos", "wk-store", []byte(`[]`)); w.Code == http.StatusTooManyRequests {
		t.Errorf("another write key was limited: %d %s", w.Code, w.Body)
	}
	// An unknown key is refused as such, never counted against a bucket.
	if w := post(t, h, "/v1/track", "wk-nope", body); w.Code != http.StatusUnauthorized {
		t.Errorf("unknown key: %d, want 401", w.Code)
	}
}

func TestMaxInFlight(t *testing.T) {
	cfg := testConfig()
	cfg.MaxInFlight = 2
	pub := &blockingPublisher{entered: make(chan struct{}, 2), release: make(chan struct{})}
	c, _ := newTestCollector(t, cfg, pub)
	h := c.Handler()
	body := []byte(`{"messageId": "m1", "anonymousId": "a1", "event": "Viewed"}`)
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 {
		wg.Go(func() { codes <- post(t, h, "/v1/track", "wk-web", body).Code })
	}
	<-pub.entered
	<-pub.entered // both slots held, publishing
	w := post(t, h, "/v1/track", "wk-web", body)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" || !strings.Contains(decodeError(t, w).Error, "max_in_flight") {
		t.Errorf("a third request while two are in flight: %d %s, want 503 with Retry-After naming max_in_flight", w.Code, w.Body)
	}
	close(pub.release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("a request in flight ended %d", code)
		}
	}
	pub.entered = make(chan struct{}, 1)
	if w := post(t, h, "/v1/track", "wk-web", body); w.Code != http.StatusOK {
		t.Errorf("after the slots were released: %d %s", w.Code, w.Body)
	}
}
