package chstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Suppression is one forgotten identifier as cx_suppressions keeps it
// (schemas/clickhouse/0010_suppressions.sql): its hash, never itself.
type Suppression struct {
	Tenant      string
	Hash        string
	ProfileID   string
	MergedFrom  []string
	Version     uint64
	ForgottenAt time.Time
}

// Erased counts the rows an Erase matched, per table, before deleting them.
type Erased struct {
	// ProfileIDs are the ids whose rows were deleted: the profile, the ids
	// merged into it, and every id cx_aliases forwards to it.
	ProfileIDs []string       `json:"profile_ids"`
	Rows       map[string]int `json:"rows"`
	// EventsScrubbed counts other profiles' cx_events rows that carried
	// one of the person's identifiers (a rule had kept it out of that
	// profile, as a shared device's second email) and lose it.
	EventsScrubbed int `json:"events_scrubbed"`
}

// idHash is the suppression hash of the identifier t:v of an event's
// id_types and id_values, as redisstore.SuppressionHash computes it.
const idHash = "lower(hex(SHA1(concat('cxstream-suppress/', t, ':', v))))"

// scrubWhere selects other profiles' events that carry one of the
// identifiers whose hashes are the third argument; scrubSet removes those
// identifiers from both arrays (ClickHouse evaluates every assignment of an
// UPDATE on the row as it was, so the arrays stay parallel).
const (
	scrubWhere = "tenant = ? AND profile_id NOT IN ? AND arrayExists((t, v) -> has(?, " + idHash + "), id_types, id_values)"
	scrubSet   = "id_types = arrayFilter((t, v) -> NOT has(?, " + idHash + "), id_types, id_values), " +
		"id_values = arrayFilter((v, t) -> NOT has(?, " + idHash + "), id_values, id_types)"
)

// eraseSteps are the deletions of Erase: the table and the condition after
// "tenant = ? AND". Each condition takes the profile ids ($p) and the
// identifier hashes ($h) as its arguments in the order named. The tombstone
// snapshot (deleted = 1) stays: it carries no personal data and tells
// analysts the profile is gone.
var eraseSteps = []struct {
	table, where string
	args         string // "p" or "h" per placeholder after the tenant
}{
	{"cx_events", "profile_id IN ?", "p"},
	{"cx_identity", "(profile_id IN ? OR from_profile_id IN ? OR lower(hex(SHA1(concat('cxstream-suppress/', identifier)))) IN ?)", "pph"},
	{"cx_profile_snapshots", "profile_id IN ? AND deleted = 0", "p"},
	{"cx_aliases", "(alias_id IN ? OR profile_id IN ?)", "pp"},
}

