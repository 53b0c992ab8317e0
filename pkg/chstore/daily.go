package chstore

import (
	"context"
	"fmt"
	"time"
)

// DailyChannel is the activity of one channel and event type on one day, as
// cx_daily_channels aggregates it (see 0006_daily_channels.sql).
type DailyChannel struct {
	// Day is the UTC day of the events' event time, at midnight UTC.
	Day     time.Time `json:"day"`
	Channel string    `json:"channel"`
	Type    string    `json:"type"`
	// Events is the number of distinct event ids: a redelivered event counts
	// once. Events add up across days, channels and types.
	Events uint64 `json:"events"`
	// Profiles is the number of distinct profile ids the events were recorded
	// under: profiles merged since count separately. Profiles do not add up:
	// a profile active on two days or channels counts in each.
	Profiles uint64 `json:"profiles"`
	// FirstEvent and LastEvent are the earliest and latest event times of
	// the day's events, to the millisecond, in UTC.
	FirstEvent time.Time `json:"first_event"`
	LastEvent  time.Time `json:"last_event"`
}

// dailyChannelsSQL merges the partial aggregates of cx_daily_channels: its
// rows are combined only when parts merge, so a (day, channel, type) may
// still have several rows, and the GROUP BY with -Merge combinators is what
// makes the answer exact whatever merges have happened. The tenant and the
// day range are a prefix of the sorting key.
const dailyChannelsSQL = `SELECT day, channel, type,
       uniqExactMerge(events) AS events,
       uniqExactMerge(profiles) AS profiles,
       minMerge(first_event_ms) AS first_event_ms,
       maxMerge(last_event_ms) AS last_event_ms
FROM cx_daily_channels
WHERE tenant = ? AND day >= toDate(?) AND day <= toDate(?)
GROUP BY day, channel, type
ORDER BY day, channel, type`

// The days a Date column holds on every supported server: 18.16 maps days
// after 2105 to 1970-01-01.
var (
	minDay = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDay = time.Date(2105, 12, 31, 0, 0, 0, 0, time.UTC)
)

// DailyChannels returns tenant's activity per UTC day, channel and event
// type (see DailyChannel), ordered by day, channel and type, for the days
// that [from, to) touches: from the UTC day of from through the UTC day of
// the last instant before to. Counts are always of whole days: with to at
// noon, the day of to counts in full. Pass midnights (UTC) to get exactly
// the days in between, to's day excluded. A zero from or to does not bound
// the range; from must be before to otherwise (ErrBadQuery).
//
// Days with no event are absent. The counts come from the materialized view
// on cx_events, so they include an event as soon as the sink has inserted
// it, and they do not change when profiles merge later.
func (s *Store) DailyChannels(ctx context.Context, tenant string, from, to time.Time) ([]DailyChannel, error) {
	if tenant == "" {
		return nil, fmt.Errorf("%w: tenant is required", ErrBadQuery)
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return nil, fmt.Errorf("%w: from must be before to", ErrBadQuery)
	}
	first, last := minDay, maxDay
	if !from.IsZero() {
		first = utcDay(from)
	}
	if !to.IsZero() {
		last = utcDay(to.Add(-time.Nanosecond))
	}
	if first.Before(minDay) {
		first = minDay
	}
	if last.After(maxDay) {
		last = maxDay
	}
	if first.After(last) {
		return []DailyChannel{}, nil
	}
	rows, err := s.conn.Query(ctx, dailyChannelsSQL, tenant, first.Format(time.DateOnly), last.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("query daily channels of tenant %s: %w", tenant, err)
	}
	defer rows.Close()
	out := []DailyChannel{}
	for rows.Next() {
		var (
			d           DailyChannel
			firstMS, ms int64
		)
		if err := rows.Scan(&d.Day, &d.Channel, &d.Type, &d.Events, &d.Profiles, &firstMS, &ms); err != nil {
			return nil, fmt.Errorf("scan daily channels of tenant %s: %w", tenant, err)
		}
		d.Day = utcDay(d.Day)
		d.FirstEvent, d.LastEvent = time.UnixMilli(firstMS).UTC(), time.UnixMilli(ms).UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read daily channels of tenant %s: %w", tenant, err)
	}
	return out, nil
}

// utcDay is midnight UTC of t's UTC day.
func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
