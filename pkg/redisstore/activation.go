package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Activation: the store remembers, per profile, the segment membership and
// lifecycle stage whose transitions it last enqueued, so that each
// transition is enqueued once however often and by however many resolvers
// a profile is evaluated; the transitions go into the timer outbox
// (timers.go), leased to the caller of Activate. activate.lua documents
// the rules.

// ActivationInput is a profile's evaluation after a batch, or after its
// "eval:<pid>" timer fired.
type ActivationInput struct {
	ProfileID string
	// Version is the version of the profile state evaluated.
	Version int64
	// Segments the profile is in, and its lifecycle stage.
	Segments  []string
	Lifecycle string
	// Reevaluate marks a time-driven evaluation: it applies at the stored
	// version too, not only at a newer one.
	Reevaluate bool
	// Next is when the evaluation may change with time alone; the zero time
	// means never. An applied input sets the "eval:<pid>" timer to it.
	Next time.Time
	// At is when the transitions happened (the as-of time of the state
	// evaluated), their payload's "at" and Claimed.Due; zero means now.
	At time.Time
	// MergedInto, if set, says the profile was merged into the profile
	// MergedInto at Version; Segments, Lifecycle, Next and Reevaluate are
	// ignored. It applies if nothing is stored for the profile or Version
	// is newer than the stored version: the profile leaves each stored
	// segment (the transitions name MergedInto), changes no stage, and is
	// stored as a tombstone, with no segment and stage "" at Version, and
	// its "eval:<pid>" timer is dropped. The tombstone makes a stale input
	// for the merged-away id (an older version from a slower resolver) be
	// ignored instead of looking like a new profile, while a newer one (the
	// profile revived by an unmerge) enters its segments and changes stage
	// from "" as a new profile does.
	MergedInto string
}

// Payload kinds of the timers Activate enqueues and schedules.
const (
	KindSegmentEntered   = "segment.entered"
	KindSegmentExited    = "segment.exited"
	KindLifecycleChanged = "lifecycle.changed"
	// KindEval is the payload of "eval:<pid>": re-evaluate the profile.
	KindEval = "eval"
)

// Transition is the payload of the timers Activate enqueues ("tr:...") and
// schedules ("eval:<pid>", only Kind and ProfileID).
type Transition struct {
	Kind      string `json:"kind"`
	ProfileID string `json:"profile_id"`
	Version   int64  `json:"version"`
	// Rev is r for the r-th re-evaluation at Version that changed
	// something (the "<ver>.<r>" of the transition's id), 0 for an
	// evaluation of a new version. Two re-evaluations at one version
	// differ in it, so (Version, Rev) names the evaluation downstream.
	Rev int `json:"rev,omitempty"`
	// Segment is the segment entered or left.
	Segment string `json:"segment,omitempty"`
	// MergedInto is the profile this one was merged into, on the
	// segment.exited transitions of a merge (ActivationInput.MergedInto).
	MergedInto string `json:"merged_into,omitempty"`
	// From and To are the lifecycle stages; From is "" for a profile seen
	// for the first time.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// At is when it happened, unix ms.
	At int64 `json:"at"`
}

type luaActivation struct {
	Now int64      `json:"now"`
	Exp int64      `json:"exp"`
	In  []luaInput `json:"in"`
	TM  []luaTimer `json:"tm"`
}

type luaInput struct {
	P string   `json:"p"`
	V int64    `json:"v"`
	S []string `json:"s"`
	L string   `json:"l"`
	R bool     `json:"r"`
	N int64    `json:"n"`
	T int64    `json:"t"`
	M string   `json:"m,omitempty"`
}

