package chstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
)

// The log of a tenant, read whole: what a rebuild of the identity graph and
// the profiles replays (pipeline.Rebuild).

// scanSortBytes is the memory the server may use to sort a scan before it
// spills to disk: a tenant's whole log is sorted by event time.
const scanSortBytes = 1 << 30

// scanEventsSQL reads a tenant's events in canonical order (event time in
// ms, then event id: the order resolution is defined in) with every column
// of the envelope: a rebuild folds the profiles from them, and the fold
// reads properties (revenue, items, NPS, CSAT, feedback text, session id),
// context (locale, location, consent, session id) and the four trait
// operations besides the identifiers.
//
// Sort memory: properties and context are most of a row's bytes, and the
// sort carries them. A tenant whose rows exceed scanSortBytes is not
// sorted in memory: the server writes sorted blocks to temporary files (in
// its tmp_path, compressed) and merges them as rows stream out, so memory
// stays near scanSortBytes, plus the set of event ids LIMIT 1 BY keeps (tens
// of bytes per event), and a big tenant costs temporary disk space of about
// its rows' compressed size instead.
//
// A redelivered or replayed event has several rows; LIMIT 1 BY event_id keeps
// the first in ORDER BY order, the most recently inserted copy (as the
// timeline does).
const scanEventsSQL = `SELECT ` + scanColumns + `
FROM cx_events
WHERE tenant = ?
ORDER BY event_time_ms, event_id, inserted_at DESC, profile_id
LIMIT 1 BY event_id`

// scanColumns are the columns ScanEvents reads, in its Scan order.
const scanColumns = `event_id, channel, type, name, event_time_ms, received_at, id_types, id_values,
 traits, traits_set_once, traits_unset, traits_increment, properties, context`

// CheckScan returns an error unless cx_events has every column ScanEvents
// reads, as it does once every migration ran (`cxstream migrate`). A
// rebuild calls it before it deletes anything, so that a database not yet
// migrated (0009 added columns the scan reads) stops it while the graph is
// whole.
func (s *Store) CheckScan(ctx context.Context) error {
	rows, err := s.conn.Query(ctx, "SELECT "+scanColumns+" FROM cx_events LIMIT 0")
	if err != nil {
		return fmt.Errorf("cx_events cannot be scanned (is the schema migrated? run cxstream migrate): %w", err)
	}
	rows.Close()
	return rows.Err()
}

// ScanEvents calls fn with every event of tenant in cx_events, each event
// id once, in canonical order: by event time (ms), then event id. Each event
// is the envelope as it was stored: identifiers, traits, traits_set_once,
// traits_unset, traits_increment, properties and context, with the event
// time to the millisecond and received_at to the second (what cx_events
// keeps; profiles and resolution use event time in milliseconds only).
// Absent or empty fields come back nil. Rows written before migration 0009
// have no set-once, unset or increment operations (0009_event_trait_ops.sql):
// their events come back without them, whatever they had.
//
// Rows are streamed, not loaded whole. An error from fn stops the scan and
// is returned. n is the number of events fn was called with.
func (s *Store) ScanEvents(ctx context.Context, tenant string, fn func(*event.Event) error) (n int, err error) {
	if tenant == "" {
		return 0, fmt.Errorf("%w: tenant is required", ErrBadQuery)
	}
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"max_bytes_before_external_sort": scanSortBytes,
	}))
	rows, err := s.conn.Query(ctx, scanEventsSQL, tenant)
	if err != nil {
		return 0, fmt.Errorf("scan events of tenant %s: %w", tenant, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e                               = &event.Event{Tenant: tenant}
			typ, traits, setOnce, increment string
			properties, contextText         string
			types, values, unset            []string
			ms                              int64
		)
		if err := rows.Scan(&e.EventID, &e.Channel, &typ, &e.Name, &ms, &e.ReceivedAt,
			&types, &values, &traits, &setOnce, &unset, &increment, &properties, &contextText); err != nil {
			return n, fmt.Errorf("scan events of tenant %s: %w", tenant, err)
		}
		if len(types) != len(values) {
			return n, fmt.Errorf("scan events of tenant %s: event %s has %d identifier types but %d values",
				tenant, e.EventID, len(types), len(values))
		}
		e.Type = event.Type(typ)
		e.EventTime = time.UnixMilli(ms).UTC()
		e.ReceivedAt = e.ReceivedAt.UTC()
		e.Identifiers = make([]event.Identifier, len(types))
		for i := range types {
			e.Identifiers[i] = event.Identifier{Type: types[i], Value: values[i]}
		}
		for _, f := range []struct {
			column, text string
			into         any
		}{
			{"traits", traits, &e.Traits},
			{"traits_set_once", setOnce, &e.TraitsSetOnce},
			{"traits_increment", increment, &e.TraitsIncrement},
		} {
			if f.text == "" {
				continue
			}
			if err := json.Unmarshal([]byte(f.text), f.into); err != nil {
				return n, fmt.Errorf("scan events of tenant %s: %s of event %s: %w", tenant, f.column, e.EventID, err)
			}
		}
		if len(unset) > 0 {
			e.TraitsUnset = unset
		}
		e.Properties, e.Context = rawJSON(properties), rawJSON(contextText)
		if err := fn(e); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("scan events of tenant %s: %w", tenant, err)
	}
	return n, nil
}

// cutsSQL reads the unmerge cuts of a tenant: the identifier cut out, and the
// identifiers it may never share a profile with. Redelivered copies are
// harmless: the lists are merged as sets.
const cutsSQL = `SELECT identifier, identifiers
FROM cx_identity
WHERE tenant = ? AND kind = ?`

// Cuts returns the tenant's unmerge cuts from its identifier_cut records, as
// redisstore.Store.Cuts returns them from Redis: identifier -> the
// identifiers it must never share a profile with, sorted. Cuts are
// symmetric (the unmerge stores both directions), and an identifier cut by
// several records gets the union of their lists.
func (s *Store) Cuts(ctx context.Context, tenant string) (map[string][]string, error) {
	if tenant == "" {
		return nil, fmt.Errorf("%w: tenant is required", ErrBadQuery)
	}
	rows, err := s.conn.Query(ctx, cutsSQL, tenant, string(identity.KindCut))
	if err != nil {
		return nil, fmt.Errorf("read cuts of tenant %s: %w", tenant, err)
	}
	defer rows.Close()
	sets := map[string]map[string]bool{}
	add := func(a, b string) {
		if sets[a] == nil {
			sets[a] = map[string]bool{}
		}
		sets[a][b] = true
	}
	for rows.Next() {
		var (
			id       string
			partners []string
		)
		if err := rows.Scan(&id, &partners); err != nil {
			return nil, fmt.Errorf("read cuts of tenant %s: %w", tenant, err)
		}
		for _, p := range partners {
			if id != "" && p != "" && p != id {
				add(id, p)
				add(p, id)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read cuts of tenant %s: %w", tenant, err)
	}
	out := make(map[string][]string, len(sets))
	for id, set := range sets {
		l := make([]string, 0, len(set))
		for p := range set {
			l = append(l, p)
		}
		slices.Sort(l)
		out[id] = l
	}
	return out, nil
}
