package redisstore

import (
	"slices"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
)

// NewItem builds the item for a prepared event read from source at offset:
// its usable identifiers strongest first under the policy (blocked values
// left out) and its profile updates under the model. ok is false when every
// identifier is blocked: such an event can join nobody.
//
// When the policy hashes identifier types, the item holds the hashes of
// their values (Policy.Pseudonymize); e is not changed. The resolver
// pseudonymises the event it publishes itself.
func NewItem(source string, offset int64, e *event.Event, policy *identity.Policy, model *profile.Model) (it Item, ok bool) {
	all := e.Identifiers
	if policy.HashesAny() {
		all = slices.Clone(all)
		policy.Pseudonymize(e.Tenant, all)
	}
	ids, _ := policy.Usable(all)
	if len(ids) == 0 {
		return Item{}, false
	}
	strs := make([]string, len(ids))
	for i, id := range ids {
		strs[i] = id.String()
	}
	return Item{
		Source:      source,
		Offset:      offset,
		EventID:     e.EventID,
		EventMS:     e.EventTime.UnixMilli(),
		Identifiers: strs,
		Updates:     model.Updates(e),
	}, true
}
