package chstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
)

// Column lists are explicit: 18.16 rejects an INSERT without one, and naming
// them keeps inserts valid when later migrations add columns.
const (
	insertEvents = `INSERT INTO cx_events (tenant, event_id, profile_id, channel, type, name,
 event_time, event_time_ms, received_at, id_types, id_values, traits, properties, context,
 traits_set_once, traits_unset, traits_increment)`
	insertIdentity = `INSERT INTO cx_identity (tenant, kind, profile_id, from_profile_id, identifier,
 aliases, rule, identifiers, event_id, at, at_ms, version)`
	insertAliases = `INSERT INTO cx_aliases (tenant, alias_id, profile_id, version)`
)

// InsertEvents writes rs to cx_events as one batch: all rows or, on error,
// none that a caller can rely on (retrying the whole batch is safe: duplicates
// collapse and queries deduplicate by event_id). An event that fails
// CheckEvent fails the batch before anything is sent.
func (s *Store) InsertEvents(ctx context.Context, rs []event.Resolved) error {
	if len(rs) == 0 {
		return nil
	}
	rows := make([]EventRow, len(rs))
	for i, r := range rs {
		row, err := EncodeEvent(r)
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		rows[i] = row
	}
	return s.sendBatch(ctx, "cx_events", insertEvents, len(rows), func(b driver.Batch) error {
		for _, r := range rows {
			if err := b.Append(r.Tenant, r.EventID, r.ProfileID, r.Channel, r.Type, r.Name,
				r.EventTime, r.EventTimeMS, r.ReceivedAt, r.IDTypes, r.IDValues,
				r.Traits, r.Properties, r.Context,
				r.TraitsSetOnce, r.TraitsUnset, r.TraitsIncrement); err != nil {
				return fmt.Errorf("append event %s: %w", r.EventID, err)
			}
		}
		return nil
	})
}

// InsertIdentity writes recs to cx_identity as one batch (every field of a
// record, rule, identifiers and version included) and their rows of
// cx_aliases as a second batch: for a profiles_merged record, each of its
// aliases -> the surviving profile; for a profile_created record, the
// profile -> itself (it is a profile of its own, again if an unmerge revived
// it); each at the record's version. Retrying after an error is safe: both
// tables collapse identical rows and the queries do not depend on the
// collapse.
func (s *Store) InsertIdentity(ctx context.Context, recs []identity.Record) error {
	if len(recs) == 0 {
		return nil
	}
	var aliases int
	for _, rec := range recs {
		if err := CheckRecord(rec); err != nil {
			return fmt.Errorf("insert identity record of event %s: %w", rec.EventID, err)
		}
		aliases += len(aliasRows(rec))
	}
	err := s.sendBatch(ctx, "cx_identity", insertIdentity, len(recs), func(b driver.Batch) error {
		for _, rec := range recs {
			at := rec.At.UTC()
			if err := b.Append(rec.Tenant, string(rec.Kind), rec.ProfileID, rec.FromProfileID,
				rec.Identifier, nonNil(rec.Aliases), rec.Rule, nonNil(rec.Identifiers),
				rec.EventID, at, at.UnixMilli(), uint64(rec.Version)); err != nil {
				return fmt.Errorf("append identity record of event %s: %w", rec.EventID, err)
			}
		}
		return nil
	})
	if err != nil || aliases == 0 {
		return err
	}
	return s.sendBatch(ctx, "cx_aliases", insertAliases, aliases, func(b driver.Batch) error {
		for _, rec := range recs {
			for _, alias := range aliasRows(rec) {
				if err := b.Append(rec.Tenant, alias, rec.ProfileID, uint64(rec.Version)); err != nil {
					return fmt.Errorf("append alias of event %s: %w", rec.EventID, err)
				}
			}
		}
		return nil
	})
}

// aliasRows returns the ids a record forwards to its profile_id in
// cx_aliases: a merge's aliases, or a created profile itself.
func aliasRows(rec identity.Record) []string {
	switch rec.Kind {
	case identity.KindMerged:
		return rec.Aliases
	case identity.KindCreated:
		return []string{rec.ProfileID}
	}
	return nil
}

