package collect

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/kafkaio"
)

// FuzzCollector posts arbitrary bodies to the Segment endpoints and the
// channel endpoints. Whatever the body: the collector never panics; a 200
// means every message became a valid envelope and nothing was rejected; a
// 400 dead-lettered what it rejected; every published envelope passes the
// resolver's validation; no other status than 200, 400 and 413 is given
// for a body with a valid write key.
func FuzzCollector(f *testing.F) {
	f.Add(uint8(0), []byte(`{"userId":"u1","event":"Clicked","messageId":"m1"}`))
	f.Add(uint8(2), []byte(`{"batch":[{"type":"track","userId":"u1","event":"E"},{"type":"identify","anonymousId":"a","traits":{"email":"x@y.co"}}]}`))
	samples, _ := filepath.Glob(filepath.Join("..", "..", "schemas", "mappings", "samples", "*.json"))
	for _, s := range samples {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(uint8(3), b)
		}
	}
	targets := []struct{ path, key, contentType string }{
		{"/v1/track", "wk-web", "application/json"},
		{"/v1/identify", "wk-web", "application/json"},
		{"/v1/batch", "wk-web", "application/json"},
		{"/v1/channels/helpdesk", "wk-call_center", "application/json"},
		{"/v1/channels/email", "wk-email", "application/json"},
		{"/v1/channels/survey", "wk-survey", "application/x-ndjson"},
		{"/v1/channels/social", "wk-social", "application/json"},
		{"/v1/channels/pos", "wk-store", "text/csv"},
	}
	topics := kafkaio.DefaultTopics()
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		tg := targets[int(which)%len(targets)]
		pub := &fakePublisher{}
		c := newChannelCollector(t, pub)
		w := postChannel(t, c.Handler(), tg.path, tg.key, tg.contentType, body)
		var envelopes, dead int
		for _, m := range pub.published() {
			if m.Topic == topics.DeadLetter {
				dead++
				continue
			}
			envelopes++
			e, err := event.Decode(m.Value)
			if err == nil {
				err = event.Prepare(e, event.DefaultLimits())
			}
			if err != nil {
				t.Fatalf("%s: published an envelope the resolver rejects: %v\n%s", tg.path, err, m.Value)
			}
		}
		switch w.Code {
		case 200:
			if dead > 0 {
				t.Fatalf("%s: 200 with %d dead letters", tg.path, dead)
			}
		case 400:
			if dead == 0 {
				t.Fatalf("%s: 400 without a dead letter: %s", tg.path, w.Body)
			}
		case 413:
			if envelopes+dead > 0 {
				t.Fatalf("%s: 413 but published", tg.path)
			}
		default:
			t.Fatalf("%s: status %d: %s", tg.path, w.Code, w.Body)
		}
	})
}
