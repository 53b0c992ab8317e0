package identity

import "time"

// Kind is what happened in the identity graph.
type Kind string

// The kinds of identity records.
const (
	// KindCreated: a new profile was created for an event none of whose
	// identifiers were known.
	KindCreated Kind = "profile_created"
	// KindLinked: an identifier was attached to a profile for the first time.
	KindLinked Kind = "identifier_linked"
	// KindMerged: an event's identifiers belonged to two profiles; the younger
	// (FromProfileID) was merged into the older (ProfileID).
	KindMerged Kind = "profiles_merged"
)

// Record is one entry of the identity log: the value of a cx.identity message
// and a row of the ClickHouse table cx_identity. Records say why the graph
// looks the way it does: which event, which identifier, when.
type Record struct {
	Kind      Kind   `json:"kind"`
	Tenant    string `json:"tenant"`
	ProfileID string `json:"profile_id"`
	// FromProfileID is the merged-away profile (KindMerged).
	FromProfileID string `json:"from_profile_id,omitempty"`
	// Identifier is "type:value" (KindLinked, and the identifiers that caused
	// a merge are the event's; see EventID).
	Identifier string `json:"identifier,omitempty"`
	// Aliases lists every profile id that now forwards to ProfileID because
	// of this merge: FromProfileID and the ids merged into it earlier.
	Aliases []string `json:"aliases,omitempty"`
	// EventID is the event that caused the change.
	EventID string `json:"event_id"`
	// At is the event time of that event.
	At time.Time `json:"at"`
}
