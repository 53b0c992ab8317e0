package chstore

import (
	"context"
	"fmt"
	"time"

	"github.com/cxstream/cxstream/pkg/identity"
)

// Identity history sizes. A profile's history is its creation, one record per
// identifier and one per merge or block, so the identity rules' identifier cap
// keeps real histories far below the default.
const (
	DefaultHistoryLimit = 1000
	MaxHistoryLimit     = 10000
)

// History is the identity history of a profile.
type History struct {
	// ProfileIDs are the ids the history covers: the profile and every id
	// that currently forwards to it (as for Timeline), sorted.
	ProfileIDs []string
	// Records are the identity records, oldest first, each once.
	Records []identity.Record
	// Truncated says that more records exist than the limit let through;
	// the newest ones are missing.
	Truncated bool
}

// historyKinds orders the records of one event: the profile is created or
// merged before identifiers link to it (the order of the resolver's ordinary
// path), and an unmerge's cut before what it moved. Kinds missing here sort after these, by name.
var historyKinds = []string{
	string(identity.KindCut), // an unmerge: the cut comes before its re-derivation
	string(identity.KindCreated),
	string(identity.KindMerged),
	string(identity.KindLinked),
	string(identity.KindBlocked),
	string(identity.KindMoved),
	string(identity.KindUnlinked),
}

// historySQL selects the records in which one of a set of ids is the profile
// (created, linked to, surviving a merge, moved to, blocked on) or the
// from_profile_id (merged away, owning an identifier that a rule kept from
// another profile, losing an identifier to a move).
//
// The profile_id condition uses the sorting key; the from_profile_id one
// reads that column for the whole tenant. It is empty for most kinds and
// compresses to almost nothing, so the scan stays cheap next to the rows
// returned; a table sorted by from_profile_id is the remedy if it is not.
//
// Order: event time, then the event, then historyKinds; the remaining key
// columns make it total. ReplacingMergeTree collapses redelivered records only
// when parts merge, so LIMIT 1 BY removes the copies (which are equal in every
// column but inserted_at).
const historySQL = `SELECT kind, profile_id, from_profile_id, identifier, aliases, rule, identifiers, event_id, at_ms, version
FROM cx_identity
WHERE tenant = ? AND (profile_id IN ? OR from_profile_id IN ?)
ORDER BY at_ms, event_id, indexOf(?, kind) = 0, indexOf(?, kind), kind, identifier, from_profile_id, profile_id
LIMIT 1 BY kind, event_id, identifier, from_profile_id, profile_id
LIMIT ?`

// IdentityHistory returns the identity records of profileID and of the ids
// that forward to it (see History), oldest first, at most limit of them
// (DefaultHistoryLimit when 0; more than MaxHistoryLimit is ErrBadQuery).
// Records keep the profile ids they were written with: a link to a profile
// merged since names that profile, not profileID.
//
// The history is what the sink has inserted, so it trails the profile in
// Redis by the sink's batch time.
func (s *Store) IdentityHistory(ctx context.Context, tenant, profileID string, limit int) (History, error) {
	if tenant == "" || profileID == "" {
		return History{}, fmt.Errorf("%w: tenant and profile id are required", ErrBadQuery)
	}
	switch {
	case limit == 0:
		limit = DefaultHistoryLimit
	case limit < 0 || limit > MaxHistoryLimit:
		return History{}, fmt.Errorf("%w: limit must be between 1 and %d, got %d", ErrBadQuery, MaxHistoryLimit, limit)
	}
	ids, err := s.profileIDs(ctx, tenant, profileID)
	if err != nil {
		return History{}, fmt.Errorf("identity history of profile %s: %w", profileID, err)
	}
	set := inSet(ids)
	rows, err := s.conn.Query(ctx, historySQL, tenant, set, set, historyKinds, historyKinds, limit+1)
	if err != nil {
		return History{}, fmt.Errorf("query identity history of profile %s: %w", profileID, err)
	}
	defer rows.Close()
	h := History{ProfileIDs: ids, Records: []identity.Record{}}
	for rows.Next() {
		if len(h.Records) == limit {
			// The extra row only says that there is more.
			h.Truncated = true
			break
		}
		var (
			rec     identity.Record
			kind    string
			ms      int64
			version uint64
		)
		if err := rows.Scan(&kind, &rec.ProfileID, &rec.FromProfileID, &rec.Identifier, &rec.Aliases,
			&rec.Rule, &rec.Identifiers, &rec.EventID, &ms, &version); err != nil {
			return History{}, fmt.Errorf("scan identity history of profile %s: %w", profileID, err)
		}
		rec.Kind, rec.Tenant, rec.At, rec.Version = identity.Kind(kind), tenant, time.UnixMilli(ms).UTC(), int64(version)
		// Empty arrays mean "none", as omitempty renders them.
		if len(rec.Aliases) == 0 {
			rec.Aliases = nil
		}
		if len(rec.Identifiers) == 0 {
			rec.Identifiers = nil
		}
		h.Records = append(h.Records, rec)
	}
	if err := rows.Err(); err != nil {
		return History{}, fmt.Errorf("read identity history of profile %s: %w", profileID, err)
	}
	return h, nil
}
