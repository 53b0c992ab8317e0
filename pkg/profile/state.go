package profile

import (
	"strconv"
)

// State is a profile's fields as stored (in Redis, one hash per profile).
type State map[string]string

// Apply folds one update into the state with the rule of its field prefix.
// It is commutative, associative and idempotent for every prefix except "a:"
// (sums), whose idempotence comes from event-id deduplication upstream.
func (s State) Apply(u Update) {
	cur, ok := s[u.Field]
	if !ok {
		s[u.Field] = u.Value
		return
	}
	switch u.Field[0] {
	case prefixAdd:
		s[u.Field] = strconv.FormatInt(atoi(cur)+atoi(u.Value), 10)
	case prefixMax:
		if atoi(u.Value) > atoi(cur) {
			s[u.Field] = u.Value
		}
	case prefixLWW:
		if stampOf(u.Value) > stampOf(cur) {
			s[u.Field] = u.Value
		}
	default: // prefixMin, prefixID, prefixMerged
		if atoi(u.Value) < atoi(cur) {
			s[u.Field] = u.Value
		}
	}
}

// Merge folds every field of o into s: what happens to the surviving profile
// when o is merged into it.
func (s State) Merge(o State) {
	for f, v := range o {
		s.Apply(Update{f, v})
	}
}

func stampOf(v string) string {
	if len(v) < StampLen {
		return v
	}
	return v[:StampLen]
}

func atoi(v string) int64 {
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}
