package redisstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
)

// Item is one event of a batch, with where it was read from.
type Item struct {
	// Source is the watermark key, "<topic>/<partition>". Items of one
	// source must come in offset order.
	Source string
	Offset int64
	// EventID and EventMS are the event's id and event time (unix ms).
	// A profile the event creates gets the id identity.CandidateID(tenant,
	// EventID), so a replay creates the same id.
	EventID string
	EventMS int64
	// Identifiers are the usable (normalised, not blocked) identifiers,
	// "type:value", strongest first under the store's policy; at least one.
	Identifiers []string
	// Updates fold the event into its profile.
	Updates []profile.Update
}

// Status is what Apply did with one item.
type Status string

// Item statuses.
const (
	// StatusApplied: resolved and folded now.
	StatusApplied Status = "ok"
	// StatusDuplicate: resolved, but the profile had folded this event id
	// already (a client retry); not folded again.
	StatusDuplicate Status = "dup"
	// StatusReplayed: the offset was applied before but maybe not published
	// (redelivery after a crash): the recorded outcome is returned again.
	StatusReplayed Status = "replay"
	// StatusCommitted: the offset was applied and committed long ago.
	StatusCommitted Status = "old"
)

// Outcome is the result for one item.
type Outcome struct {
	Status    Status
	ProfileID string
}

// Result is the outcome of one batch of one tenant.
type Result struct {
	// Outcomes has one entry per item, in order.
	Outcomes []Outcome
	// Records are the identity changes the batch made (and, for replayed
	// items, the changes recorded when they were first applied).
	Records []identity.Record
	// Profiles holds the state of every live profile the batch touched,
	// read right after the script call (structural fields left out); a
	// state may carry a later call's version if another resolver changed
	// the profile in between.
	Profiles map[string]profile.State
	// Rederived counts the components re-derived in canonical order
	// because an event arrived late into a component with blocked merges.
	Rederived int
}

type luaBatch struct {
	First  map[string]int64 `json:"first"`
	Events []luaEvent       `json:"events"`
}

type luaEvent struct {
	S   string   `json:"s"`
	O   int64    `json:"o"`
	E   string   `json:"e"`
	T   int64    `json:"t"`
	IDs []string `json:"ids"`
	U   []string `json:"u"`
}

// luaRules are the identity rules as the script reads them.
type luaRules struct {
	Lim   map[string]int `json:"lim"`
	DL    int            `json:"dl"`
	Pri   map[string]int `json:"pri"`
	DP    int            `json:"dp"`
	Cap   int            `json:"cap"`
	Win   int64          `json:"win"`
	Keep  int            `json:"keep"`
	Edges int            `json:"edges"`
}

type luaRecord struct {
	K   identity.Kind `json:"k"`
	P   string        `json:"p"`
	F   string        `json:"f"`
	I   string        `json:"i"`
	R   string        `json:"r"`
	IDs list[string]  `json:"ids"`
	A   list[string]  `json:"a"`
	E   string        `json:"e"`
	T   int64         `json:"t"`
	V   int64         `json:"v"`
}

func (r luaRecord) record(tenant string) identity.Record {
	return identity.Record{
		Kind: r.K, Tenant: tenant, ProfileID: r.P, FromProfileID: r.F, Identifier: r.I,
		Rule: r.R, Identifiers: r.IDs, Aliases: r.A, EventID: r.E, At: time.UnixMilli(r.T).UTC(), Version: r.V,
	}
}

type luaResult struct {
	R  [][2]string     `json:"r"`
	ID list[luaRecord] `json:"id"`
	P  list[string]    `json:"p"`
	X  int             `json:"x"`
}

// list decodes a JSON array, and also {} which is how Redis's cjson encodes
// an empty Lua table.
type list[T any] []T

func (l *list[T]) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("{}")) {
		*l = nil
		return nil
	}
	return json.Unmarshal(b, (*[]T)(l))
}

