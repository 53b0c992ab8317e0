package pipeline

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
)

// Rebuilding a tenant's identity graph and profiles from the log in
// ClickHouse.
//
// Resolution does not depend on the order events arrive in: the Redis script
// resolves them in canonical order (event time, then event id) and re-derives
// a component when an event arrives late into it. So replaying a tenant's
// events from cx_events in canonical order, with the unmerge cuts of its
// identifier_cut records restored first, yields the live partition of
// identifiers into profiles and the live profile states. Profile ids may
// differ: a live id is that of the event that created the profile first in
// arrival order, and ids are derived from the tenant name.
//
// The replay folds each event whole, as the resolver did
// (redisstore.NewItem, profile.Model.Updates): cx_events keeps every field
// of the envelope that the fold reads, and chstore.ScanEvents returns them
// all: identifiers, traits, traits_set_once, traits_unset, traits_increment
// (columns of migration 0009), properties (orders, items, revenue, refunds,
// NPS, CSAT, feedback, session ids) and context (locale, location, consent,
// session ids). Event time comes back in milliseconds, all the fold and
// resolution use; received_at in seconds, which neither uses. Rows stored
// before migration 0009 have no set-once, unset or increment operations:
// events stored before the upgrade are replayed without them, so a profile
// they fed can come back without a set-once trait, with a trait they unset,
// or with another sum (schemas/clickhouse/0009_event_trait_ops.sql).
//
// Operating procedure for an in-place rebuild (after a Redis loss, or to
// apply changed identity rules to the past), RebuildInPlace:
//  1. Stop the resolvers (SIGTERM: they finish and commit their batch).
//  2. Let the sink catch up with cx.timeline and cx.identity: an event that
//     is not in ClickHouse yet is missing from the rebuilt graph for good
//     (its Kafka offset is committed, so no resolver reads it again).
//  3. Run `cxstream rebuild -tenant T`: it deletes every key of the tenant
//     and replays its log.
//  4. Start the resolvers. The consumer group's committed offsets are kept in
//     Kafka, so they continue after the last committed event; the tenant's
//     watermark keys are recreated as they apply.
// `cxstream rebuild -tenant T -check` (CheckRebuild) rebuilds into a scratch
// key space instead and compares: it changes nothing of the tenant.

// Rebuild parameters.
const (
	// rebuildSource is the watermark key the replay applies under, with
	// offsets 0..N-1; it is forgotten when the replay ends.
	rebuildSource = "rebuild/0"
	// rebuildBatch is the number of events per Apply: one Redis call, as
	// a resolver batch.
	rebuildBatch = 1000
	// readWorkers bound the concurrent profile reads of ReadGraph.
	readWorkers = 8
)

// ErrTenantNotEmpty is returned by Rebuild when the target key space holds
// state already.
var ErrTenantNotEmpty = errors.New("tenant key space is not empty")

// RebuildReport says what a rebuild did.
type RebuildReport struct {
	// Tenant is the tenant whose log was replayed, Into the key space it
	// was replayed into (Tenant for an in-place rebuild).
	Tenant string `json:"tenant"`
	Into   string `json:"into"`
	// DeletedKeys is how many Redis keys an in-place rebuild deleted first.
	DeletedKeys int `json:"deleted_keys,omitempty"`
	// Events is the number of distinct events read from the log; Replayed
	// of them were folded, Skipped were not (no usable identifier under
	// the rules, or one that does not normalise under them), Duplicates
	// were recognised as an event id folded already (none, normally: the
	// log is deduplicated by event id).
	Events     int `json:"events"`
	Replayed   int `json:"replayed"`
	Skipped    int `json:"skipped"`
	Duplicates int `json:"duplicates"`
	// Rederived counts components re-derived during the replay (0 expected:
	// events come in canonical order).
	Rederived int `json:"rederived"`
	// Cuts is the number of identifiers whose unmerge cuts were restored
	// before the replay; CutsKept of them had cuts in Redis that the log
	// lacks (an unmerge not announced), kept by an in-place rebuild.
	Cuts     int `json:"cuts"`
	CutsKept int `json:"cuts_kept,omitempty"`
	// Suppressions is the number of forgotten identifiers restored before
	// the replay (cx_suppressions, and Redis for an in-place rebuild);
	// Suppressed counts the events of the log they skipped (rows of a
	// forgotten person that ClickHouse had not deleted yet).
	Suppressions int `json:"suppressions"`
	Suppressed   int `json:"suppressed"`
	// Profiles, Merges and Identifiers are the rebuilt graph's counts.
	Profiles    int64 `json:"profiles"`
	Merges      int64 `json:"merges"`
	Identifiers int64 `json:"identifiers"`
	// DurationSeconds is the replay's wall time, EventsPerSecond its rate.
	DurationSeconds float64 `json:"duration_seconds"`
	EventsPerSecond float64 `json:"events_per_second"`
}

