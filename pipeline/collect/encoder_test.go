package collect

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/tracking"
)

// The encoder gives what the tracking endpoints publish: the envelope
// keyed by its strongest usable identifier, trait operations applied, and
// the collector's rejections with the field and reason.
func TestEncoder(t *testing.T) {
	enc, err := NewEncoder(identity.DefaultRules(), kafkaio.Default().Topics, event.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 12, 18, 20, 0, 0, time.UTC)
	src := tracking.Source{Tenant: "acme", Channel: "web"}
	encode := func(body string) (*event.Event, string, error) {
		m, err := tracking.DecodeMessage([]byte(body))
		if err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
		km, err := enc.Encode(m, src, now)
		if err != nil {
			return nil, "", err
		}
		if km.Topic != "cx.interactions" {
			t.Errorf("topic %s", km.Topic)
		}
		e, err := event.Decode(km.Value)
		if err != nil {
			t.Fatalf("the encoded value does not decode: %v", err)
		}
		return e, string(km.Key), nil
	}

	e, key, err := encode(`{"type":"track","event":"Order Completed","messageId":"m1","userId":"u-1","anonymousId":"a-1",
		"timestamp":"2026-03-12T18:19:00Z","properties":{"revenue":20}}`)
	if err != nil {
		t.Fatal(err)
	}
	if key != "user_id:u-1" || e.EventID != "m1" || e.Tenant != "acme" || e.Channel != "web" || e.Name != "Order Completed" ||
		!e.ReceivedAt.Equal(now) || len(e.Identifiers) != 2 {
		t.Errorf("key %s, envelope %+v", key, e)
	}

	e, _, err = encode(`{"type":"identify","messageId":"m2","userId":"u-1","traits":{"$increment":{"visits":2},"plan":"pro"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if string(e.TraitsIncrement["visits"]) != "2" || string(e.Traits["plan"]) != `"pro"` {
		t.Errorf("trait operations not applied: %+v", e)
	}

	// A junk-only message and a track without a name are rejected, naming the field.
	for body, field := range map[string]string{
		`{"type":"track","event":"Viewed","anonymousId":"undefined"}`: "anonymousId",
		`{"type":"track","userId":"u-1"}`:                             "event",
	} {
		_, _, err := encode(body)
		var fe event.Errors
		if !errors.As(err, &fe) || len(fe) == 0 || !strings.Contains(fe[0].Field, field) {
			t.Errorf("%s: error %v, want one naming %s", body, err, field)
		}
	}
}
