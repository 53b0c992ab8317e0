package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timers: each tenant keeps durable timers in Redis (timers.lua documents
// the keys). A timer id has at most one pending and one leased occurrence.
// Workers claim due occurrences (ClaimTimers), which leases them for a
// while, publish them and ack them (AckTimers); an occurrence whose lease
// runs out unacked (its claimer died) is claimed again. The transitions of
// Activate are timers too, born leased to Activate's caller: the timers are
// the activation outbox.
//
// Guarantees: an occurrence is leased to one claimer at a time, and is
// delivered again only after its lease expired unacked. So it is published
// once if every claimer acks within the lease, and at least once, under the
// same Key, if a claimer dies or overruns its lease. Leases compare the
// callers' clocks: they must agree to well within a lease.

// TimerIndexKey is the global zset of tenants with timers, scored by a time
// (unix ms) no later than the tenant's earliest due timer or lease expiry.
// It carries no hash tag: on Redis Cluster it lives on one node, and it is
// updated by commands apart from the tenants' scripts. A tenant stays in it
// after its timers are gone (it is looked at again every indexHorizon), so
// deleting a tenant should remove it.
const TimerIndexKey = "cx:timers"

// indexHorizon bounds how far ClaimTimers pushes a tenant's index score
// ahead of now: a tenant without timers is claimed from once per horizon,
// and a timer whose index update was lost (a claimer killed between its
// two index commands) waits at most this long.
const indexHorizon = 5 * time.Minute

// Timer modes of TimerSpec.
const (
	// ModeSet replaces the pending occurrence, due and payload.
	ModeSet = "set"
	// ModeMax keeps the later due (and its payload) of the new occurrence,
	// the pending one and the one leased now.
	ModeMax = "max"
	// ModeNX schedules only if the id is neither pending nor leased.
	ModeNX = "nx"
	// ModeCancel schedules nothing: it drops the id's pending occurrence if
	// that one is due no later than the spec's Due, which is a bound, not a
	// due time (Payload is ignored and may be nil). A leased occurrence is
	// left alone, being published already. So an order at T cancels a cart
	// timer "cart:<pid>" pending for a cart activity at or before T (due by
	// T + window) but not one a later activity pushed out, and an "unless"
	// event cancels a pending follow-up the same way.
	ModeCancel = "cancel"
)

// TimerSpec is a timer to schedule, or with ModeCancel to cancel. The
// specs of one call are applied in order: a schedule then a cancel of the
// same id cancels it, a cancel then a schedule keeps the new occurrence.
type TimerSpec struct {
	// ID names the timer, such as "cart:<pid>" or "fu:<rule>:<pid>"; an id
	// has at most one pending occurrence.
	ID string
	// Due is when the occurrence is due; for ModeCancel, the latest due of
	// a pending occurrence it cancels.
	Due     time.Time
	Payload []byte
	// Mode is ModeSet, ModeMax, ModeNX or ModeCancel.
	Mode string
}

// Claimed is one occurrence of a timer leased to the caller.
type Claimed struct {
	ID string
	// Seq numbers the occurrence within the tenant; AckTimers needs it.
	Seq int64
	// Due is when the occurrence was due (for a transition, when it
	// happened).
	Due     time.Time
	Payload []byte
}

// Key names the occurrence for deduplication: redeliveries of it have the
// same key, and a timer scheduled again for the same due (as a replayed
// batch would) too.
func (c Claimed) Key() string {
	return c.ID + "@" + strconv.FormatInt(c.Due.UnixMilli(), 10)
}

// ClaimTimers leases up to limit of the tenant's occurrences to the caller
// for lease: first those whose lease expired by now unacked, then pending
// ones due by now (an id whose previous occurrence is still leased waits).
// Concurrent claimers never get the same occurrence while its lease runs.
// The caller publishes them and acks them with AckTimers.
func (s *Store) ClaimTimers(ctx context.Context, tenant string, now time.Time, limit int, lease time.Duration) ([]Claimed, error) {
	if limit <= 0 || lease <= 0 {
		return nil, fmt.Errorf("claim timers: limit %d and lease %v must be positive", limit, lease)
	}
	p := prefix(tenant)
	ms := now.UnixMilli()
	res, err := s.claim.Run(ctx, s.rdb, []string{p + "meta"}, p, ms, limit, ms+lease.Milliseconds()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("run claim script for tenant %s: %w", tenant, err)
	}
	if len(res) == 0 {
		return nil, errors.New("claim script returned nothing")
	}
	claimed, err := occurrences(res[1:])
	if err != nil {
		return nil, err
	}
	if err := s.reindex(ctx, tenant, ms, res[0]); err != nil {
		return nil, err
	}
	return claimed, nil
}

// reindex sets the tenant's index score to its earliest due (a score as
// the claim script read it, "" if it has no timers), capped at now +
// indexHorizon. That may raise the score over a lower one that an Activate
// running meanwhile had set for a timer the claim script did not see, so
// the earliest due is read again after the write and lowered to if need be:
// an Activate whose script ran after that read sets its own score after it.
func (s *Store) reindex(ctx context.Context, tenant string, now int64, earliest string) error {
	score := now + indexHorizon.Milliseconds()
	if earliest != "" {
		e, err := strconv.ParseFloat(earliest, 64)
		if err != nil {
			return fmt.Errorf("claim script returned earliest due %q: %w", earliest, err)
		}
		score = min(score, int64(e))
	}
	if err := s.rdb.ZAdd(ctx, TimerIndexKey, redis.Z{Score: float64(score), Member: tenant}).Err(); err != nil {
		return fmt.Errorf("index timers of tenant %s: %w", tenant, err)
	}
	p := prefix(tenant)
	pipe := s.rdb.Pipeline()
	pending := pipe.ZRangeWithScores(ctx, p+"tm", 0, 0)
	leased := pipe.ZRangeWithScores(ctx, p+"tml", 0, 0)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("read earliest timer of tenant %s: %w", tenant, err)
	}
	low := score
	for _, z := range append(pending.Val(), leased.Val()...) {
		low = min(low, int64(z.Score))
	}
	if low == score {
		return nil
	}
	err := s.rdb.ZAddLT(ctx, TimerIndexKey, redis.Z{Score: float64(low), Member: tenant}).Err()
	if err != nil {
		return fmt.Errorf("index timers of tenant %s: %w", tenant, err)
	}
	return nil
}

