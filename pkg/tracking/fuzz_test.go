package tracking

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/cxstream/cxstream/pkg/event"
)

// FuzzDecodeAndMap feeds arbitrary bodies through the whole path, as a
// single message and as a batch. It must never panic, and every event it
// accepts must be a valid envelope: one that event.DecodePrepared accepts
// after encoding, unchanged.
func FuzzDecodeAndMap(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.segment.json"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"type":"track","userId":1e2,"event":"x","context":{"externalIds":[{"id":1,"type":"A"}]}}`))
	f.Add([]byte(`{"batch":[{"type":"alias","userId":"a","previousId":"b"}],"context":{"traits":{"phone":"+4930123456"}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if m, err := DecodeMessage(body); err == nil {
			checkAccepted(t, m)
		}
		if b, err := DecodeBatch(body); err == nil {
			for i := range b.Items {
				if m, err := b.Item(i); err == nil {
					checkAccepted(t, m)
				}
			}
		}
	})
}

func checkAccepted(t *testing.T, m *Message) {
	t.Helper()
	e, err := mapMessage(m)
	if err != nil {
		if _, ok := err.(event.Errors); !ok {
			t.Fatalf("rejection is not an event.Errors: %T %v", err, err)
		}
		return
	}
	b, err := event.Encode(e)
	if err != nil {
		t.Fatalf("encode accepted event: %v", err)
	}
	again, err := event.DecodePrepared(b, event.DefaultLimits())
	if err != nil {
		t.Fatalf("accepted event does not validate: %v\n%s", err, b)
	}
	b2, err := event.Encode(again)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Fatalf("accepted event changes when prepared again:\n%s\n%s", b, b2)
	}
}