// Rebuild replays tenant's log from ClickHouse into the Redis key space of
// tenant into, which must be empty (ErrTenantNotEmpty otherwise):
// first the cuts of its identifier_cut records, then every event in
// canonical order, in batches of 1,000. into == tenant rebuilds in place
// (delete the tenant's keys first, or use RebuildInPlace); another name
// builds a copy to compare (CheckRebuild). Nothing is published.
//
// On error the key space holds a partial graph.
func Rebuild(ctx context.Context, store *redisstore.Store, ch *chstore.Store, tenant, into string, log *slog.Logger) (RebuildReport, error) {
	rep := RebuildReport{Tenant: tenant, Into: into}
	if err := checkTenants(tenant, into); err != nil {
		return rep, err
	}
	exists, err := store.TenantExists(ctx, into)
	if err != nil {
		return rep, err
	}
	if exists {
		return rep, fmt.Errorf("rebuild into %s: %w", into, ErrTenantNotEmpty)
	}
	if err := ch.CheckScan(ctx); err != nil {
		return rep, fmt.Errorf("rebuild %s: %w", tenant, err)
	}
	cuts, err := ch.Cuts(ctx, tenant)
	if err != nil {
		return rep, err
	}
	sups, err := ch.Suppressions(ctx, tenant)
	if err != nil {
		return rep, err
	}
	err = replay(ctx, store, ch, cuts, suppressionsOf(sups), 0, &rep, log)
	return rep, err
}

