package chstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Snapshot is one row of cx_profile_snapshots (see
// 0005_profile_snapshots.sql): one cx.profiles message. It is a profile's
// state at Version, or says that the profile was merged into MergedInto, or
// that it was deleted.
type Snapshot struct {
	Tenant    string
	ProfileID string
	// Version is the tenant's state version of the message (cx-version);
	// a profile's latest snapshot is its highest version.
	Version uint64
	// AsOf is when the state was computed. Times are stored in whole
	// seconds; see InsertSnapshots for those DateTime cannot hold.
	AsOf time.Time
	// MergedInto is the profile this id now forwards to; "" unless merged.
	MergedInto string
	// Deleted is set by a tombstone.
	Deleted bool
	// The summary of a profile state, zero for merges and deletions.
	FirstSeen     time.Time
	LastSeen      time.Time
	Events        uint64
	Orders        uint64
	LifetimeValue float64 // in the reporting currency, Currency
	Currency      string
	Lifecycle     string
	Email         string
	// Segments are the segments the profile is in as of AsOf, the
	// document's "segments" (0008_snapshot_segments.sql). Stored as an
	// Array(String): nil is written as [], and reads return an empty,
	// non-nil slice for [].
	Segments []string
	// Profile is the full profile document as JSON text, "" for merges and
	// deletions.
	Profile string
}

// Current reports whether s, as a profile's latest snapshot, makes the
// profile current: neither merged away nor deleted.
func (s Snapshot) Current() bool { return s.MergedInto == "" && !s.Deleted }

// CheckSnapshot reports why s cannot be stored in cx_profile_snapshots, or
// nil. As for events, a consumer checks each message first and dead-letters
// the ones that fail. The errors name fields, never values.
func CheckSnapshot(s Snapshot) error {
	var errs []error
	if s.Tenant == "" {
		errs = append(errs, errors.New("tenant: required"))
	}
	if s.ProfileID == "" {
		errs = append(errs, errors.New("profile_id: required"))
	}
	if s.MergedInto != "" && s.Deleted {
		errs = append(errs, errors.New("merged_into and deleted: a snapshot cannot be both merged and deleted"))
	}
	if s.MergedInto != "" && s.MergedInto == s.ProfileID {
		errs = append(errs, errors.New("merged_into: must differ from profile_id"))
	}
	return joinErrors(errs)
}

const insertSnapshots = `INSERT INTO cx_profile_snapshots (tenant, profile_id, version, as_of, merged_into,
 deleted, first_seen, last_seen, events, orders, lifetime_value, currency, lifecycle, email, segments, profile)`

// InsertSnapshots writes rows to cx_profile_snapshots as one batch. A row
// that fails CheckSnapshot fails the batch before anything is sent. Retrying
// after an error is safe: a copy of a row has the same version, and the
// queries pick one row per profile.
//
// Times that DateTime cannot hold are stored as the nearest bound: the zero
// time (unknown) and times before 1970 as 1970-01-01, times after 2105 as
// the last second DateTime holds. Profile keeps the exact values.
func (s *Store) InsertSnapshots(ctx context.Context, rows []Snapshot) error {
	if len(rows) == 0 {
		return nil
	}
	for _, r := range rows {
		if err := CheckSnapshot(r); err != nil {
			return fmt.Errorf("insert snapshot of profile %s version %d: %w", r.ProfileID, r.Version, err)
		}
	}
	return s.sendBatch(ctx, "cx_profile_snapshots", insertSnapshots, len(rows), func(b driver.Batch) error {
		for _, r := range rows {
			if err := b.Append(r.Tenant, r.ProfileID, r.Version, dateTime(r.AsOf), r.MergedInto,
				r.Deleted, dateTime(r.FirstSeen), dateTime(r.LastSeen), r.Events, r.Orders,
				r.LifetimeValue, r.Currency, r.Lifecycle, r.Email, nonNil(r.Segments), r.Profile); err != nil {
				return fmt.Errorf("append snapshot of profile %s version %d: %w", r.ProfileID, r.Version, err)
			}
		}
		return nil
	})
}

// dateTime clamps t to what a DateTime column holds, in UTC.
func dateTime(t time.Time) time.Time {
	switch {
	case t.Before(minTime): // the zero time too
		return minTime.UTC()
	case t.After(maxTime):
		return maxTime.UTC()
	}
	return t.UTC()
}

const snapshotColumns = `tenant, profile_id, version, as_of, merged_into, deleted, first_seen, last_seen,
       events, orders, lifetime_value, currency, lifecycle, email, segments, profile`

// latestSnapshotSQL picks a profile's row of highest version. Rows of equal
// version are copies of one message, so which one comes first does not
// matter. Nothing relies on FINAL or on merges having happened.
const latestSnapshotSQL = `SELECT ` + snapshotColumns + `
FROM cx_profile_snapshots
WHERE tenant = ? AND profile_id = ?
ORDER BY version DESC
LIMIT 1`

// currentProfilesSQL picks each profile's latest row, then keeps the current
// ones. The filter must come after LIMIT 1 BY: filtering first would return
// the state that a later merge or tombstone replaced.
const currentProfilesSQL = `SELECT ` + snapshotColumns + `
FROM (
    SELECT ` + snapshotColumns + `
    FROM cx_profile_snapshots
    WHERE tenant = ?
    ORDER BY profile_id, version DESC
    LIMIT 1 BY profile_id
)
WHERE merged_into = '' AND deleted = 0
ORDER BY profile_id`

// LatestSnapshot returns the snapshot of highest version of profileID,
// whatever it says: a state, a merge or a deletion (see Snapshot.Current).
// ok is false when the profile has no snapshot.
func (s *Store) LatestSnapshot(ctx context.Context, tenant, profileID string) (snap Snapshot, ok bool, err error) {
	if tenant == "" || profileID == "" {
		return Snapshot{}, false, fmt.Errorf("%w: tenant and profile id are required", ErrBadQuery)
	}
	rows, err := s.conn.Query(ctx, latestSnapshotSQL, tenant, profileID)
	if err != nil {
		return Snapshot{}, false, fmt.Errorf("query latest snapshot of profile %s: %w", profileID, err)
	}
	defer rows.Close()
	if rows.Next() {
		if snap, err = scanSnapshot(rows); err != nil {
			return Snapshot{}, false, fmt.Errorf("scan latest snapshot of profile %s: %w", profileID, err)
		}
		ok = true
	}
	if err := rows.Err(); err != nil {
		return Snapshot{}, false, fmt.Errorf("read latest snapshot of profile %s: %w", profileID, err)
	}
	return snap, ok, nil
}

// CurrentProfiles returns the latest snapshot of each of tenant's current
// profiles (not merged away, not deleted), ordered by profile id. It holds
// them all in memory, documents included: it suits tools and tests, and
// analyses of large tenants belong in SQL (see 0005_profile_snapshots.sql).
func (s *Store) CurrentProfiles(ctx context.Context, tenant string) ([]Snapshot, error) {
	if tenant == "" {
		return nil, fmt.Errorf("%w: tenant is required", ErrBadQuery)
	}
	// LIMIT 1 BY sorts the tenant's rows; let a large tenant spill to disk.
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"max_bytes_before_external_sort": scanSortBytes,
	}))
	rows, err := s.conn.Query(ctx, currentProfilesSQL, tenant)
	if err != nil {
		return nil, fmt.Errorf("query current profiles of tenant %s: %w", tenant, err)
	}
	defer rows.Close()
	out := []Snapshot{}
	for rows.Next() {
		snap, err := scanSnapshot(rows)
		if err != nil {
			return nil, fmt.Errorf("scan current profiles of tenant %s: %w", tenant, err)
		}
		out = append(out, snap)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read current profiles of tenant %s: %w", tenant, err)
	}
	return out, nil
}

// scanSnapshot reads one row of snapshotColumns.
func scanSnapshot(rows driver.Rows) (Snapshot, error) {
	var r Snapshot
	if err := rows.Scan(&r.Tenant, &r.ProfileID, &r.Version, &r.AsOf, &r.MergedInto, &r.Deleted,
		&r.FirstSeen, &r.LastSeen, &r.Events, &r.Orders, &r.LifetimeValue, &r.Currency,
		&r.Lifecycle, &r.Email, &r.Segments, &r.Profile); err != nil {
		return Snapshot{}, err
	}
	r.Segments = nonNil(r.Segments)
	r.AsOf, r.FirstSeen, r.LastSeen = r.AsOf.UTC(), r.FirstSeen.UTC(), r.LastSeen.UTC()
	return r, nil
}
