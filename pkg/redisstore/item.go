package redisstore

import (
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
)

// NewItem builds the item for a prepared event read from source at offset:
// identifiers strongest first under rules, the candidate id of a profile
// the event may create, and the event's profile updates.
func NewItem(source string, offset int64, e *event.Event, rules identity.Rules) Item {
	ids := make([]event.Identifier, len(e.Identifiers))
	copy(ids, e.Identifiers)
	rules.Sort(ids)
	strs := make([]string, len(ids))
	for i, id := range ids {
		strs[i] = id.String()
	}
	return Item{
		Source:      source,
		Offset:      offset,
		EventID:     e.EventID,
		EventMS:     e.EventTime.UnixMilli(),
		CandidateID: identity.CandidateID(e.Tenant, e.EventID),
		Identifiers: strs,
		Updates:     profile.Updates(e),
	}
}