// nonNil returns s, or an empty slice for nil: an Array column needs a
// value.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// sendBatch prepares one INSERT, lets fill append the rows and sends it. The
// batch is aborted (its connection released) on any error.
func (s *Store) sendBatch(ctx context.Context, table, query string, n int, fill func(driver.Batch) error) error {
	b, err := s.conn.PrepareBatch(ctx, query)
	if err != nil {
		return fmt.Errorf("prepare insert into %s: %w", table, err)
	}
	if err := fill(b); err != nil {
		_ = b.Abort()
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	if err := b.Send(); err != nil {
		_ = b.Abort()
		return fmt.Errorf("insert %d rows into %s: %w", n, table, err)
	}
	return nil
}

// EventRow is an event as the columns of cx_events hold it. It holds every
// field of the envelope (ScanEvents reads them back), the event time to the
// millisecond and received_at to the second.
type EventRow struct {
	Tenant, EventID, ProfileID, Channel, Type, Name string
	EventTime                                       time.Time
	EventTimeMS                                     int64
	ReceivedAt                                      time.Time
	IDTypes, IDValues                               []string
	Traits, Properties, Context                     string
	// TraitsSetOnce and TraitsIncrement are JSON text like Traits;
	// TraitsUnset is never nil (0009_event_trait_ops.sql).
	TraitsSetOnce   string
	TraitsUnset     []string
	TraitsIncrement string
}

// EncodeEvent turns a resolved event into its cx_events row: identifiers
// into the parallel id_types/id_values arrays; traits, traits_set_once,
// traits_increment, properties and context into JSON text ("" when absent,
// empty or null); traits_unset into an array. A missing received_at is
// stored as the event time.
func EncodeEvent(r event.Resolved) (EventRow, error) {
	if err := CheckEvent(r); err != nil {
		return EventRow{}, fmt.Errorf("event %s: %w", eventID(r), err)
	}
	row := EventRow{
		Tenant:      r.Tenant,
		EventID:     r.EventID,
		ProfileID:   r.ProfileID,
		Channel:     r.Channel,
		Type:        string(r.Type),
		Name:        r.Name,
		EventTime:   r.EventTime.UTC(),
		EventTimeMS: r.EventTime.UnixMilli(),
		ReceivedAt:  r.ReceivedAt.UTC(),
		IDTypes:     make([]string, len(r.Identifiers)),
		IDValues:    make([]string, len(r.Identifiers)),
		Properties:  rawText(r.Properties),
		Context:     rawText(r.Context),
		TraitsUnset: nonNil(r.TraitsUnset),
	}
	if r.ReceivedAt.IsZero() {
		row.ReceivedAt = row.EventTime
	}
	for i, id := range r.Identifiers {
		row.IDTypes[i], row.IDValues[i] = id.Type, id.Value
	}
	var err error
	if row.Traits, err = objectText(r.Traits); err != nil {
		return EventRow{}, fmt.Errorf("event %s: encode traits: %w", r.EventID, err)
	}
	if row.TraitsSetOnce, err = objectText(r.TraitsSetOnce); err != nil {
		return EventRow{}, fmt.Errorf("event %s: encode traits_set_once: %w", r.EventID, err)
	}
	if row.TraitsIncrement, err = objectText(r.TraitsIncrement); err != nil {
		return EventRow{}, fmt.Errorf("event %s: encode traits_increment: %w", r.EventID, err)
	}
	return row, nil
}

// objectText is m as JSON text (keys sorted, as encoding/json writes them),
// or "" for an empty or nil map.
func objectText[V any](m map[string]V) (string, error) {
	if len(m) == 0 {
		return "", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

func rawText(m json.RawMessage) string {
	if len(m) == 0 || string(m) == "null" {
		return ""
	}
	return string(m)
}

func eventID(r event.Resolved) string {
	if r.Event == nil {
		return "(none)"
	}
	return r.EventID
}
