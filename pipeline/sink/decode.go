package sink

import (
	"encoding/json"
	"fmt"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
)

// decodeEvent parses a cx.timeline message and checks that cx_events can
// store it. An error means the message can never be inserted: it goes to the
// dead-letter topic. Error texts name fields, never values.
func decodeEvent(b []byte) (event.Resolved, error) {
	var r event.Resolved
	if err := json.Unmarshal(b, &r); err != nil {
		return event.Resolved{}, fmt.Errorf("decode timeline event: %w", err)
	}
	if err := chstore.CheckEvent(r); err != nil {
		return event.Resolved{}, fmt.Errorf("invalid timeline event: %w", err)
	}
	return r, nil
}

// decodeRecord parses a cx.identity message and checks that cx_identity can
// store it.
func decodeRecord(b []byte) (identity.Record, error) {
	var rec identity.Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return identity.Record{}, fmt.Errorf("decode identity record: %w", err)
	}
	if err := chstore.CheckRecord(rec); err != nil {
		return identity.Record{}, fmt.Errorf("invalid identity record: %w", err)
	}
	return rec, nil
}
