package redisstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

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
	// Profiles holds the current state of every live profile the batch
	// touched (structural fields left out).
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
	R  [][2]string             `json:"r"`
	ID list[luaRecord]         `json:"id"`
	P  map[string]list[string] `json:"p"`
	X  int                     `json:"x"`
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
		Profiles:  make(map[string]profile.State, len(lr.P)),
		Rederived: lr.X,
	}
	for i, r := range lr.R {
		res.Outcomes[i] = Outcome{Status: Status(r[0]), ProfileID: r[1]}
	}
	for i, r := range lr.ID {
		res.Records[i] = r.record(tenant)
	}
	for id, flat := range lr.P {
		res.Profiles[id] = stateOf(flat)
	}
	return res, nil
}

// stateOf builds a profile state from HGETALL's flat field/value list,
// leaving out the structural fields ("_" prefix) only the script uses, but
// for the profile's version (profile.FieldVersion).
func stateOf(flat []string) profile.State {
	st := make(profile.State, len(flat)/2)
	for j := 0; j+1 < len(flat); j += 2 {
		if !strings.HasPrefix(flat[j], "_") || flat[j] == profile.FieldVersion {
			st[flat[j]] = flat[j+1]
		}
	}
	return st
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
