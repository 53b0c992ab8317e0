package tracking

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/golden"
)

// Every golden case is received at goldenNow by a write key of goldenSource.
var (
	goldenNow    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	goldenSource = Source{Tenant: "acme", Channel: "web"}
)

// TestGolden maps each testdata/golden/NAME.segment.json (a message, or a
// batch body when NAME starts with "batch") and compares the result with
// NAME.golden.json: the envelope, or {"errors": [...]} for a rejected
// message. Run with -update to rewrite the golden files, then review the
// diff.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "golden", "*.segment.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no golden inputs found")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".segment.json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var got any
			if strings.HasPrefix(name, "batch") {
				got = goldenBatch(t, body)
			} else {
				got = goldenResult(mapBody(body))
			}
			golden.JSON(t, filepath.Join("testdata", "golden", name+".golden.json"), got)
		})
	}
}

// mapBody is the whole path for one message: decode, map, prepare.
func mapBody(body []byte) (*event.Event, error) {
	m, err := DecodeMessage(body)
	if err != nil {
		return nil, err
	}
	return mapMessage(m)
}

func mapMessage(m *Message) (*event.Event, error) {
	e, err := Map(m, goldenSource, goldenNow)
	if err != nil {
		return nil, err
	}
	if err := Prepare(e, event.DefaultLimits()); err != nil {
		return nil, err
	}
	return e, nil
}

type goldenItem struct {
	Index  *int            `json:"index,omitempty"`
	Event  json.RawMessage `json:"event,omitempty"`
	Errors event.Errors    `json:"errors,omitempty"`
	Other  string          `json:"other_error,omitempty"`
}

func goldenResult(e *event.Event, err error) goldenItem {
	if err != nil {
		var es event.Errors
		if errors.As(err, &es) {
			return goldenItem{Errors: es}
		}
		return goldenItem{Other: err.Error()}
	}
	b, err := event.Encode(e)
	if err != nil {
		return goldenItem{Other: err.Error()}
	}
	return goldenItem{Event: b}
}

func goldenBatch(t *testing.T, body []byte) []goldenItem {
	t.Helper()
	b, err := DecodeBatch(body)
	if err != nil {
		return []goldenItem{goldenResult(nil, err)}
	}
	items := make([]goldenItem, len(b.Items))
	for i := range b.Items {
		var it goldenItem
		if m, err := b.Item(i); err != nil {
			it = goldenResult(nil, err)
		} else {
			it = goldenResult(mapMessage(m))
		}
		it.Index = &i
		items[i] = it
	}
	return items
}
