package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxstream/cxstream/pkg/event"
)

// StatusSuppressed: the event's strongest identifier belongs to a forgotten
// person (Forget); nothing was folded and ProfileID is empty.
const StatusSuppressed Status = "suppressed"

// Erasure is what Forget erased.
type Erasure struct {
	// ProfileID is the forgotten profile, MergedFrom the ids of the
	// profiles merged into it over time (the rows of ClickHouse may carry
	// any of them).
	ProfileID  string
	MergedFrom []string
	// Identifiers are the profile's identifiers, now suppressed. Only the
	// call that erased them sees them: the store keeps their hashes alone.
	Identifiers []string
	// Version is the tenant's state version of the erasure: the version of
	// the tombstone to publish on cx.profiles.
	Version int64
	// At is when the person was forgotten.
	At time.Time
	// Already is true when the person had been forgotten before: Identifiers
	// is then empty and the rest is what was recorded then.
	Already bool
}

// SuppressionHash is how the store keeps a forgotten identifier: the
// SHA-1 of "cxstream-suppress/<type:value>", in hex. ClickHouse's
// cx_suppressions keeps the same, so neither holds the identifier itself.
// (It hides identifiers from a casual reader, not from someone who can
// guess them and hash the guesses.) The tenant is not part of it, so that
// a rebuild into another key space (a check) suppresses the same events.
func SuppressionHash(id string) string {
	h := sha1.Sum([]byte(suppressPrefix + id))
	return hex.EncodeToString(h[:])
}

// Suppression is one forgotten identifier, as kept in Redis and in
// ClickHouse (cx_suppressions).
type Suppression struct {
	// Hash is SuppressionHash of the identifier.
	Hash string
	// ProfileID is the profile it was forgotten with, MergedFrom the ids
	// merged into that profile.
	ProfileID  string
	MergedFrom []string
	At         time.Time
	Version    int64
}

const suppressPrefix = "cxstream-suppress/"

// gone is the record of a forgotten profile in P.."gone".
type gone struct {
	M list[string] `json:"m"`
	T int64        `json:"t"`
	V int64        `json:"v"`
}

// Forget erases the person ref names (a profile id, an alias of one, or an
// identifier "type:value") from the tenant's state and suppresses their
// identifiers, atomically (forget.lua documents what goes). Later events
// whose strongest identifier is suppressed are skipped (StatusSuppressed);
// a suppressed identifier is dropped from any other event. A ref that names
// a person forgotten before returns that erasure with Already set, so a
// caller that failed half-way can finish (ClickHouse, the tombstone). A ref
// that names nobody is ErrNotFound; a malformed identifier ErrBadRef.
func (s *Store) Forget(ctx context.Context, tenant, ref string, at time.Time) (*Erasure, error) {
	pid, _, err := s.Resolve(ctx, tenant, ref)
	if errors.Is(err, ErrNotFound) {
		if er, ok, ferr := s.Forgotten(ctx, tenant, ref); ferr != nil || ok {
			return er, ferr
		}
	}
	if err != nil {
		return nil, err
	}
	op, err := json.Marshal(map[string]any{"p": pid, "t": at.UnixMilli()})
	if err != nil {
		return nil, err
	}
	p := prefix(tenant)
	out, err := s.forget.Run(ctx, s.rdb, []string{p + "meta"}, p, s.rules, tenant, op).Text()
	if err != nil {
		return nil, fmt.Errorf("run forget script for tenant %s: %w", tenant, err)
	}
	var lr struct {
		P   string       `json:"p"`
		M   list[string] `json:"m"`
		IDs list[string] `json:"ids"`
		V   int64        `json:"v"`
		Err string       `json:"err"`
	}
	if err := json.Unmarshal([]byte(out), &lr); err != nil {
		return nil, fmt.Errorf("decode forget script result: %w", err)
	}
	switch lr.Err {
	case "":
	case "profile_not_found": // forgotten by a concurrent call
		return nil, ErrNotFound
	default:
		return nil, fmt.Errorf("forget: %s", lr.Err)
	}
	return &Erasure{ProfileID: lr.P, MergedFrom: lr.M, Identifiers: lr.IDs, Version: lr.V, At: time.UnixMilli(at.UnixMilli()).UTC()}, nil
}

