package profile

import (
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// Profile is the unified view of one customer: the value of cx.profiles
// messages and of the Profile API (schemas/profile.schema.json). It is derived
// from State and nothing else, so the same state always renders the same
// bytes.
type Profile struct {
	ProfileID string `json:"profile_id"`
	Tenant    string `json:"tenant"`
	// Identifiers lists the normalised identifier values by type, sorted.
	Identifiers map[string][]string `json:"identifiers"`
	// Traits holds the latest value of each trait by event time; traits set
	// to null are omitted.
	Traits    map[string]json.RawMessage `json:"traits"`
	FirstSeen time.Time                  `json:"first_seen"`
	LastSeen  time.Time                  `json:"last_seen"`
	Events    int64                      `json:"events"`
	// Channels counts events per channel.
	Channels map[string]int64 `json:"channels"`
	// EventTypes counts events per type (track, identify, page, ...).
	EventTypes  map[string]int64 `json:"event_types"`
	LastChannel string           `json:"last_channel,omitempty"`
	LastEvent   string           `json:"last_event,omitempty"`
	// MergedFrom lists the profile ids merged into this one; they still
	// resolve to it.
	MergedFrom []string `json:"merged_from"`
}

// Merged is the cx.profiles value for a profile that was merged away.
type Merged struct {
	MergedInto string `json:"merged_into"`
}

// FromState renders a profile from its state.
func FromState(tenant, id string, s State) *Profile {
	p := &Profile{
		ProfileID:   id,
		Tenant:      tenant,
		Identifiers: map[string][]string{},
		Traits:      map[string]json.RawMessage{},
		Channels:    map[string]int64{},
		EventTypes:  map[string]int64{},
		MergedFrom:  []string{},
	}
	for f, v := range s {
		switch {
		case f == FieldEvents:
			p.Events = atoi(v)
		case f == FieldFirstSeen:
			p.FirstSeen = msTime(v)
		case f == FieldLastSeen:
			p.LastSeen = msTime(v)
		case f == FieldLastChannel:
			p.LastChannel = jsonString(lwwValue(v))
		case f == FieldLastEvent:
			p.LastEvent = jsonString(lwwValue(v))
		case strings.HasPrefix(f, channelPrefix):
			p.Channels[f[len(channelPrefix):]] = atoi(v)
		case strings.HasPrefix(f, typePrefix):
			p.EventTypes[f[len(typePrefix):]] = atoi(v)
		case strings.HasPrefix(f, traitPrefix):
			if raw := lwwValue(v); raw != "null" && raw != "" {
				p.Traits[f[len(traitPrefix):]] = json.RawMessage(raw)
			}
		case strings.HasPrefix(f, idPrefix):
			typ, value, _ := strings.Cut(f[len(idPrefix):], ":")
			p.Identifiers[typ] = append(p.Identifiers[typ], value)
		case strings.HasPrefix(f, mergedPrefix):
			p.MergedFrom = append(p.MergedFrom, f[len(mergedPrefix):])
		}
	}
	for _, vs := range p.Identifiers {
		sort.Strings(vs)
	}
	sort.Strings(p.MergedFrom)
	return p
}

func lwwValue(v string) string {
	if len(v) < StampLen {
		return ""
	}
	return v[StampLen:]
}

func jsonString(raw string) string {
	var s string
	if json.Unmarshal([]byte(raw), &s) != nil {
		return ""
	}
	return s
}
