package tracking

import (
	"errors"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
)

// isoLayouts are the ISO 8601 forms clients send: RFC 3339 (JavaScript's
// toISOString, Go's time.Time) and the offset without a colon that some
// Java and .NET libraries write.
var isoLayouts = [...]string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"}

func parseTime(s string) (time.Time, error) {
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("must be an ISO 8601 date-time, e.g. 2026-01-02T15:04:05.123Z")
}

// eventTime is when the call happened, corrected for the client's clock
// skew as Segment does: timestamp = receivedAt - (sentAt - originalTimestamp).
// The client stamps the call and, later, the request with the same clock;
// the server receives the request at now, so now - sentAt is how far the
// client's clock is behind (plus the network delay, which is small), and it
// is added to the client's timestamp. Without sentAt the client's timestamp
// is taken as it is (server-side libraries and imports set timestamp
// deliberately); without any timestamp the call happened now.
//
// timestamp is preferred; originalTimestamp is the fallback for clients that
// send only that (it is the same client-clock time under Segment's newer
// name).
func eventTime(m *Message, now time.Time, errs *event.Errors) time.Time {
	field, raw := "timestamp", m.Timestamp
	if raw == "" {
		field, raw = "originalTimestamp", m.OriginalTimestamp
	}
	var sentAt time.Time
	if m.SentAt != "" {
		t, err := parseTime(m.SentAt)
		if err != nil {
			*errs = append(*errs, event.FieldError{Field: "sentAt", Reason: err.Error()})
			return time.Time{}
		}
		sentAt = t
	}
	if raw == "" {
		return now
	}
	t, err := parseTime(raw)
	if err != nil {
		*errs = append(*errs, event.FieldError{Field: field, Reason: err.Error()})
		return time.Time{}
	}
	if !sentAt.IsZero() {
		t = t.Add(now.Sub(sentAt))
	}
	return t.UTC()
}