// Erase deletes a forgotten person's rows: those of profileIDs and of every
// id cx_aliases forwards to them, in cx_events, cx_identity (also the
// records of other profiles that name one of them, or an identifier whose
// suppression hash is in hashes), cx_profile_snapshots (but for tombstones)
// and cx_aliases. Other profiles' events that carry one of the hashed
// identifiers keep their rows without it. It counts the rows first and then
// submits one ALTER TABLE ... DELETE per table (and one UPDATE of
// cx_events); ClickHouse applies them in the background
// (Mutating says when they are done). Rows inserted after the call are not
// deleted: call it once nothing more of the person can arrive.
func (s *Store) Erase(ctx context.Context, tenant string, profileIDs, hashes []string) (Erased, error) {
	out := Erased{Rows: map[string]int{}}
	if tenant == "" || len(profileIDs) == 0 {
		return out, fmt.Errorf("%w: erase needs a tenant and a profile id", ErrBadQuery)
	}
	all := map[string]bool{}
	for _, pid := range profileIDs {
		ids, err := s.profileIDs(ctx, tenant, pid)
		if err != nil {
			return out, err
		}
		for _, id := range append(ids, pid) {
			all[id] = true
		}
	}
	for id := range all {
		out.ProfileIDs = append(out.ProfileIDs, id)
	}
	slices.Sort(out.ProfileIDs)
	scrub := len(hashes) > 0 // no identifiers: no other event to scrub
	if !scrub {
		hashes = []string{""} // IN () is a syntax error; no hash is ""
	}
	p, h := inSet(out.ProfileIDs), inSet(hashes)
	for _, st := range eraseSteps {
		args := []any{tenant}
		for _, a := range st.args {
			if a == 'p' {
				args = append(args, p)
			} else {
				args = append(args, h)
			}
		}
		var n uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+st.table+" WHERE tenant = ? AND "+st.where, args...).Scan(&n); err != nil {
			return out, fmt.Errorf("count rows to erase in %s: %w", st.table, err)
		}
		out.Rows[st.table] = int(n)
		if n == 0 {
			continue
		}
		if err := s.conn.Exec(ctx, "ALTER TABLE "+st.table+" DELETE WHERE tenant = ? AND "+st.where, args...); err != nil {
			return out, fmt.Errorf("erase rows of %s: %w", st.table, err)
		}
	}
	if !scrub {
		return out, nil
	}
	// This reads the tenant's whole cx_events (a hash per identifier of
	// every row): an erasure is rare, and only suppression hashes are known
	// on a repeated one.
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM cx_events WHERE "+scrubWhere, tenant, p, hashes).Scan(&n); err != nil {
		return out, fmt.Errorf("count other profiles' events to scrub: %w", err)
	}
	if out.EventsScrubbed = int(n); n > 0 {
		if err := s.conn.Exec(ctx, "ALTER TABLE cx_events UPDATE "+scrubSet+" WHERE "+scrubWhere, hashes, hashes, tenant, p, hashes); err != nil {
			return out, fmt.Errorf("scrub identifiers from other profiles' events: %w", err)
		}
	}
	return out, nil
}

// Mutating returns how many mutations (ALTER ... DELETE) of the store's
// database ClickHouse has not finished yet.
func (s *Store) Mutating(ctx context.Context) (int, error) {
	var n uint64
	err := s.conn.QueryRow(ctx, "SELECT count() FROM system.mutations WHERE database = ? AND is_done = 0", s.database).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("read system.mutations: %w", err)
	}
	return int(n), nil
}

const insertSuppressions = `INSERT INTO cx_suppressions (tenant, id_hash, profile_id, merged_from, version, forgotten_at)`

// InsertSuppressions records forgotten identifiers. Retrying is safe: the
// table collapses identical rows.
func (s *Store) InsertSuppressions(ctx context.Context, rows []Suppression) error {
	if len(rows) == 0 {
		return nil
	}
	return s.sendBatch(ctx, "cx_suppressions", insertSuppressions, len(rows), func(b driver.Batch) error {
		for _, r := range rows {
			if r.Tenant == "" || r.Hash == "" || r.ProfileID == "" {
				return fmt.Errorf("%w: a suppression needs tenant, hash and profile id", ErrBadQuery)
			}
			if err := b.Append(r.Tenant, r.Hash, r.ProfileID, nonNil(r.MergedFrom), r.Version, dateTime(r.ForgottenAt)); err != nil {
				return fmt.Errorf("append suppression: %w", err)
			}
		}
		return nil
	})
}

// Suppressions returns the tenant's forgotten identifiers.
func (s *Store) Suppressions(ctx context.Context, tenant string) ([]Suppression, error) {
	if tenant == "" {
		return nil, fmt.Errorf("%w: tenant is required", ErrBadQuery)
	}
	rows, err := s.conn.Query(ctx, `SELECT id_hash, argMax(profile_id, version), argMax(merged_from, version), max(version), argMax(forgotten_at, version)
FROM cx_suppressions WHERE tenant = ? GROUP BY id_hash ORDER BY id_hash`, tenant)
	if err != nil {
		return nil, fmt.Errorf("read suppressions of tenant %s: %w", tenant, err)
	}
	defer rows.Close()
	var out []Suppression
	for rows.Next() {
		r := Suppression{Tenant: tenant}
		if err := rows.Scan(&r.Hash, &r.ProfileID, &r.MergedFrom, &r.Version, &r.ForgottenAt); err != nil {
			return nil, fmt.Errorf("read suppressions of tenant %s: %w", tenant, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read suppressions of tenant %s: %w", tenant, err)
	}
	return out, nil
}
