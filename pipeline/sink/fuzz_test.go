package sink

import (
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/kafkaio"
)

// FuzzDecodeProfile: any cx.profiles message (key, value, tenant and
// version headers) either decodes into a snapshot that cx_profile_snapshots
// accepts (chstore.CheckSnapshot), a profile's segments never nil, or fails with
// an error naming a field; it never panics.
func FuzzDecodeProfile(f *testing.F) {
	f.Add("p1", []byte(`{"profile_id":"p1","tenant":"acme","version":3,"as_of":"2026-03-12T18:20:00Z","segments":["vip"],"transactional":{"orders":2}}`), "acme", "3")
	f.Add("p1", []byte(`{"merged_into":"p2","version":4}`), "acme", "4")
	f.Add("p1", []byte(``), "acme", "5")
	f.Add("", []byte(`{"segments":"vip"}`), "", "x")
	f.Add("p1", []byte(`null`), "acme", "-1")
	f.Fuzz(func(t *testing.T, key string, value []byte, tenant, version string) {
		m := kafka.Message{Key: []byte(key), Value: value, Headers: []kafka.Header{
			{Key: kafkaio.HeaderTenant, Value: []byte(tenant)}, {Key: kafkaio.HeaderVersion, Value: []byte(version)}}}
		s, err := decodeProfile(m)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if err := chstore.CheckSnapshot(s); err != nil {
			t.Fatalf("decoded %q into a snapshot the table rejects: %v", value, err)
		}
		if s.Current() && s.Segments == nil {
			t.Fatalf("decoded profile %q with nil segments", value)
		}
	})
}

// FuzzDecodeTimeline: cx.timeline and cx.identity values decode or fail;
// never panic.
func FuzzDecodeTimeline(f *testing.F) {
	f.Add([]byte(`{"profile_id":"p1","event_id":"e1","tenant":"t1","channel":"web","type":"track","event_time":"2026-03-12T18:20:00Z","identifiers":[{"type":"email","value":"a@b.c"}]}`))
	f.Add([]byte(`{"kind":"merged","tenant":"t1","profile_id":"p2","aliases":["p1"],"version":7}`))
	f.Fuzz(func(t *testing.T, value []byte) {
		_, _ = decodeEvent(value)
		_, _ = decodeRecord(value)
	})
}