// Activate records a batch's evaluations of one tenant's profiles and
// schedules timers, atomically, in one round trip. For each input that is
// neither stale nor a replay (see ActivationInput.Reevaluate) it enqueues
// the transitions from the membership stored for the profile: segments
// left, segments entered, a changed lifecycle stage; a profile seen for
// the first time enters each of its segments and changes stage from "";
// a profile merged into another (ActivationInput.MergedInto) leaves its
// stored segments. The timers are applied after the inputs, in order
// (TimerSpec). It returns the transitions enqueued, leased to the caller
// for lease: the caller publishes them and acks them (AckTimers); if it
// does not, a ClaimTimers after the lease delivers them again. Repeating a
// call enqueues nothing more.
func (s *Store) Activate(ctx context.Context, tenant string, inputs []ActivationInput, timers []TimerSpec, now time.Time, lease time.Duration) ([]Claimed, error) {
	if len(inputs) == 0 && len(timers) == 0 {
		return nil, nil
	}
	if lease <= 0 {
		return nil, fmt.Errorf("activate: lease %v must be positive", lease)
	}
	p := prefix(tenant)
	ms := now.UnixMilli()
	a := luaActivation{Now: ms, Exp: ms + lease.Milliseconds(), In: make([]luaInput, len(inputs))}
	// first is the earliest moment the call may have scheduled, if any: the
	// index may be early (a spurious claim), never late.
	first, scheduled := int64(0), false
	earlier := func(t int64) {
		if !scheduled || t < first {
			first, scheduled = t, true
		}
	}
	for i, in := range inputs {
		if in.ProfileID == "" {
			return nil, errors.New("activate: an input without a profile id")
		}
		if in.MergedInto == in.ProfileID {
			return nil, fmt.Errorf("activate: profile %s merged into itself", in.ProfileID)
		}
		at := ms
		if !in.At.IsZero() {
			at = in.At.UnixMilli()
		}
		if in.MergedInto != "" {
			a.In[i] = luaInput{P: in.ProfileID, V: in.Version, S: []string{}, T: at, M: in.MergedInto}
			continue
		}
		segs := slices.Compact(slices.Sorted(slices.Values(in.Segments)))
		if segs == nil {
			segs = []string{} // an array to the script, not null
		}
		var next int64
		if !in.Next.IsZero() {
			next = in.Next.UnixMilli()
			earlier(next)
		}
		a.In[i] = luaInput{P: in.ProfileID, V: in.Version, S: segs, L: in.Lifecycle, R: in.Reevaluate, N: next, T: at}
	}
	if len(inputs) > 0 {
		earlier(a.Exp)
	}
	args := []any{p, nil}
	specs, args, err := timerArgs(timers, args, earlier)
	if err != nil {
		return nil, fmt.Errorf("activate: %w", err)
	}
	a.TM = specs
	arg, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode activation: %w", err)
	}
	args[1] = arg
	keys := []string{p + "meta"}
	// The index update must follow the script (see reindex): one
	// connection's pipeline keeps the order.
	// A call that schedules nothing (cancels only) leaves it alone.
	index := func(c redis.Cmdable) {
		if scheduled {
			c.ZAddLT(ctx, TimerIndexKey, redis.Z{Score: float64(first), Member: tenant})
		}
	}
	pipe := s.rdb.Pipeline()
	run := s.activate.EvalSha(ctx, pipe, keys, args...)
	index(pipe)
	_, _ = pipe.Exec(ctx) // errors are the commands'
	if err := run.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		// Redis does not know the script yet (it restarted): send it.
		run = s.activate.Eval(ctx, s.rdb, keys, args...)
		if run.Err() == nil {
			index(s.rdb)
		}
	}
	res, err := run.StringSlice()
	if err != nil {
		return nil, fmt.Errorf("run activate script for tenant %s: %w", tenant, err)
	}
	return occurrences(res)
}

// ActivationState returns the segments (sorted) and lifecycle stage of a
// profile as last activated, and the version they were evaluated at; found
// is false if the profile was never activated.
func (s *Store) ActivationState(ctx context.Context, tenant, pid string) (segments []string, lifecycle string, version int64, found bool, err error) {
	raw, err := s.rdb.HGet(ctx, prefix(tenant)+"act", pid).Result()
	if errors.Is(err, redis.Nil) {
		return nil, "", 0, false, nil
	}
	if err != nil {
		return nil, "", 0, false, fmt.Errorf("read activation of profile %s: %w", pid, err)
	}
	var st struct {
		V int64        `json:"v"`
		S list[string] `json:"s"`
		L string       `json:"l"`
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return nil, "", 0, false, fmt.Errorf("decode activation of profile %s: %w", pid, err)
	}
	return st.S, st.L, st.V, true, nil
}
