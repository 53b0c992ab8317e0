package chstore

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// cursor is the position after the last event of a timeline page: events
// are ordered by (event_time_ms, event_id), and the next page starts strictly
// after this pair.
type cursor struct {
	timeMS  int64
	eventID string
}

// cursorVersion prefixes encoded cursors so that the format can change
// without misreading old ones.
const cursorVersion = "c1"

// encode renders the cursor as an opaque URL-safe string.
func (c cursor) encode() string {
	raw := cursorVersion + ":" + strconv.FormatInt(c.timeMS, 10) + ":" + c.eventID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeCursor parses what encode produced; any other input is an error
// wrapping ErrBadQuery.
func decodeCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, fmt.Errorf("%w: cursor is not one this server returned", ErrBadQuery)
	}
	parts := strings.SplitN(string(b), ":", 3)
	if len(parts) != 3 || parts[0] != cursorVersion || parts[2] == "" {
		return cursor{}, fmt.Errorf("%w: cursor is not one this server returned", ErrBadQuery)
	}
	ms, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return cursor{}, fmt.Errorf("%w: cursor is not one this server returned", ErrBadQuery)
	}
	return cursor{timeMS: ms, eventID: parts[2]}, nil
}
