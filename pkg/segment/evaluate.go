package segment

import (
	"reflect"
	"slices"
	"time"

	"github.com/cxstream/cxstream/pkg/profile"
)

// Evaluate returns the names of the segments a profile belongs to at now,
// sorted, and the earliest instant after now at which its membership of
// some segment changes by the passing of time alone (a within or
// older_than condition flipping), or the zero time if none does. The caller
// evaluates the profile again at next, unless it changed before.
//
// next is exact: a time condition whose flip cannot change its segment's
// result (another condition keeps the segment false, or true) does not
// count. At next itself the membership has already changed.
func (s *Set) Evaluate(p *profile.Profile, now time.Time) (members []string, next time.Time) {
	if s == nil || p == nil {
		return nil, time.Time{}
	}
	root := reflect.ValueOf(p).Elem()
	var buf [16]time.Time
	for _, g := range s.segments {
		in := g.when.eval(root, now)
		if in {
			if members == nil {
				members = make([]string, 0, len(s.segments))
			}
			members = append(members, g.name)
		}
		if len(g.clocks) > 0 {
			if t := g.change(root, now, in, next, buf[:0]); !t.IsZero() {
				next = t
			}
		}
	}
	return members, next
}

// Contains reports whether a profile belongs to the segment at now.
func (g *Segment) Contains(p *profile.Profile, now time.Time) bool {
	return p != nil && g.when.eval(reflect.ValueOf(p).Elem(), now)
}

// change returns the first instant after now and before the bound (if not
// zero) at which the segment's result differs from in, or zero. The result
// is constant between the instants its time conditions flip at, so it is
// enough to evaluate it at each of them in order.
func (g *Segment) change(root reflect.Value, now time.Time, in bool, bound time.Time, buf []time.Time) time.Time {
	instants := buf
	for _, n := range g.clocks {
		t, ok := n.field.get(root).timeOf()
		if !ok {
			continue
		}
		if n.op == opWithin && t.After(now) {
			instants = append(instants, t)
		}
		if end := t.Add(n.d); end.After(now) {
			instants = append(instants, end)
		}
	}
	slices.SortFunc(instants, time.Time.Compare)
	for _, t := range instants {
		if !bound.IsZero() && !t.Before(bound) {
			break
		}
		if g.when.eval(root, t) != in {
			return t
		}
	}
	return time.Time{}
}

// eval evaluates a condition at now. A missing field makes every operator
// false but exists: false.
func (n *node) eval(root reflect.Value, now time.Time) bool {
	switch n.op {
	case opAll:
		for i := range n.kids {
			if !n.kids[i].eval(root, now) {
				return false
			}
		}
		return true
	case opAny:
		for i := range n.kids {
			if n.kids[i].eval(root, now) {
				return true
			}
		}
		return false
	case opNot:
		return !n.kids[0].eval(root, now)
	}
	v := n.field.get(root)
	if n.op == opExists {
		return (v.kind != kindMissing) == n.exists
	}
	if v.kind == kindMissing {
		return false
	}
	switch n.op {
	case opEq:
		return equal(v, n.lits[0])
	case opNe:
		return !equal(v, n.lits[0])
	case opIn:
		for _, l := range n.lits {
			if equal(v, l) {
				return true
			}
		}
		return false
	case opContains:
		return contains(v, n.lits[0])
	case opGt, opGte, opLt, opLte:
		c, ok := compare(v, n.lits[0])
		switch {
		case !ok:
			return false
		case n.op == opGt:
			return c > 0
		case n.op == opGte:
			return c >= 0
		case n.op == opLt:
			return c < 0
		}
		return c <= 0
	case opWithin, opOlderThan:
		t, ok := v.timeOf()
		if !ok {
			return false
		}
		// within holds on [t, t+d), older_than from t+d on: both flip at
		// an instant, which is what Evaluate reports as next.
		end := t.Add(n.d)
		if n.op == opWithin {
			return !now.Before(t) && now.Before(end)
		}
		return !now.Before(end)
	}
	return false
}
