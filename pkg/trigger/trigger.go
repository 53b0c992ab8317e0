package trigger

import (
	"time"

	"github.com/google/uuid"

	"github.com/cxstream/cxstream/pkg/profile"
)

// Type is what a trigger says happened.
type Type string

// The trigger types. schemas/trigger.schema.json lists the same values.
const (
	TypeSegmentEntered   Type = "segment.entered"
	TypeSegmentExited    Type = "segment.exited"
	TypeLifecycleChanged Type = "lifecycle.changed"
	TypeCartAbandoned    Type = "cart.abandoned"
	TypeFollowUp         Type = "follow_up"
	TypeNegativeFeedback Type = "alert.negative_feedback"
)

// Types lists every trigger type, in the order above.
var Types = []Type{TypeSegmentEntered, TypeSegmentExited, TypeLifecycleChanged, TypeCartAbandoned, TypeFollowUp,
	TypeNegativeFeedback}

// Known reports whether t is one of Types.
func (t Type) Known() bool {
	switch t {
	case TypeSegmentEntered, TypeSegmentExited, TypeLifecycleChanged, TypeCartAbandoned, TypeFollowUp,
		TypeNegativeFeedback:
		return true
	}
	return false
}

// Trigger is the value of a cx.triggers message (key: profile_id; headers:
// see Headers): something about one customer that a downstream system
// (marketing automation, a service desk) may act on. Exactly one of the
// type-specific fields is set, the one its Type names.
type Trigger struct {
	// TriggerID is ID(Tenant, key) for a key that names the occurrence (see
	// the package comment): a republished trigger keeps its id, and
	// consumers drop ids they have seen.
	TriggerID string `json:"trigger_id"`
	Type      Type   `json:"type"`
	Tenant    string `json:"tenant"`
	ProfileID string `json:"profile_id"`
	// At is when the trigger fired: the event time of the feedback, the due
	// time of a cart or follow-up, the as-of time of the profile state that
	// entered a segment or stage. It never depends on when it was computed,
	// so a republished trigger says the same.
	At time.Time `json:"at"`
	// Reason says in words why the trigger fired.
	Reason string `json:"reason"`
	// Purpose is the consent purpose the trigger serves ("" for none); it
	// was checked against the profile's consent before publishing.
	Purpose string  `json:"purpose"`
	Contact Contact `json:"contact"`
	// ProfileVersion is the version of the profile state the trigger was
	// built from (profile.Profile.Version).
	ProfileVersion int64 `json:"profile_version"`

	Segment   *SegmentChange   `json:"segment,omitempty"`
	Lifecycle *LifecycleChange `json:"lifecycle,omitempty"`
	Cart      *Cart            `json:"cart,omitempty"`
	FollowUp  *FollowUp        `json:"follow_up,omitempty"`
	Alert     *Alert           `json:"alert,omitempty"`
}

// SegmentChange is the segment a customer entered or left.
type SegmentChange struct {
	Name string `json:"name"`
	// Description says what the segment means, in words: its
	// configured description (segment.Segment.Description), if any.
	Description string `json:"description,omitempty"`
	// MergedInto is set on the segment.exited of a profile merged into
	// another: the merged-away id leaves its segments, and the profile it
	// was merged into enters (or stays in) them under its own id.
	MergedInto string `json:"merged_into,omitempty"`
}

// LifecycleChange is a move between lifecycle stages
// (profile.Derived.Lifecycle: new, active, at_risk, churned).
type LifecycleChange struct {
	// From is "" for a profile seen for the first time.
	From string `json:"from"`
	To   string `json:"to"`
}

// namespace is the UUID namespace of trigger ids.
var namespace = uuid.MustParse("3d9a4c71-8e2f-5b60-a1c4-7f02e9b5d318")

// ID returns the trigger id for a dedup key: a UUID v5 of tenant and key.
// The same tenant and key always give the same id; tenants never contain
// "/", so distinct pairs give distinct names.
func ID(tenant, key string) string {
	return uuid.NewSHA1(namespace, []byte(tenant+"/"+key)).String()
}

// New returns a trigger of the given type about p with the fields every
// type has; the caller sets the type-specific one. key names the
// occurrence (see the package comment); at is truncated to milliseconds
// and shown in UTC, as profiles show times.
func New(typ Type, key string, p *profile.Profile, at time.Time, reason, purpose string) *Trigger {
	return &Trigger{
		TriggerID:      ID(p.Tenant, key),
		Type:           typ,
		Tenant:         p.Tenant,
		ProfileID:      p.ProfileID,
		At:             at.UTC().Truncate(time.Millisecond),
		Reason:         reason,
		Purpose:        purpose,
		Contact:        ContactOf(p),
		ProfileVersion: p.Version,
	}
}

// Header is one Kafka message header. It has the fields of kafka-go's
// kafka.Header, so kafka.Header(h) converts it; this package stays free of
// Kafka.
type Header struct {
	Key   string
	Value []byte
}

// Header names on cx.triggers messages. HeaderTenant is the name
// kafkaio.HeaderTenant has on the other topics.
const (
	HeaderTenant = "cx-tenant"
	HeaderType   = "cx-trigger-type"
)

// Headers returns the headers of t's cx.triggers message: the tenant and
// the type, so consumers can route without decoding the value.
func (t *Trigger) Headers() []Header {
	return []Header{
		{Key: HeaderTenant, Value: []byte(t.Tenant)},
		{Key: HeaderType, Value: []byte(t.Type)},
	}
}