// Forgotten returns the erasure of the person ref names if they were
// forgotten: ref is then a suppressed identifier or a forgotten profile id.
func (s *Store) Forgotten(ctx context.Context, tenant, ref string) (*Erasure, bool, error) {
	p := prefix(tenant)
	pid := ref
	if id, ok := event.ParseIdentifier(ref); ok {
		id, err := s.policy.Canonical(tenant, id)
		if err != nil {
			return nil, false, fmt.Errorf("%w: %s %v", ErrBadRef, id.Type, err)
		}
		pid, err = s.rdb.HGet(ctx, p+"sup", SuppressionHash(id.String())).Result()
		if errors.Is(err, redis.Nil) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("read suppressions: %w", err)
		}
	}
	raw, err := s.rdb.HGet(ctx, p+"gone", pid).Result()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read forgotten profiles: %w", err)
	}
	var g gone
	if err := json.Unmarshal([]byte(raw), &g); err != nil {
		return nil, false, fmt.Errorf("forgotten profile %s: %w", pid, err)
	}
	return &Erasure{ProfileID: pid, MergedFrom: g.M, Version: g.V, At: time.UnixMilli(g.T).UTC(), Already: true}, true, nil
}

// Suppressions returns the tenant's forgotten identifiers (as hashes).
func (s *Store) Suppressions(ctx context.Context, tenant string) ([]Suppression, error) {
	p := prefix(tenant)
	sup, err := s.rdb.HGetAll(ctx, p+"sup").Result()
	if err != nil {
		return nil, fmt.Errorf("read suppressions: %w", err)
	}
	gones, err := s.rdb.HGetAll(ctx, p+"gone").Result()
	if err != nil {
		return nil, fmt.Errorf("read forgotten profiles: %w", err)
	}
	out := make([]Suppression, 0, len(sup))
	for h, pid := range sup {
		var g gone
		if raw, ok := gones[pid]; ok {
			if err := json.Unmarshal([]byte(raw), &g); err != nil {
				return nil, fmt.Errorf("forgotten profile %s: %w", pid, err)
			}
		}
		out = append(out, Suppression{Hash: h, ProfileID: pid, MergedFrom: g.M, At: time.UnixMilli(g.T).UTC(), Version: g.V})
	}
	return out, nil
}

// SetSuppressions stores forgotten identifiers (as Suppressions or
// ClickHouse return them) without erasing anything: for a rebuild, before
// the log is replayed, so that events of forgotten people still in the log
// stay suppressed.
func (s *Store) SetSuppressions(ctx context.Context, tenant string, sups []Suppression) error {
	if len(sups) == 0 {
		return nil
	}
	p := prefix(tenant)
	sup := make([]any, 0, 2*len(sups))
	gones := map[string]string{}
	for _, x := range sups {
		sup = append(sup, x.Hash, x.ProfileID)
		b, err := json.Marshal(gone{M: x.MergedFrom, T: x.At.UnixMilli(), V: x.Version})
		if err != nil {
			return err
		}
		gones[x.ProfileID] = string(b)
	}
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, p+"sup", sup...)
	for pid, g := range gones {
		pipe.HSetNX(ctx, p+"gone", pid, g)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store suppressions: %w", err)
	}
	return nil
}

// String renders an erasure for logs without its identifiers.
func (e *Erasure) String() string {
	return "profile " + e.ProfileID + " (" + strconv.Itoa(len(e.MergedFrom)) + " merged in, " +
		strconv.Itoa(len(e.Identifiers)) + " identifiers)"
}
