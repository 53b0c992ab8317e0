package profile

import (
	"strconv"
	"strings"
)

// CounterEntries is how many increments of one trait a "c:" field keeps one
// by one; older ones are summed into its floor.
const CounterEntries = 64

// A "c:" field holds the increments of one trait that are newer (by stamp)
// than the trait's latest set or unset ("w:t:" field), so that the trait's
// value is that set's value plus these increments, whatever order events
// arrive in. Its text is lines joined by "\n", in ascending order:
//
//	~<min stamp><max stamp><sum>   the floor: the oldest increments summed
//	                               (only when there are more than
//	                               CounterEntries), first if present
//	<stamp><delta>                 one increment; delta and sum are integer
//	                               micro-units (millionths)
//
// Combining two values (folding an increment, merging profiles) takes the
// union of the entries, drops those older than the set and the floor if it
// is wholly older, moves entries older than the floor's newest into the
// floor, and then moves the oldest entries into the floor until at most
// CounterEntries remain. This is exact, and independent of order, unless a
// set arrives after more than CounterEntries newer increments of its trait
// were folded: then the floor may straddle the set and hold increments that
// are older than it. The Lua script (pkg/redisstore/lib.lua, cmerge)
// implements the same steps and must write the same text.
type counter struct {
	hasFloor           bool
	floorMin, floorMax string
	floorSum           int64
	entries            []centry // ascending by stamp, stamps unique
}

type centry struct {
	stamp string
	delta int64
}

// counterEntry is the "c:" value of one increment.
func counterEntry(stamp string, micros int64) string {
	return stamp + strconv.FormatInt(micros, 10)
}

func parseCounter(v string) counter {
	var c counter
	for line := range strings.SplitSeq(v, "\n") {
		switch {
		case len(line) > 2*StampLen && line[0] == '~':
			c.hasFloor = true
			c.floorMin, c.floorMax = line[1:1+StampLen], line[1+StampLen:1+2*StampLen]
			c.floorSum, _ = strconv.ParseInt(line[1+2*StampLen:], 10, 64)
		case len(line) > StampLen:
			d, _ := strconv.ParseInt(line[StampLen:], 10, 64)
			c.entries = append(c.entries, centry{line[:StampLen], d})
		}
	}
	return c
}

func (c counter) empty() bool { return !c.hasFloor && len(c.entries) == 0 }

func (c counter) String() string {
	var b strings.Builder
	if c.hasFloor {
		b.WriteByte('~')
		b.WriteString(c.floorMin)
		b.WriteString(c.floorMax)
		b.WriteString(strconv.FormatInt(c.floorSum, 10))
	}
	for _, e := range c.entries {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.stamp)
		b.WriteString(strconv.FormatInt(e.delta, 10))
	}
	return b.String()
}

// sum is the total of the increments the counter holds.
func (c counter) sum() int64 {
	s := c.floorSum
	for _, e := range c.entries {
		s += e.delta
	}
	return s
}

// oldest is the smallest stamp the counter holds ("" if empty).
func (c counter) oldest() string {
	switch {
	case c.hasFloor:
		return c.floorMin
	case len(c.entries) > 0:
		return c.entries[0].stamp
	}
	return ""
}

func (c *counter) absorb(e centry) {
	if !c.hasFloor {
		c.hasFloor, c.floorMin, c.floorMax = true, e.stamp, e.stamp
	}
	c.floorMin = min(c.floorMin, e.stamp)
	c.floorMax = max(c.floorMax, e.stamp)
	c.floorSum += e.delta
}

// mergeCounters combines two counter texts of one trait whose latest set
// has stamp set ("" if none); see counter.
func mergeCounters(a, b, set string) counter {
	x, y := parseCounter(a), parseCounter(b)
	out := counter{}
	for _, c := range []counter{x, y} {
		switch {
		case !c.hasFloor:
		case !out.hasFloor:
			out.hasFloor, out.floorMin, out.floorMax, out.floorSum = true, c.floorMin, c.floorMax, c.floorSum
		default:
			out.floorMin = min(out.floorMin, c.floorMin)
			out.floorMax = max(out.floorMax, c.floorMax)
			out.floorSum += c.floorSum
		}
	}
	// Union of the entries, in order.
	all := make([]centry, 0, len(x.entries)+len(y.entries))
	i, j := 0, 0
	for i < len(x.entries) || j < len(y.entries) {
		switch {
		case j == len(y.entries) || (i < len(x.entries) && x.entries[i].stamp < y.entries[j].stamp):
			all = append(all, x.entries[i])
			i++
		case i == len(x.entries) || y.entries[j].stamp < x.entries[i].stamp:
			all = append(all, y.entries[j])
			j++
		default: // the same increment in both
			all = append(all, x.entries[i])
			i, j = i+1, j+1
		}
	}
	// Prune what the set overrides.
	if out.hasFloor && set != "" && out.floorMax < set {
		out = counter{}
	}
	for _, e := range all {
		switch {
		case set != "" && e.stamp < set:
		case out.hasFloor && (e.stamp == out.floorMin || e.stamp == out.floorMax):
			// Already summed in the floor (a stamp names one event).
		case out.hasFloor && e.stamp < out.floorMax:
			out.absorb(e)
		default:
			out.entries = append(out.entries, e)
		}
	}
	for len(out.entries) > CounterEntries {
		out.absorb(out.entries[0])
		out.entries = out.entries[1:]
	}
	return out
}

// formatMicros renders an integer number of millionths as a JSON number.
func formatMicros(m int64) string {
	neg := m < 0
	u := uint64(m)
	if neg {
		u = -u
	}
	s := strconv.FormatUint(u/1e6, 10)
	if frac := u % 1e6; frac != 0 {
		f := strconv.FormatUint(frac+1e6, 10)[1:]
		s += "." + strings.TrimRight(f, "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}
