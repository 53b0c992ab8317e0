// Package profile defines the unified customer profile and the fold that
// builds it from events.
//
// A profile's state is a flat map of fields. Each field name starts with one
// letter and a colon that says how two values of the field combine, so that
// folding an event into a profile and merging two profiles are the same
// field-wise operation, whatever the order:
//
//	a:  integer sum                      a:events, a:ch:web, a:ty:track
//	n:  integer minimum                  n:first_seen (unix ms)
//	x:  integer maximum                  x:last_seen (unix ms)
//	w:  last writer wins by stamp        w:t:<trait>, w:last_channel, w:last_event
//	i:  identifier, first linked (min)   i:email:jane@example.com
//	m:  merged-from profile (min ms)     m:<profile id>
//
// A "w:" value is a 31-byte stamp (15-digit unix ms of the event time, then 16
// hex digits of the FNV-1a hash of the event id, the deterministic tie-break)
// followed by the raw JSON value. The same rules run in Go (State) and in
// Redis (pkg/redisstore's Lua script); the Go side is the reference that the
// Redis side is tested against.
package profile

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
)

// Field name prefixes (see the package comment).
const (
	prefixAdd    = 'a'
	prefixMin    = 'n'
	prefixMax    = 'x'
	prefixLWW    = 'w'
	prefixID     = 'i'
	prefixMerged = 'm'
)

// Field names of the behavioural fold.
const (
	FieldEvents      = "a:events"
	FieldFirstSeen   = "n:first_seen"
	FieldLastSeen    = "x:last_seen"
	FieldLastChannel = "w:last_channel"
	FieldLastEvent   = "w:last_event"
	channelPrefix    = "a:ch:"
	typePrefix       = "a:ty:"
	traitPrefix      = "w:t:"
	idPrefix         = "i:"
	mergedPrefix     = "m:"
)

// StampLen is the length of the stamp that opens every "w:" value.
const StampLen = 31

// Update is one field change produced by an event.
type Update struct {
	Field string
	Value string
}

// IDField is the state field recording identifier id.
func IDField(id string) string { return idPrefix + id }

// MergedField is the state field recording that profile pid was merged in.
func MergedField(pid string) string { return mergedPrefix + pid }

// Stamp returns the ordering stamp of an event: its event time, then a hash
// of its id to break ties between events of the same millisecond.
func Stamp(e *event.Event) string {
	h := fnv.New64a()
	h.Write([]byte(e.EventID))
	return fmt.Sprintf("%015d%016x", e.EventTime.UnixMilli(), h.Sum64())
}

// Updates returns the field updates that fold e into a profile. Identifier
// fields are not included: which identifiers join the profile is decided
// during resolution.
func Updates(e *event.Event) []Update {
	ms := strconv.FormatInt(e.EventTime.UnixMilli(), 10)
	stamp := Stamp(e)
	u := make([]Update, 0, 7+len(e.Traits))
	u = append(u,
		Update{FieldEvents, "1"},
		Update{channelPrefix + e.Channel, "1"},
		Update{typePrefix + string(e.Type), "1"},
		Update{FieldFirstSeen, ms},
		Update{FieldLastSeen, ms},
		Update{FieldLastChannel, stamp + strconv.Quote(e.Channel)},
	)
	if e.Type == event.TypeTrack || e.Type == event.TypePage || e.Type == event.TypeScreen {
		name, _ := json.Marshal(e.Name)
		u = append(u, Update{FieldLastEvent, stamp + string(name)})
	}
	for k, v := range e.Traits {
		u = append(u, Update{traitPrefix + k, stamp + string(v)})
	}
	return u
}

func msTime(v string) time.Time {
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
