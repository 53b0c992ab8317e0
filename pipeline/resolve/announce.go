package resolve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
)

// Announcer builds the cx.identity and cx.profiles messages that tell
// downstream services about identity changes and the profiles' new state.
type Announcer struct {
	Topics kafkaio.Topics
	// Model renders profile states.
	Model *profile.Model
	// Now is the as_of time of rendered profiles (time.Now if nil).
	Now func() time.Time
}

// Render renders the states of one call's profiles as of now, sorted by
// id. Their segments are left empty for the caller to evaluate
// (Activator.Evaluate) before Messages announces them.
func (a Announcer) Render(tenant string, states map[string]profile.State) []*profile.Profile {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	asOf := now()
	ids := make([]string, 0, len(states))
	for id := range states {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]*profile.Profile, len(ids))
	for i, id := range ids {
		out[i] = a.Model.Render(tenant, id, states[id], profile.Meta{AsOf: asOf})
	}
	return out
}

// Messages returns one cx.identity message per record (key: its profile id,
// or the identifier if it has none), a {"merged_into", "version"} value on
// cx.profiles for every id a merge forwarded (once, with where it forwards
// after the call), and the profiles as rendered (Render) by the same call.
// Every cx.profiles message carries the tenant and the version in headers
// (kafkaio.HeaderTenant, kafkaio.HeaderVersion).
func (a Announcer) Messages(tenant string, recs []identity.Record, profiles []*profile.Profile) ([]kafka.Message, error) {
	// The script stamps every profile it touched in one call with the same
	// version; a merged-away id's last word carries it too.
	var version int64
	live := make(map[string]bool, len(profiles))
	for _, p := range profiles {
		version = max(version, p.Version)
		live[p.ProfileID] = true
	}
	headers := func(v int64) []kafka.Header {
		return []kafka.Header{{Key: kafkaio.HeaderTenant, Value: []byte(tenant)},
			{Key: kafkaio.HeaderVersion, Value: []byte(strconv.FormatInt(v, 10))}}
	}
	var out []kafka.Message
	for _, rec := range recs {
		v, err := json.Marshal(rec)
		if err != nil {
			return nil, fmt.Errorf("encode identity record: %w", err)
		}
		key := rec.ProfileID
		if key == "" {
			key = rec.Identifier
		}
		out = append(out, kafka.Message{Topic: a.Topics.Identity, Key: []byte(key), Value: v})
	}
	// One message per key and call: an id merged twice in one call (a chain
	// A -> B -> C) gets its final target only, and an id that is live after
	// the call (a re-derivation kept it) gets its state only, so no two
	// messages of one key share a version.
	for _, m := range mergedAway(recs, live) {
		v, _ := json.Marshal(profile.Merged{MergedInto: m.into, Version: version})
		out = append(out, kafka.Message{Topic: a.Topics.Profiles, Key: []byte(m.alias), Value: v, Headers: headers(version)})
	}
	for _, p := range profiles {
		v, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encode profile: %w", err)
		}
		out = append(out, kafka.Message{Topic: a.Topics.Profiles, Key: []byte(p.ProfileID), Value: v, Headers: headers(p.Version)})
	}
	return out, nil
}

// merge is an id a call merged away, and the live profile it forwards to
// after the call.
type merge struct{ alias, into string }

// mergedAway lists the ids the records merged away that are not live
// after the call, in the order they were first merged, each with the end
// of the call's own chain of merges (A -> B -> C gives A and B into C).
func mergedAway(recs []identity.Record, live map[string]bool) []merge {
	into := map[string]string{} // merged-away id -> where it forwards after the call
	var aliases []string
	for _, rec := range recs {
		if rec.Kind != identity.KindMerged {
			continue
		}
		for _, alias := range rec.Aliases {
			if _, ok := into[alias]; !ok {
				aliases = append(aliases, alias)
			}
			into[alias] = rec.ProfileID // a later merge in the call wins
		}
	}
	var out []merge
	for _, alias := range aliases {
		if live[alias] {
			continue
		}
		target := into[alias]
		for range 64 { // follow the call's own chain to the live end
			next, ok := into[target]
			if !ok || next == target {
				break
			}
			target = next
		}
		out = append(out, merge{alias, target})
	}
	return out
}

// Splitter carries out unmerges: it splits in Redis, then announces the
// split on cx.identity and cx.profiles.
type Splitter struct {
	Store     *redisstore.Store
	Writer    *kafka.Writer
	Announcer Announcer
	// Activator, if set, evaluates the split profiles' segments and
	// publishes their triggers (the revived profile enters its segments).
	Activator *Activator
}

// Unmerge takes identifier id out of its profile (profileID, if not empty,
// must be that profile or an alias of it) and publishes what changed. If
// publishing fails the split stands in Redis and the error says so; the
// profiles are announced again with their next change.
func (s *Splitter) Unmerge(ctx context.Context, tenant, profileID string, id event.Identifier) (*redisstore.Split, error) {
	sp, err := s.Store.Unmerge(ctx, tenant, profileID, id, time.Now())
	if err != nil {
		return nil, err
	}
	profiles := s.Announcer.Render(tenant, sp.Profiles)
	var act Activation
	if s.Activator != nil {
		if act, err = s.Activator.Activate(ctx, Change{Tenant: tenant, Profiles: profiles, Records: sp.Records}); err != nil {
			return sp, errors.Join(ErrNotAnnounced, err)
		}
	}
	msgs, err := s.Announcer.Messages(tenant, sp.Records, profiles)
	if err != nil {
		return sp, err
	}
	msgs = append(msgs, act.Messages...)
	if err := s.Writer.WriteMessages(ctx, msgs...); err != nil {
		return sp, errors.Join(ErrNotAnnounced, err)
	}
	if s.Activator != nil {
		s.Activator.Published(act.Messages)
		// Unacked, the transitions are published again by a timer loop
		// when their lease runs out.
		if err := s.Activator.Ack(ctx, tenant, act.Done); err != nil {
			return sp, err
		}
	}
	return sp, nil
}

// ErrNotAnnounced: the split was made but not (fully) published.
var ErrNotAnnounced = errors.New("split made in redis but not announced on kafka")
