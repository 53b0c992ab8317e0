package identity

import (
	"regexp"
	"sort"
	"strings"

	"github.com/cxstream/cxstream/pkg/event"
)

// Policy is a compiled, validated set of Rules: what the collector and the
// resolver consult per identifier. It is immutable and safe for concurrent
// use.
type Policy struct {
	rules    Rules
	types    map[string]compiledType
	blocked  map[string]bool // lower-cased, every type
	patterns []*regexp.Regexp
	hashKey  []byte // set when a type is hashed (hash.go)
}

type compiledType struct {
	priority, limit int
	norm            string
	blocked         map[string]bool
	patterns        []*regexp.Regexp
	hash            bool
}

// MustCompile compiles rules known to be valid, such as DefaultRules.
func MustCompile(r Rules) *Policy {
	p, err := r.Compile()
	if err != nil {
		panic(err)
	}
	return p
}

// Rules returns the rules the policy was compiled from.
func (p *Policy) Rules() Rules { return p.rules }

// Normalize returns the canonical value of an identifier of type typ under
// the type's configured normalisation. Its signature fits
// event.Limits.Normalize.
func (p *Policy) Normalize(typ, value string) (string, error) {
	norm := event.DefaultNorm(typ)
	if ct, ok := p.types[typ]; ok {
		norm = ct.norm
	}
	return event.NormalizeAs(norm, value)
}

// Blocked reports whether a normalised identifier is a blocked value that
// identifies nobody (global or per-type, exact or pattern).
//
// A hashed value of a hashed type is never blocked: values are hashed only
// when they are not.
func (p *Policy) Blocked(id event.Identifier) bool {
	if p.hashKey != nil && IsHashed(id.Value) && p.types[id.Type].hash {
		return false
	}
	if p.blocked[strings.ToLower(id.Value)] {
		return true
	}
	for _, re := range p.patterns {
		if re.MatchString(id.Value) {
			return true
		}
	}
	ct, ok := p.types[id.Type]
	if !ok {
		return false
	}
	if ct.blocked[id.Value] {
		return true
	}
	for _, re := range ct.patterns {
		if re.MatchString(id.Value) {
			return true
		}
	}
	return false
}

// Usable splits normalised identifiers into those resolution uses, sorted
// strongest first (Sort), and the blocked ones. The input is not changed.
func (p *Policy) Usable(ids []event.Identifier) (usable, blocked []event.Identifier) {
	usable = make([]event.Identifier, 0, len(ids))
	for _, id := range ids {
		if p.Blocked(id) {
			blocked = append(blocked, id)
		} else {
			usable = append(usable, id)
		}
	}
	p.Sort(usable)
	return usable, blocked
}

// Priority returns the priority of an identifier type.
func (p *Policy) Priority(typ string) int {
	if ct, ok := p.types[typ]; ok {
		return ct.priority
	}
	return p.rules.DefaultPriority
}

// Limit returns the most values of a type one profile may hold.
func (p *Policy) Limit(typ string) int {
	if ct, ok := p.types[typ]; ok {
		return ct.limit
	}
	return p.rules.DefaultLimit
}

// Limits returns the limit of every configured type (other types have
// DefaultLimit).
func (p *Policy) Limits() map[string]int {
	m := make(map[string]int, len(p.types))
	for typ, ct := range p.types {
		m[typ] = ct.limit
	}
	return m
}

// Priorities returns the priority of every configured type (other types
// have DefaultPriority).
func (p *Policy) Priorities() map[string]int {
	m := make(map[string]int, len(p.types))
	for typ, ct := range p.types {
		m[typ] = ct.priority
	}
	return m
}

// DefaultLimit is the limit of types without a rule.
func (p *Policy) DefaultLimit() int { return p.rules.DefaultLimit }

// DefaultPriority is the priority of types without a rule.
func (p *Policy) DefaultPriority() int { return p.rules.DefaultPriority }

// MaxIdentifiers is the hard cap on identifiers per profile.
func (p *Policy) MaxIdentifiers() int { return p.rules.MaxIdentifiers }

// Less orders identifiers strongest first: higher priority, then type, then
// value, so that the order is total and deterministic.
func (p *Policy) Less(a, b event.Identifier) bool {
	pa, pb := p.Priority(a.Type), p.Priority(b.Type)
	if pa != pb {
		return pa > pb
	}
	if a.Type != b.Type {
		return a.Type < b.Type
	}
	return a.Value < b.Value
}

// Sort orders identifiers strongest first (Less).
func (p *Policy) Sort(ids []event.Identifier) {
	sort.SliceStable(ids, func(i, j int) bool { return p.Less(ids[i], ids[j]) })
}

// Strongest returns the strongest usable identifier, the Kafka key of an
// event on cx.interactions; blocked values are skipped. ok is false when
// there is none.
func (p *Policy) Strongest(ids []event.Identifier) (id event.Identifier, ok bool) {
	for _, c := range ids {
		if p.Blocked(c) {
			continue
		}
		if !ok || p.Less(c, id) {
			id, ok = c, true
		}
	}
	return id, ok
}