// Apply resolves and folds a batch of one tenant's events in one atomic
// Redis call. Re-applying a batch (after a crash before the offsets were
// committed) changes nothing and returns the recorded outcomes again.
func (s *Store) Apply(ctx context.Context, tenant string, items []Item) (*Result, error) {
	if len(items) == 0 {
		return &Result{Profiles: map[string]profile.State{}}, nil
	}
	b := luaBatch{First: map[string]int64{}, Events: make([]luaEvent, len(items))}
	for i, it := range items {
		if first, ok := b.First[it.Source]; !ok || it.Offset < first {
			b.First[it.Source] = it.Offset
		}
		u := make([]string, 0, 2*len(it.Updates))
		for _, up := range it.Updates {
			u = append(u, up.Field, up.Value)
		}
		if len(it.Identifiers) == 0 {
			return nil, fmt.Errorf("event %s has no usable identifier", it.EventID)
		}
		b.Events[i] = luaEvent{S: it.Source, O: it.Offset, E: it.EventID, T: it.EventMS, IDs: it.Identifiers, U: u}
	}
	arg, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode batch: %w", err)
	}
	p := prefix(tenant)
	out, err := s.resolve.Run(ctx, s.rdb, []string{p + "meta"}, p, s.rules, tenant, arg).Text()
	if err != nil {
		return nil, fmt.Errorf("run resolve script for tenant %s: %w", tenant, err)
	}
	var lr luaResult
	if err := json.Unmarshal([]byte(out), &lr); err != nil {
		return nil, fmt.Errorf("decode resolve script result: %w", err)
	}
	if len(lr.R) != len(items) {
		return nil, fmt.Errorf("resolve script returned %d outcomes for %d events", len(lr.R), len(items))
	}
	res := &Result{
		Outcomes:  make([]Outcome, len(items)),
		Records:   make([]identity.Record, len(lr.ID)),
		Rederived: lr.X,
	}
	for i, r := range lr.R {
		res.Outcomes[i] = Outcome{Status: Status(r[0]), ProfileID: r[1]}
	}
	for i, r := range lr.ID {
		res.Records[i] = r.record(tenant)
	}
	if res.Profiles, err = s.states(ctx, p, lr.P); err != nil {
		return nil, err
	}
	return res, nil
}

// states reads the current states of the profiles ids in one pipelined
// round trip, leaving out those that no longer exist. The script that
// touched them returns their ids, not their states: a Lua copy and a JSON
// encoding of every state cost Redis more than these replies. A state read
// here may be newer than the call that named it (another resolver changed
// the profile in between); it then carries that newer version, which is
// what its cx.profiles message should say. A profile merged away in between
// is left out: the call that merged it publishes the survivor.
func (s *Store) states(ctx context.Context, p string, ids []string) (map[string]profile.State, error) {
	out := make(map[string]profile.State, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, p+"p:"+id)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read profile states: %w", err)
	}
	for i, c := range cmds {
		if fields := c.Val(); len(fields) > 0 {
			out[ids[i]] = stateOfFields(fields)
		}
	}
	return out, nil
}

// stateOf builds a profile state from HGETALL's flat field/value list, as
// the scripts return it, leaving out the structural fields (structural).
func stateOf(flat []string) profile.State {
	st := make(profile.State, len(flat)/2)
	for j := 0; j+1 < len(flat); j += 2 {
		if !structural(flat[j]) {
			st[flat[j]] = flat[j+1]
		}
	}
	return st
}

// stateOfFields turns a profile hash as go-redis reads it into its state:
// the structural fields are deleted from the map, which is returned.
func stateOfFields(fields map[string]string) profile.State {
	for f := range fields {
		if structural(f) {
			delete(fields, f)
		}
	}
	return profile.State(fields)
}

// structural reports whether a profile hash field is one only the scripts
// use ("_" prefix), not the profile's version (profile.FieldVersion).
func structural(field string) bool {
	return strings.HasPrefix(field, "_") && field != profile.FieldVersion
}

// encodeRules turns the policy and the store's limits into the script's
// rules argument.
func encodeRules(p *identity.Policy, cfg Config) (string, error) {
	b, err := json.Marshal(luaRules{
		Lim: p.Limits(), DL: p.DefaultLimit(), Pri: p.Priorities(), DP: p.DefaultPriority(),
		Cap: p.MaxIdentifiers(), Win: cfg.DedupWindow.Milliseconds(), Keep: cfg.DedupMaxIDs,
		Edges: cfg.RederiveMaxEdges,
	})
	return string(b), err
}