// AckTimers ends the leases of the occurrences the caller published; only
// ID and Seq are read. An occurrence acked already, or whose id has been
// claimed again since (its lease expired and it was redelivered and acked),
// is left alone, as is any pending occurrence of the same id.
func (s *Store) AckTimers(ctx context.Context, tenant string, done []Claimed) error {
	if len(done) == 0 {
		return nil
	}
	p := prefix(tenant)
	args := make([]any, 1, 1+2*len(done))
	args[0] = p
	for _, c := range done {
		args = append(args, c.ID, c.Seq)
	}
	if err := s.ack.Run(ctx, s.rdb, []string{p + "meta"}, args...).Err(); err != nil {
		return fmt.Errorf("run ack script for tenant %s: %w", tenant, err)
	}
	return nil
}

// DueTenants returns the tenants that may have timers due or leases
// expired by now, from TimerIndexKey; ClaimTimers on one that has none
// moves it later in the index.
func (s *Store) DueTenants(ctx context.Context, now time.Time) ([]string, error) {
	ts, err := s.rdb.ZRangeByScore(ctx, TimerIndexKey, &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("read tenants with due timers: %w", err)
	}
	return ts, nil
}

// occurrences decodes a script's flat list of id, "<seq> <due> <payload>".
func occurrences(flat []string) ([]Claimed, error) {
	if len(flat)%2 != 0 {
		return nil, fmt.Errorf("timer script returned %d values, want pairs", len(flat))
	}
	out := make([]Claimed, 0, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		seq, rest, ok1 := strings.Cut(flat[i+1], " ")
		due, payload, ok2 := strings.Cut(rest, " ")
		q, err1 := strconv.ParseInt(seq, 10, 64)
		d, err2 := strconv.ParseInt(due, 10, 64)
		if !ok1 || !ok2 || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("timer %s has a malformed occurrence %.40q", flat[i], flat[i+1])
		}
		out = append(out, Claimed{ID: flat[i], Seq: q, Due: time.UnixMilli(d).UTC(), Payload: []byte(payload)})
	}
	return out, nil
}

// timerArgs appends the timers to an Activate call: their specs to the
// JSON argument, their payloads to the script's arguments (a cancel's as
// ""). It passes the due of each timer scheduled to earlier; a cancel's Due
// is no due time, so a cancel-only call leaves the index alone.
func timerArgs(timers []TimerSpec, args []any, earlier func(int64)) ([]luaTimer, []any, error) {
	specs := make([]luaTimer, len(timers))
	for i, t := range timers {
		switch t.Mode {
		case ModeSet, ModeMax, ModeNX, ModeCancel:
		default:
			return nil, nil, fmt.Errorf("timer %s: mode %q, want %q, %q, %q or %q", t.ID, t.Mode, ModeSet, ModeMax, ModeNX, ModeCancel)
		}
		if t.ID == "" || t.Due.IsZero() {
			return nil, nil, fmt.Errorf("timer %q: want an id and a due time", t.ID)
		}
		d := t.Due.UnixMilli()
		specs[i] = luaTimer{ID: t.ID, D: d, M: t.Mode}
		if t.Mode == ModeCancel {
			args = append(args, "")
			continue
		}
		args = append(args, t.Payload)
		earlier(d)
	}
	return specs, args, nil
}

type luaTimer struct {
	ID string `json:"id"`
	D  int64  `json:"d"`
	M  string `json:"m"`
}