// RebuildInPlace deletes every Redis key of tenant and rebuilds its graph
// from the log (see the operating procedure above: the resolvers must be
// stopped and the sink caught up). Before deleting anything it checks that
// ClickHouse answers, holds events of the tenant and has every column the
// replay reads (its schema migrated), and it keeps the tenant's cuts in
// Redis together with those of the log, so an unmerge that never reached
// ClickHouse is not undone.
func RebuildInPlace(ctx context.Context, store *redisstore.Store, ch *chstore.Store, tenant string, log *slog.Logger) (RebuildReport, error) {
	rep := RebuildReport{Tenant: tenant, Into: tenant}
	if err := checkTenants(tenant, tenant); err != nil {
		return rep, err
	}
	n, err := ch.CountEvents(ctx, tenant)
	if err != nil {
		return rep, err
	}
	if n == 0 {
		return rep, fmt.Errorf("rebuild %s: ClickHouse database %s holds no events of the tenant; refusing to delete its graph",
			tenant, ch.Database())
	}
	if err := ch.CheckScan(ctx); err != nil {
		return rep, fmt.Errorf("rebuild %s: refusing to delete its graph: %w", tenant, err)
	}
	logCuts, err := ch.Cuts(ctx, tenant)
	if err != nil {
		return rep, err
	}
	liveCuts, err := store.Cuts(ctx, tenant)
	if err != nil {
		return rep, err
	}
	cuts, kept := unionCuts(logCuts, liveCuts)
	rep.CutsKept = kept
	// Forgotten people stay forgotten: the suppressions of the log and of
	// Redis (an erasure whose ClickHouse step has not run yet) together.
	logSups, err := ch.Suppressions(ctx, tenant)
	if err != nil {
		return rep, err
	}
	sups, err := store.Suppressions(ctx, tenant)
	if err != nil {
		return rep, err
	}
	sups = append(suppressionsOf(logSups), sups...)
	live, err := store.TenantStats(ctx, tenant)
	if err != nil {
		return rep, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.Info("rebuild: deleting the tenant's redis keys", "tenant", tenant, "events_in_log", n)
	rep.DeletedKeys, err = store.DeleteTenant(ctx, tenant)
	if err == nil {
		err = replay(ctx, store, ch, cuts, sups, live.Version, &rep, log)
	}
	if err != nil {
		return rep, fmt.Errorf("rebuild of tenant %s stopped half-way; its graph is incomplete until a rebuild completes: %w", tenant, err)
	}
	return rep, nil
}

// CheckRebuild rebuilds tenant into a scratch key space (ScratchTenant),
// compares the result with the live graph (Compare), deletes the scratch
// keys and returns the report and the differences. On a tenant that is
// being written, the newest events (in Redis but not yet in ClickHouse)
// show up as differences.
func CheckRebuild(ctx context.Context, store *redisstore.Store, ch *chstore.Store, tenant string, log *slog.Logger) (RebuildReport, []Difference, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	scratch, err := ScratchTenant(tenant)
	if err != nil {
		return RebuildReport{Tenant: tenant}, nil, err
	}
	exists, err := store.TenantExists(ctx, scratch)
	if err != nil {
		return RebuildReport{Tenant: tenant}, nil, err
	}
	if exists { // a random name: practically impossible, but never delete what is not ours
		return RebuildReport{Tenant: tenant}, nil, fmt.Errorf("rebuild check into %s: %w", scratch, ErrTenantNotEmpty)
	}
	defer func() {
		n, err := store.DeleteTenant(context.WithoutCancel(ctx), scratch)
		if err != nil {
			log.Error("rebuild check: delete the scratch key space", "scratch", scratch, "err", err)
			return
		}
		log.Info("rebuild check: scratch key space deleted", "scratch", scratch, "keys", n)
	}()
	rep, err := Rebuild(ctx, store, ch, tenant, scratch, log)
	if err != nil {
		return rep, nil, err
	}
	live, err := ReadGraph(ctx, store, tenant)
	if err != nil {
		return rep, nil, err
	}
	rebuilt, err := ReadGraph(ctx, store, scratch)
	if err != nil {
		return rep, nil, err
	}
	return rep, Compare(live, rebuilt), nil
}

// ScratchTenant returns a fresh valid tenant name for a rebuild check of
// tenant: "<tenant>-rebuild-<8 hex digits>", the tenant's name shortened if
// needed to keep within 64 characters.
func ScratchTenant(tenant string) (string, error) {
	if !event.ValidTenant(tenant) {
		return "", fmt.Errorf("tenant %q: %s", tenant, event.TenantRule)
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	suffix := "-rebuild-" + hex.EncodeToString(b)
	return tenant[:min(len(tenant), 64-len(suffix))] + suffix, nil
}

func checkTenants(tenant, into string) error {
	for _, t := range []string{tenant, into} {
		if !event.ValidTenant(t) {
			return fmt.Errorf("rebuild: tenant %q: %s", t, event.TenantRule)
		}
	}
	return nil
}

// unionCuts merges two cut maps; kept counts the identifiers of extra with
// a partner that base lacks.
func unionCuts(base, extra map[string][]string) (map[string][]string, int) {
	out := make(map[string][]string, len(base))
	for id, l := range base {
		out[id] = slices.Clone(l)
	}
	kept := 0
	for id, l := range extra {
		added := false
		for _, p := range l {
			if !slices.Contains(out[id], p) {
				out[id] = append(out[id], p)
				added = true
			}
		}
		if added {
			kept++
			slices.Sort(out[id])
		}
	}
	return out, kept
}

// replay stores cuts, then applies the events of rep.Tenant from
// ClickHouse, each whole, into rep.Into, and fills in rep. Versions continue
// above floor and above every version in ClickHouse.
func replay(ctx context.Context, store *redisstore.Store, ch *chstore.Store, cuts map[string][]string, sups []redisstore.Suppression, floor int64, rep *RebuildReport, log *slog.Logger) error {
	start := time.Now()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.Info("rebuild: replaying the identity log", "tenant", rep.Tenant, "into", rep.Into, "cuts", len(cuts))
	if err := store.SetCuts(ctx, rep.Into, cuts); err != nil {
		return fmt.Errorf("rebuild %s: restore cuts: %w", rep.Into, err)
	}
	if err := store.SetSuppressions(ctx, rep.Into, sups); err != nil {
		return fmt.Errorf("rebuild %s: restore suppressions: %w", rep.Into, err)
	}
	rep.Suppressions = len(sups)
	rep.Cuts = len(cuts)
	// Versions go on above those already published, though the counter was
	// deleted or lost with Redis.
	top, err := ch.MaxVersion(ctx, rep.Tenant)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", rep.Into, err)
	}
	if _, err := store.RaiseVersion(ctx, rep.Into, max(top, floor)); err != nil {
		return fmt.Errorf("rebuild %s: %w", rep.Into, err)
	}
	policy, model := store.Policy(), store.Model()
	items := make([]redisstore.Item, 0, rebuildBatch)
	var offset int64
	lastLog := start
	flush := func() error {
		if len(items) == 0 {
			return nil
		}
		res, err := store.Apply(ctx, rep.Into, items)
		if err != nil {
			return fmt.Errorf("rebuild %s: apply events %d to %d: %w", rep.Into, items[0].Offset, items[len(items)-1].Offset, err)
		}
		for i, o := range res.Outcomes {
			switch o.Status {
			case redisstore.StatusApplied:
				rep.Replayed++
			case redisstore.StatusDuplicate:
				rep.Duplicates++
			case redisstore.StatusSuppressed:
				rep.Suppressed++
			default:
				return fmt.Errorf("rebuild %s: event %s: unexpected status %q (is something else writing the key space?)",
					rep.Into, items[i].EventID, o.Status)
			}
		}
		rep.Rederived += res.Rederived
		items = items[:0]
		if now := time.Now(); now.Sub(lastLog) >= 10*time.Second {
			lastLog = now
			log.Info("rebuild: progress", "into", rep.Into, "replayed", rep.Replayed, "skipped", rep.Skipped)
		}
		return nil
	}
	n, err := ch.ScanEvents(ctx, rep.Tenant, func(e *event.Event) error {
		if err := renormalize(e, policy); err != nil {
			rep.Skipped++
			log.Debug("rebuild: event skipped", "event_id", e.EventID, "err", err)
			return nil
		}
		it, ok := redisstore.NewItem(rebuildSource, offset, e, policy, model)
		if !ok {
			rep.Skipped++
			log.Debug("rebuild: event skipped: every identifier blocked", "event_id", e.EventID)
			return nil
		}
		offset++
		items = append(items, it)
		if len(items) == rebuildBatch {
			return flush()
		}
		return nil
	})
	rep.Events = n
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	if err := store.ForgetSource(ctx, rep.Into, rebuildSource); err != nil {
		return err
	}
	st, err := store.TenantStats(ctx, rep.Into)
	if err != nil {
		return err
	}
	rep.Profiles, rep.Merges, rep.Identifiers = st.Profiles, st.Merges, st.Identifiers
	d := time.Since(start)
	rep.DurationSeconds = d.Seconds()
	if d > 0 {
		rep.EventsPerSecond = float64(rep.Replayed+rep.Duplicates) / d.Seconds()
	}
	log.Info("rebuild: done", "tenant", rep.Tenant, "into", rep.Into, "events", rep.Events, "replayed", rep.Replayed,
		"skipped", rep.Skipped, "profiles", rep.Profiles, "seconds", rep.DurationSeconds)
	return nil
}

// renormalize normalises the event's identifiers under the current rules,
// as the resolver does before resolving (the log holds them normalised
// under the rules of their time), and drops repeats. Values of hashed types
// that the log holds hashed stay as they are (Policy.Canonical).
func renormalize(e *event.Event, p *identity.Policy) error {
	seen := make(map[event.Identifier]bool, len(e.Identifiers))
	ids := e.Identifiers[:0]
	for _, id := range e.Identifiers {
		id, err := p.Canonical(e.Tenant, id)
		if err != nil {
			return fmt.Errorf("identifier %s: %w", id, err)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	e.Identifiers = ids
	return nil
}

// GraphSnapshot is a tenant's identity graph and profile states as read
// from Redis, for Compare.
type GraphSnapshot struct {
	Tenant string
	// Owner maps every known identifier to its live profile id, or to ""
	// if it is in no profile (every event had it dropped by a rule).
	Owner map[string]string
	// States holds each live profile's state in comparable form
	// (ComparableState).
	States map[string]profile.State
	// Dangling maps identifiers whose index entry names a profile that
	// does not exist to that id (a corrupt graph).
	Dangling map[string]string
	// Cuts are the tenant's unmerge cuts.
	Cuts map[string][]string
}

// ReadGraph reads a tenant's whole graph: the identifier index, the state
// of every profile it names, and the cuts. It reads while the tenant may be
// written, so on a running pipeline it is not one instant's picture.
func ReadGraph(ctx context.Context, store *redisstore.Store, tenant string) (*GraphSnapshot, error) {
	idx, err := store.Graph(ctx, tenant)
	if err != nil {
		return nil, err
	}
	g := &GraphSnapshot{Tenant: tenant, Owner: make(map[string]string, len(idx)),
		States: map[string]profile.State{}, Dangling: map[string]string{}}
	// Index values are live profile ids; follow forwarding anyway, once
	// per distinct value.
	liveOf := map[string]string{}
	var pids []string
	for _, v := range idx {
		if !strings.HasPrefix(v, "~") {
			if _, ok := liveOf[v]; !ok {
				liveOf[v] = ""
				pids = append(pids, v)
			}
		}
	}
	var mu sync.Mutex
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(readWorkers)
	for _, pid := range pids {
		eg.Go(func() error {
			id, st, err := store.Profile(ectx, tenant, pid)
			if errors.Is(err, redisstore.ErrNotFound) {
				return nil // dangling: liveOf stays ""
			}
			if err != nil {
				return fmt.Errorf("read profile %s of tenant %s: %w", pid, tenant, err)
			}
			mu.Lock()
			defer mu.Unlock()
			liveOf[pid] = id
			g.States[id] = ComparableState(st)
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	for ident, v := range idx {
		switch {
		case strings.HasPrefix(v, "~"):
			g.Owner[ident] = ""
		case liveOf[v] == "":
			g.Dangling[ident] = v
		default:
			g.Owner[ident] = liveOf[v]
		}
	}
	if g.Cuts, err = store.Cuts(ctx, tenant); err != nil {
		return nil, err
	}
	return g, nil
}

// ComparableState is a profile state as two equal graphs hold it:
// merged-from ("m:") fields and the version are left out (they depend on
// arrival order), and the JSON of stamped values ("w:", "o:") is
// compacted and HTML-escaped as encoding/json writes it. The live state
// holds the JSON values it stamps (traits, preferences, the context's
// locale and location) as the producer sent them, the log as the resolver
// re-encoded them, so the same value may differ in spacing or escapes.
func ComparableState(st profile.State) profile.State {
	out := make(profile.State, len(st))
	for f, v := range st {
		switch {
		case strings.HasPrefix(f, "m:") || f == profile.FieldVersion:
			continue
		case (strings.HasPrefix(f, "w:") || strings.HasPrefix(f, "o:")) && len(v) > profile.StampLen:
			v = v[:profile.StampLen] + canonicalJSON(v[profile.StampLen:])
		}
		out[f] = v
	}
	return out
}

// canonicalJSON returns s compacted and HTML-escaped, or s if it is not
// JSON.
func canonicalJSON(s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return s
	}
	var esc bytes.Buffer
	json.HTMLEscape(&esc, b.Bytes())
	return esc.String()
}

// Difference is one way a rebuilt graph differs from the live one.
type Difference struct {
	// Kind is one of the Diff* constants.
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
	// LiveProfileID and RebuiltProfileID name the profiles concerned.
	LiveProfileID    string `json:"live_profile_id,omitempty"`
	RebuiltProfileID string `json:"rebuilt_profile_id,omitempty"`
	// Identifiers are the identifiers of the profile concerned (DiffProfile,
	// DiffState: the live profile's; DiffRebuiltProfile: the rebuilt
	// one's), or the one identifier concerned.
	Identifiers []string `json:"identifiers,omitempty"`
	// Live and Rebuilt say where the other side puts those identifiers:
	// profile id -> all identifiers of that profile, with "~" for the ones
	// in no profile and "?" for unknown ones.
	Live    map[string][]string `json:"live,omitempty"`
	Rebuilt map[string][]string `json:"rebuilt,omitempty"`
	// Fields are the state fields that differ (DiffState), null where a
	// side lacks the field.
	Fields map[string]FieldDiff `json:"fields,omitempty"`
	// LiveCuts and RebuiltCuts are the identifier's cuts (DiffCut).
	LiveCuts    []string `json:"live_cuts,omitempty"`
	RebuiltCuts []string `json:"rebuilt_cuts,omitempty"`
}

// FieldDiff is a state field on both sides; nil where a side lacks it.
type FieldDiff struct {
	Live    *string `json:"live"`
	Rebuilt *string `json:"rebuilt"`
}

// Kinds of Difference.
const (
	// DiffProfile: the rebuild does not hold a live profile's identifiers
	// as exactly one profile.
	DiffProfile = "profile"
	// DiffRebuiltProfile: a rebuilt profile holds no identifier of any live
	// profile.
	DiffRebuiltProfile = "rebuilt_profile"
	// DiffUnlinked: an identifier in no profile on one side is unknown on
	// the other.
	DiffUnlinked = "unlinked"
	// DiffState: a profile holds the same identifiers on both sides but
	// another state.
	DiffState = "state"
	// DiffCut: an identifier's unmerge cuts differ.
	DiffCut = "cut"
	// DiffDangling: an identifier's index entry names a profile that does
	// not exist.
	DiffDangling = "dangling"
)

// Compare returns how rebuilt differs from live, nil if not at all: the
// partition of identifiers into profiles (profile ids aside), which
// identifiers are in no profile, the state of each profile (compared in
// ComparableState form) and the cuts. Differences come sorted by kind, then
// identifiers.
func Compare(live, rebuilt *GraphSnapshot) []Difference {
	var diffs []Difference
	liveGroups, rebuiltGroups := groups(live.Owner), groups(rebuilt.Owner)
	// where describes how side g holds identifiers ids.
	where := func(g *GraphSnapshot, groups map[string][]string, ids []string) map[string][]string {
		out := map[string][]string{}
		for _, id := range ids {
			switch pid, ok := g.Owner[id]; {
			case !ok:
				out["?"] = append(out["?"], id)
			case pid == "":
				out["~"] = append(out["~"], id)
			default:
				out[pid] = groups[pid]
			}
		}
		return out
	}
	for _, pid := range sortedByFirst(liveGroups) {
		ids := liveGroups[pid]
		q, ok := rebuilt.Owner[ids[0]]
		same := ok && q != "" && slices.Equal(rebuiltGroups[q], ids)
		if !same {
			diffs = append(diffs, Difference{Kind: DiffProfile, LiveProfileID: pid, Identifiers: ids,
				Rebuilt: where(rebuilt, rebuiltGroups, ids),
				Detail:  "the rebuild does not hold these identifiers as one profile of exactly them"})
			continue
		}
		if fields := stateDiff(live.States[pid], rebuilt.States[q]); len(fields) > 0 {
			diffs = append(diffs, Difference{Kind: DiffState, LiveProfileID: pid, RebuiltProfileID: q,
				Identifiers: ids, Fields: fields, Detail: "same identifiers, different state"})
		}
	}
	for _, q := range sortedByFirst(rebuiltGroups) {
		ids := rebuiltGroups[q]
		if !slices.ContainsFunc(ids, func(id string) bool { return live.Owner[id] != "" }) {
			diffs = append(diffs, Difference{Kind: DiffRebuiltProfile, RebuiltProfileID: q, Identifiers: ids,
				Live: where(live, liveGroups, ids), Detail: "no live profile holds any of these identifiers"})
		}
	}
	for _, pair := range []struct {
		a, b   *GraphSnapshot
		detail string
	}{
		{live, rebuilt, "in no profile live, unknown to the rebuild"},
		{rebuilt, live, "in no profile in the rebuild, unknown to the live graph"},
	} {
		for _, id := range sortedKeys(pair.a.Owner) {
			if _, known := pair.b.Owner[id]; pair.a.Owner[id] == "" && !known {
				diffs = append(diffs, Difference{Kind: DiffUnlinked, Identifiers: []string{id}, Detail: pair.detail})
			}
		}
	}
	for _, side := range []struct {
		g    *GraphSnapshot
		name string
	}{{live, "live"}, {rebuilt, "rebuilt"}} {
		for _, id := range sortedKeys(side.g.Dangling) {
			diffs = append(diffs, Difference{Kind: DiffDangling, Identifiers: []string{id},
				Detail: fmt.Sprintf("the %s index names profile %s, which does not exist", side.name, side.g.Dangling[id])})
		}
	}
	cutIDs := map[string]bool{}
	for id := range live.Cuts {
		cutIDs[id] = true
	}
	for id := range rebuilt.Cuts {
		cutIDs[id] = true
	}
	for _, id := range sortedKeys(cutIDs) {
		l, r := sortedCopy(live.Cuts[id]), sortedCopy(rebuilt.Cuts[id])
		if !slices.Equal(slices.Compact(l), slices.Compact(r)) {
			diffs = append(diffs, Difference{Kind: DiffCut, Identifiers: []string{id}, LiveCuts: l, RebuiltCuts: r,
				Detail: "the identifier's unmerge cuts differ"})
		}
	}
	slices.SortStableFunc(diffs, func(a, b Difference) int {
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return slices.Compare(a.Identifiers, b.Identifiers)
	})
	return diffs
}

// groups inverts an owner map: profile id -> its identifiers, sorted.
func groups(owner map[string]string) map[string][]string {
	out := map[string][]string{}
	for id, pid := range owner {
		if pid != "" {
			out[pid] = append(out[pid], id)
		}
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out
}

// sortedByFirst returns the profile ids of groups ordered by their first
// identifier, so that differences come in an order independent of ids.
func sortedByFirst(groups map[string][]string) []string {
	pids := slices.Collect(maps.Keys(groups))
	slices.SortFunc(pids, func(a, b string) int { return strings.Compare(groups[a][0], groups[b][0]) })
	return pids
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func sortedCopy(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	c := slices.Clone(l)
	slices.Sort(c)
	return c
}

// stateDiff returns the fields in which two comparable states differ.
func stateDiff(a, b profile.State) map[string]FieldDiff {
	out := map[string]FieldDiff{}
	for f, v := range a {
		if w, ok := b[f]; !ok || w != v {
			d := FieldDiff{Live: ptr(v)}
			if ok {
				d.Rebuilt = ptr(w)
			}
			out[f] = d
		}
	}
	for f, w := range b {
		if _, ok := a[f]; !ok {
			out[f] = FieldDiff{Rebuilt: ptr(w)}
		}
	}
	return out
}

func ptr(s string) *string { return &s }

// suppressionsOf converts ClickHouse's suppressions to the store's.
func suppressionsOf(rows []chstore.Suppression) []redisstore.Suppression {
	out := make([]redisstore.Suppression, len(rows))
	for i, r := range rows {
		out[i] = redisstore.Suppression{Hash: r.Hash, ProfileID: r.ProfileID, MergedFrom: r.MergedFrom,
			At: r.ForgottenAt, Version: int64(r.Version)}
	}
	return out
}
