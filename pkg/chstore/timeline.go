package chstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
)

// ErrBadQuery marks errors caused by the caller's timeline or identity-history
// query (a limit out of range, a cursor this server did not issue); an HTTP
// API answers them with 400.
var ErrBadQuery = errors.New("bad query")

// Timeline page sizes.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// TimelineQuery narrows and pages a timeline. Zero fields do not filter.
type TimelineQuery struct {
	Channel string
	Type    string
	// From (inclusive) and To (exclusive) bound event_time.
	From, To time.Time
	// Limit is the page size: DefaultLimit when 0, at most MaxLimit.
	Limit int
	// Cursor continues after the page that returned it as Next.
	Cursor string
}

// TimelineEvent is one event of a profile's timeline, shaped for JSON.
type TimelineEvent struct {
	EventID string `json:"event_id"`
	// ProfileID is the profile whose timeline this is, the current one.
	ProfileID string `json:"profile_id"`
	// RecordedProfileID is the profile the event was resolved to when it was
	// recorded: ProfileID, or a profile merged into it since.
	RecordedProfileID string             `json:"recorded_profile_id"`
	Channel           string             `json:"channel"`
	Type              string             `json:"type"`
	Name              string             `json:"name,omitempty"`
	EventTime         time.Time          `json:"event_time"`
	ReceivedAt        time.Time          `json:"received_at"`
	Identifiers       []event.Identifier `json:"identifiers"`
	Traits            json.RawMessage    `json:"traits,omitempty"`
	Properties        json.RawMessage    `json:"properties,omitempty"`
	Context           json.RawMessage    `json:"context,omitempty"`
}

// TimelinePage is one page of a timeline. Next is empty on the last page.
type TimelinePage struct {
	Events []TimelineEvent `json:"events"`
	Next   string          `json:"next_cursor,omitempty"`
}

// Timeline returns profileID's cross-channel timeline: its events and those
// recorded under profiles merged into it (whose current alias target is
// profileID), each event once, ordered by event time then event id.
//
// profileID should be a current profile; the timeline of a merged-away id
// holds only what was recorded under it and its own aliases.
func (s *Store) Timeline(ctx context.Context, tenant, profileID string, q TimelineQuery) (TimelinePage, error) {
	if tenant == "" || profileID == "" {
		return TimelinePage{}, fmt.Errorf("%w: tenant and profile id are required", ErrBadQuery)
	}
	limit, after, err := q.normalise()
	if err != nil {
		return TimelinePage{}, err
	}
	ids, err := s.profileIDs(ctx, tenant, profileID)
	if err != nil {
		return TimelinePage{}, fmt.Errorf("timeline of profile %s: %w", profileID, err)
	}
	query, args := timelineSQL(tenant, ids, q, after, limit+1)
	rows, err := s.conn.Query(ctx, query, args...)
	if err != nil {
		return TimelinePage{}, fmt.Errorf("query timeline of profile %s: %w", profileID, err)
	}
	defer rows.Close()
	page := TimelinePage{Events: make([]TimelineEvent, 0, min(limit, 64))}
	var lastMS int64
	for rows.Next() {
		var (
			ev                   TimelineEvent
			types, values        []string
			traits, props, ctxts string
			ms                   int64
		)
		if err := rows.Scan(&ev.EventID, &ev.RecordedProfileID, &ev.Channel, &ev.Type, &ev.Name,
			&ms, &ev.ReceivedAt, &types, &values, &traits, &props, &ctxts); err != nil {
			return TimelinePage{}, fmt.Errorf("scan timeline of profile %s: %w", profileID, err)
		}
		if len(page.Events) == limit {
			// The extra row only says that a next page exists.
			page.Next = cursor{timeMS: lastMS, eventID: page.Events[limit-1].EventID}.encode()
			break
		}
		ev.ProfileID = profileID
		ev.EventTime = time.UnixMilli(ms).UTC()
		ev.ReceivedAt = ev.ReceivedAt.UTC()
		ev.Identifiers = make([]event.Identifier, min(len(types), len(values)))
		for i := range ev.Identifiers {
			ev.Identifiers[i] = event.Identifier{Type: types[i], Value: values[i]}
		}
		ev.Traits, ev.Properties, ev.Context = rawJSON(traits), rawJSON(props), rawJSON(ctxts)
		page.Events = append(page.Events, ev)
		lastMS = ms
	}
	if err := rows.Err(); err != nil {
		return TimelinePage{}, fmt.Errorf("read timeline of profile %s: %w", profileID, err)
	}
	return page, nil
}

