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
	// KindBlocked: an identifier of an event was not joined to the event's
	// profile (ProfileID) because a rule forbids it (Rule). Identifier is
	// the dropped identifier, FromProfileID the profile it belongs to (''
	// if it belongs to none), Identifiers all identifiers of the event.
	KindBlocked Kind = "merge_blocked"
	// KindMoved: re-deriving a component from the identity log (an event
	// that arrived out of order, an unmerge) moved an identifier from
	// FromProfileID to ProfileID; Rule says why ("rederive", "unmerge").
	KindMoved Kind = "identifier_moved"
	// KindUnlinked: re-deriving a component left an identifier in no
	// profile: every event that carried it had it dropped by a rule.
	KindUnlinked Kind = "identifier_unlinked"
	// KindCut: an operator took Identifier out of ProfileID (unmerge): it
	// may never again share a profile with Identifiers, the profile's other
	// identifiers at the time. The records of the re-derivation follow.
	// A rebuild restores the cuts from these records.
	KindCut Kind = "identifier_cut"
)

// Kinds lists every kind, for schemas and validation.
var Kinds = []Kind{KindCreated, KindLinked, KindMerged, KindBlocked, KindMoved, KindUnlinked, KindCut}

// Rules named in KindBlocked records.
const (
	// RuleLimit: the profile would hold more values of the identifier's
	// type than its limit ("limit:<type>").
	RuleLimit = "limit"
	// RuleMaxIdentifiers: the profile would hold more identifiers than the
	// hard cap.
	RuleMaxIdentifiers = "max_identifiers"
	// RuleCut: an unmerge cut the identifier from the profile's.
	RuleCut = "cut"
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
	// Identifier is "type:value": the identifier linked, moved, unlinked,
	// dropped (KindBlocked) or cut. A merge names its event's identifiers in
	// Identifiers instead.
	Identifier string `json:"identifier,omitempty"`
	// Aliases lists every profile id that now forwards to ProfileID because
	// of this merge: FromProfileID and the ids merged into it earlier.
	Aliases []string `json:"aliases,omitempty"`
	// Rule is the rule that blocked a merge (KindBlocked: "limit:<type>",
	// "max_identifiers" or "cut"), or, on every record a re-derivation
	// writes (moves, unlinks, merges, creations, links), why it ran:
	// "rederive" (a late event) or "unmerge".
	Rule string `json:"rule,omitempty"`
	// Identifiers are the event's identifiers, strongest first (KindBlocked,
	// and KindMerged when an event merged two profiles: the identifiers that
	// joined them are among these; a merge by a re-derivation has none),
	// or those a cut identifier may never share a profile with (KindCut).
	Identifiers []string `json:"identifiers,omitempty"`
	// EventID is the event that caused the change.
	EventID string `json:"event_id"`
	// At is the event time of that event.
	At time.Time `json:"at"`
	// Version orders changes as they were made: every change takes the
	// tenant's next version, the records of one resolver call (a batch, an
	// unmerge) in the order they were made, and the profile states the call
	// touched the one after (their "_v", the version on cx.profiles). At
	// orders records by when their events happened, Version by when the graph
	// changed: the current target of a merged-away id is that of its
	// highest-version record, even after an unmerge or a late event. A
	// replayed record keeps its version. Records written before versions
	// existed have 0.
	Version int64 `json:"version,omitempty"`
}
