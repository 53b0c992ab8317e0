package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
)

// Errors of Unmerge.
var (
	// ErrNotInProfile: the identifier belongs to another profile than the
	// one named.
	ErrNotInProfile = errors.New("identifier does not belong to the profile")
	// ErrAlone: the identifier is its profile's only one; there is nothing
	// to split.
	ErrAlone = errors.New("identifier is the only one of its profile")
	// ErrTooLarge: the component has more edges than RederiveMaxEdges.
	ErrTooLarge = errors.New("component too large to re-derive")
)

// Split is the outcome of an unmerge.
type Split struct {
	// ProfileID is the profile the identifier belongs to now; empty if it
	// belongs to none (it never was an event's strongest identifier, so
	// once cut from its profile nothing anchors it).
	ProfileID string
	// Records say what changed: identifier_cut, then the moves, merges and
	// creations of the re-derivation. Profiles holds the state of every
	// profile of the component.
	Records  []identity.Record
	Profiles map[string]profile.State
}

// Unmerge takes identifier id out of its profile for good: it is cut from
// every other identifier of the profile, and the profile's component is
// re-derived from its identity log under the cuts, so the result is what
// resolution would have produced had the identifier never linked them.
// profileID, if not empty, is the profile (or an alias of it) the
// identifier must belong to. The caller publishes the records and profiles.
func (s *Store) Unmerge(ctx context.Context, tenant, profileID string, id event.Identifier, at time.Time) (*Split, error) {
	id, err := s.policy.Canonical(tenant, id)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %v", ErrBadRef, id.Type, err)
	}
	op, err := json.Marshal(map[string]any{
		"id": id.String(), "p": profileID, "e": "unmerge-" + uuid.NewString(), "t": at.UnixMilli(),
	})
	if err != nil {
		return nil, err
	}
	p := prefix(tenant)
	out, err := s.unmerge.Run(ctx, s.rdb, []string{p + "meta"}, p, s.rules, tenant, op).Text()
	if err != nil {
		return nil, fmt.Errorf("run unmerge script for tenant %s: %w", tenant, err)
	}
	var lr struct {
		P   string                  `json:"p"`
		ID  list[luaRecord]         `json:"id"`
		PR  map[string]list[string] `json:"pr"`
		Err string                  `json:"err"`
	}
	if err := json.Unmarshal([]byte(out), &lr); err != nil {
		return nil, fmt.Errorf("decode unmerge script result: %w", err)
	}
	switch lr.Err {
	case "":
	case "identifier_not_found":
		return nil, ErrNotFound
	case "identifier_not_in_profile":
		return nil, ErrNotInProfile
	case "identifier_alone":
		return nil, ErrAlone
	case "component_too_large":
		return nil, ErrTooLarge
	default:
		return nil, fmt.Errorf("unmerge: %s", lr.Err)
	}
	sp := &Split{ProfileID: lr.P, Records: make([]identity.Record, len(lr.ID)), Profiles: map[string]profile.State{}}
	for i, r := range lr.ID {
		sp.Records[i] = r.record(tenant)
	}
	for pid, flat := range lr.PR {
		sp.Profiles[pid] = stateOf(flat)
	}
	return sp, nil
}

// Cuts returns the tenant's cuts: identifier -> the identifiers it must
// never share a profile with.
func (s *Store) Cuts(ctx context.Context, tenant string) (map[string][]string, error) {
	raw, err := s.rdb.HGetAll(ctx, prefix(tenant)+"cut").Result()
	if err != nil {
		return nil, fmt.Errorf("read cuts: %w", err)
	}
	out := make(map[string][]string, len(raw))
	for id, v := range raw {
		var l []string
		if err := json.Unmarshal([]byte(v), &l); err != nil {
			return nil, fmt.Errorf("cut of %s: %w", id, err)
		}
		out[id] = l
	}
	return out, nil
}

// SetCuts stores cuts (as Cuts returns them) without re-deriving anything:
// for a rebuild, before the identity log is replayed.
func (s *Store) SetCuts(ctx context.Context, tenant string, cuts map[string][]string) error {
	if len(cuts) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(cuts))
	for id, l := range cuts {
		b, err := json.Marshal(l)
		if err != nil {
			return err
		}
		args = append(args, id, string(b))
	}
	return s.rdb.HSet(ctx, prefix(tenant)+"cut", args...).Err()
}