func (q TimelineQuery) normalise() (limit int, after *cursor, err error) {
	limit = q.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return 0, nil, fmt.Errorf("%w: limit must be between 1 and %d, got %d", ErrBadQuery, MaxLimit, q.Limit)
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return 0, nil, fmt.Errorf("%w: from must be before to", ErrBadQuery)
	}
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return 0, nil, err
		}
		after = &c
	}
	return limit, after, nil
}

// timelineSQL builds the timeline query. Every value is a bound argument.
// Each filter on event_time_ms is paired with one on event_time, the sorting
// and partition column, so that ClickHouse skips partitions and granules;
// event_time is event_time_ms truncated to seconds, so the pairs agree.
//
// Duplicates (a redelivered event, or one replayed under another of the ids)
// are removed by LIMIT 1 BY event_id, which keeps the first row per event in
// ORDER BY order: the most recently inserted copy.
func timelineSQL(tenant string, ids []string, q TimelineQuery, after *cursor, limit int) (string, []any) {
	var (
		where = []string{"tenant = ?", "profile_id IN ?"}
		args  = []any{tenant, inSet(ids)}
	)
	if q.Channel != "" {
		where = append(where, "channel = ?")
		args = append(args, q.Channel)
	}
	if q.Type != "" {
		where = append(where, "type = ?")
		args = append(args, q.Type)
	}
	if !q.From.IsZero() {
		where = append(where, "event_time >= toDateTime(?)", "event_time_ms >= ?")
		args = append(args, unixSeconds(q.From.UnixMilli()), q.From.UnixMilli())
	}
	if !q.To.IsZero() {
		where = append(where, "event_time <= toDateTime(?)", "event_time_ms < ?")
		args = append(args, unixSeconds(q.To.UnixMilli()), q.To.UnixMilli())
	}
	if after != nil {
		where = append(where, "event_time >= toDateTime(?)",
			"(event_time_ms > ? OR (event_time_ms = ? AND event_id > ?))")
		args = append(args, unixSeconds(after.timeMS), after.timeMS, after.timeMS, after.eventID)
	}
	args = append(args, limit)
	return `SELECT event_id, profile_id, channel, type, name, event_time_ms, received_at,
       id_types, id_values, traits, properties, context
FROM cx_events
WHERE ` + strings.Join(where, "\n  AND ") + `
ORDER BY event_time_ms, event_id, inserted_at DESC, profile_id
LIMIT 1 BY event_id
LIMIT ?`, args
}

// unixSeconds is the DateTime (whole seconds, floor) holding a Unix
// millisecond time, clamped to DateTime's range.
func unixSeconds(ms int64) uint32 {
	s := ms / 1000
	if ms < 0 && ms%1000 != 0 {
		s--
	}
	return uint32(max(0, min(s, 1<<32-1)))
}

func rawJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// CountEvents returns the number of distinct event ids stored for tenant.
func (s *Store) CountEvents(ctx context.Context, tenant string) (uint64, error) {
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT uniqExact(event_id) FROM cx_events WHERE tenant = ?", tenant).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events of tenant %s: %w", tenant, err)
	}
	return n, nil
}

// MaxVersion returns the highest version among the tenant's identity
// records and profile snapshots, 0 if there are none: a rebuilt graph must
// continue above it (redisstore.Store.RaiseVersion).
func (s *Store) MaxVersion(ctx context.Context, tenant string) (int64, error) {
	var top uint64
	for _, table := range []string{"cx_identity", "cx_profile_snapshots"} {
		var v uint64
		if err := s.conn.QueryRow(ctx, "SELECT max(version) FROM "+table+" WHERE tenant = ?", tenant).Scan(&v); err != nil {
			return 0, fmt.Errorf("highest version of tenant %s in %s: %w", tenant, table, err)
		}
		top = max(top, v)
	}
	return int64(top), nil
}
