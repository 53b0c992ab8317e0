// Package identity holds the identity rules (which identifier types exist and
// how strongly each identifies a person) and the records of the identity log
// that cx.identity carries. Resolution itself runs atomically in Redis
// (pkg/redisstore); this package is pure.
package identity

import (
	"fmt"
	"sort"

	"github.com/google/uuid"

	"github.com/cxstream/cxstream/pkg/event"
)

// TypeRule is the rule for one identifier type.
type TypeRule struct {
	// Priority orders identifier types from strongest (highest) to weakest.
	// The strongest identifier of an event keys it on cx.interactions.
	Priority int `yaml:"priority" json:"priority"`
}

// Rules are the identity rules of a deployment.
type Rules struct {
	// Types maps identifier type to its rule; types not listed get
	// DefaultPriority.
	Types           map[string]TypeRule `yaml:"types" json:"types"`
	DefaultPriority int                 `yaml:"default_priority" json:"default_priority"`
}

// DefaultRules ranks user_id over email over phone over loyalty and device ids
// over anonymous ids, close to Segment's defaults.
func DefaultRules() Rules {
	return Rules{
		Types: map[string]TypeRule{
			event.IDUserID:      {Priority: 100},
			event.IDEmail:       {Priority: 90},
			event.IDPhone:       {Priority: 80},
			"loyalty_id":        {Priority: 70},
			event.IDDeviceID:    {Priority: 40},
			event.IDAnonymousID: {Priority: 30},
		},
		DefaultPriority: 50,
	}
}

// Validate checks the rules.
func (r Rules) Validate() error {
	for typ, rule := range r.Types {
		if rule.Priority < 0 {
			return fmt.Errorf("identity rule %q: priority must be >= 0, got %d", typ, rule.Priority)
		}
	}
	return nil
}

// Priority returns the priority of an identifier type.
func (r Rules) Priority(typ string) int {
	if rule, ok := r.Types[typ]; ok {
		return rule.Priority
	}
	return r.DefaultPriority
}

// Sort orders identifiers strongest first; equal priorities order by type and
// value so that the order is deterministic.
func (r Rules) Sort(ids []event.Identifier) {
	sort.SliceStable(ids, func(i, j int) bool {
		pi, pj := r.Priority(ids[i].Type), r.Priority(ids[j].Type)
		if pi != pj {
			return pi > pj
		}
		if ids[i].Type != ids[j].Type {
			return ids[i].Type < ids[j].Type
		}
		return ids[i].Value < ids[j].Value
	})
}

// Strongest returns the highest-priority identifier, the Kafka key of an
// event on cx.interactions. ok is false when ids is empty.
func (r Rules) Strongest(ids []event.Identifier) (id event.Identifier, ok bool) {
	for i, c := range ids {
		if i == 0 || r.Priority(c.Type) > r.Priority(id.Type) ||
			(r.Priority(c.Type) == r.Priority(id.Type) && c.String() < id.String()) {
			id = c
		}
	}
	return id, len(ids) > 0
}

// namespace is the UUID namespace of cxstream profile ids.
var namespace = uuid.MustParse("6f1c3c8e-2b7a-5d1e-9a43-0c5d2f7e8b10")

// CandidateID is the id of the profile an event creates when none of its
// identifiers is known: a UUID v5 of tenant and event id, so that
// reprocessing the same events yields the same profile ids.
func CandidateID(tenant, eventID string) string {
	return uuid.NewSHA1(namespace, []byte(tenant+"/"+eventID)).String()
}
