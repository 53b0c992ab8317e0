// Package identitytest holds the reference model of identity resolution that
// the Redis implementation (pkg/redisstore) is tested against: a plain
// union of sets, processed one observation at a time in canonical order,
// with the merge-protection rules checked the obvious way. It favours being
// evidently right over being fast.
package identitytest

import (
	"slices"
	"sort"
	"strings"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
)

// Observation is one event as identity resolution sees it.
type Observation struct {
	EventID string
	// At is the event time in Unix milliseconds.
	At int64
	// IDs are the event's usable identifiers (normalised, not blocked),
	// "type:value", in any order.
	IDs []string
}

// Block is one identifier an observation had dropped by a rule.
type Block struct {
	EventID, Identifier, Rule string
}

// Graph is the outcome of resolving a set of observations.
type Graph struct {
	// Profiles lists each profile's identifiers, sorted; profiles are
	// sorted by their first identifier.
	Profiles [][]string
	// Of maps each linked identifier to its profile's index in Profiles.
	Of map[string]int
	// Unlinked are identifiers that every observation carrying them had
	// dropped, sorted.
	Unlinked []string
	// Blocks are the drops, in canonical order.
	Blocks []Block
	// Linked is, per linked identifier, the earliest time (ms) of an
	// observation that admitted it: the profile field i:<identifier>.
	Linked map[string]int64
}

// ProfileOf returns the index of the profile an event with identifiers ids
// belongs to: that of its strongest identifier.
func (g *Graph) ProfileOf(p *identity.Policy, ids []string) int {
	return g.Of[strongest(p, ids)]
}

type set struct {
	ids    map[string]bool
	counts map[string]int // per type
}

// Resolve resolves observations with the semantics of docs/ARCHITECTURE.md ("Identity rules"):
//  1. order observations by (At, EventID); only the first observation of
//     each distinct identifier set counts (later ones change nothing);
//  2. admit an observation's identifiers strongest first: an identifier
//     joins if the union of the profiles and new identifiers admitted so
//     far, plus its own profile (or itself if new), keeps every type within
//     its limit and the total within the cap; the strongest always joins;
//  3. the admitted profiles merge, admitted new identifiers link to the
//     result (or found a new profile if no profile was admitted).
func Resolve(p *identity.Policy, obs []Observation) *Graph {
	return ResolveWithCuts(p, obs, nil)
}

// ResolveWithCuts is Resolve where, in addition, an identifier is not
// admitted if that would put two identifiers an unmerge cut apart (cuts[a]
// lists the identifiers a must never share a profile with) into one
// profile; the rule is "cut".
func ResolveWithCuts(p *identity.Policy, obs []Observation, cuts map[string][]string) *Graph {
	cut := func(a, b string) bool { return slices.Contains(cuts[a], b) || slices.Contains(cuts[b], a) }
	obs = slices.Clone(obs)
	sort.SliceStable(obs, func(i, j int) bool {
		if obs[i].At != obs[j].At {
			return obs[i].At < obs[j].At
		}
		return obs[i].EventID < obs[j].EventID
	})
	owner := map[string]*set{} // linked identifier -> its profile
	seen := map[string]bool{}  // identifier sets already observed
	all := map[string]bool{}
	linked := map[string]int64{}
	var blocks []Block
	for _, o := range obs {
		ids := sorted(p, o.IDs)
		if len(ids) == 0 {
			continue
		}
		sig := strings.Join(ids, "\n")
		if seen[sig] {
			continue
		}
		seen[sig] = true
		var joined []*set
		var fresh []string
		counts := map[string]int{}
		total := 0
		union := map[string]bool{}
		for i, id := range ids {
			all[id] = true
			add := map[string]int{}
			n := 0
			q := owner[id]
			cand := []string{id}
			if q != nil {
				if slices.Contains(joined, q) {
					if at, ok := linked[id]; !ok || o.At < at {
						linked[id] = o.At
					}
					continue
				}
				add, n = q.counts, len(q.ids)
				cand = keys(q.ids)
			} else {
				add[typeOf(id)] = 1
				n = 1
			}
			rule := violates(p, counts, total, add, n)
			if rule == "" {
				for _, a := range cand {
					for b := range union {
						if cut(a, b) {
							rule = identity.RuleCut
						}
					}
				}
			}
			if i > 0 && rule != "" {
				blocks = append(blocks, Block{EventID: o.EventID, Identifier: id, Rule: rule})
				continue
			}
			if at, ok := linked[id]; !ok || o.At < at {
				linked[id] = o.At
			}
			for t, c := range add {
				counts[t] += c
			}
			total += n
			for _, a := range cand {
				union[a] = true
			}
			if q != nil {
				joined = append(joined, q)
			} else {
				fresh = append(fresh, id)
			}
		}
		target := &set{ids: map[string]bool{}, counts: map[string]int{}}
		if len(joined) > 0 {
			target = joined[0]
		}
		for _, q := range joined[min(1, len(joined)):] {
			for id := range q.ids {
				target.ids[id] = true
				owner[id] = target
			}
			for t, c := range q.counts {
				target.counts[t] += c
			}
		}
		for _, id := range fresh {
			target.ids[id] = true
			target.counts[typeOf(id)]++
			owner[id] = target
		}
	}
	g := graphOf(owner, all, blocks)
	g.Linked = linked
	return g
}

// violates returns the rule that admitting add (n identifiers) to counts
// (total identifiers) breaks, or "".
func violates(p *identity.Policy, counts map[string]int, total int, add map[string]int, n int) string {
	types := make([]string, 0, len(add))
	for t := range add {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		if counts[t]+add[t] > p.Limit(t) {
			return identity.RuleLimit + ":" + t
		}
	}
	if total+n > p.MaxIdentifiers() {
		return identity.RuleMaxIdentifiers
	}
	return ""
}

func graphOf(owner map[string]*set, all map[string]bool, blocks []Block) *Graph {
	g := &Graph{Of: map[string]int{}, Blocks: blocks}
	done := map[*set]bool{}
	for _, s := range owner {
		if done[s] {
			continue
		}
		done[s] = true
		ids := make([]string, 0, len(s.ids))
		for id := range s.ids {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		g.Profiles = append(g.Profiles, ids)
	}
	sort.Slice(g.Profiles, func(i, j int) bool { return g.Profiles[i][0] < g.Profiles[j][0] })
	for i, ids := range g.Profiles {
		for _, id := range ids {
			g.Of[id] = i
		}
	}
	for id := range all {
		if owner[id] == nil {
			g.Unlinked = append(g.Unlinked, id)
		}
	}
	sort.Strings(g.Unlinked)
	return g
}

func sorted(p *identity.Policy, ids []string) []string {
	parsed := make([]event.Identifier, 0, len(ids))
	dup := map[string]bool{}
	for _, s := range ids {
		if id, ok := event.ParseIdentifier(s); ok && !dup[s] {
			dup[s] = true
			parsed = append(parsed, id)
		}
	}
	p.Sort(parsed)
	out := make([]string, len(parsed))
	for i, id := range parsed {
		out[i] = id.String()
	}
	return out
}

func strongest(p *identity.Policy, ids []string) string {
	s := sorted(p, ids)
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func typeOf(id string) string {
	typ, _, _ := strings.Cut(id, ":")
	return typ
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
