package profile

import (
	"strconv"
	"strings"
)

// State is a profile's fields as stored (in Redis, one hash per profile).
type State map[string]string

// Apply folds one update into the state with the rule of its field prefix.
// It is commutative and associative for every prefix, and idempotent for
// every prefix except "a:" (sums) and the floor of "c:" (see counter),
// whose idempotence comes from event-id deduplication upstream.
//
// Two prefixes look at a second field: a "c:t:<k>" increment keeps only
// what is newer than "w:t:<k>", and a newer "w:t:<k>" prunes "c:t:<k>".
func (s State) Apply(u Update) {
	f, v := u.Field, u.Value
	if f[0] == prefixCounter {
		s.applyCounter(f, v)
		return
	}
	cur, ok := s[f]
	if !ok {
		s[f] = v
		s.pruneCounter(f)
		return
	}
	switch f[0] {
	case prefixAdd:
		s[f] = strconv.FormatInt(atoi(cur)+atoi(v), 10)
	case prefixMax:
		if atoi(v) > atoi(cur) {
			s[f] = v
		}
	case prefixLWW:
		if stampOf(v) > stampOf(cur) {
			s[f] = v
			s.pruneCounter(f)
		}
	case prefixOnce:
		if stampOf(v) < stampOf(cur) {
			s[f] = v
		}
	default: // prefixMin, prefixID, prefixMerged
		if atoi(v) < atoi(cur) {
			s[f] = v
		}
	}
}

// Merge folds every field of o into s: what happens to the surviving profile
// when o is merged into it.
func (s State) Merge(o State) {
	for f, v := range o {
		if f != FieldVersion {
			s.Apply(Update{f, v})
		}
	}
}

// setStampOf returns the stamp of the set or unset governing counter field
// f ("c:t:<k>"), or "".
func (s State) setStampOf(counterField string) string {
	if v, ok := s[traitPrefix+counterField[len(counterPrefix):]]; ok {
		return stampOf(v)
	}
	return ""
}

func (s State) applyCounter(f, v string) {
	c := mergeCounters(s[f], v, s.setStampOf(f))
	if c.empty() {
		delete(s, f)
		return
	}
	s[f] = c.String()
}

// pruneCounter drops the increments a newer set of trait field f overrides.
func (s State) pruneCounter(f string) {
	if !strings.HasPrefix(f, traitPrefix) {
		return
	}
	cf := counterPrefix + f[len(traitPrefix):]
	if _, ok := s[cf]; ok {
		s.applyCounter(cf, "")
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
