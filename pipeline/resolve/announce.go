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

// Messages returns one cx.identity message per record (key: its profile id,
// or the identifier if it has none), a {"merged_into", "version"} value on
// cx.profiles for every id a merge forwarded (once, with where it forwards
// after the call), and the rendered state of every profile. Every cx.profiles message carries the tenant and the
// version in headers (kafkaio.HeaderTenant, kafkaio.HeaderVersion).
func (a Announcer) Messages(tenant string, recs []identity.Record, profiles map[string]profile.State) ([]kafka.Message, error) {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	asOf := now()
	// The script stamps every profile it touched in one call with the same
	// version; a merged-away id's last word carries it too.
	var version int64
	for _, st := range profiles {
		if v, _ := strconv.ParseInt(st[profile.FieldVersion], 10, 64); v > version {
			version = v
		}
	}
	headers := func(v int64) []kafka.Header {
		return []kafka.Header{{Key: kafkaio.HeaderTenant, Value: []byte(tenant)},
			{Key: kafkaio.HeaderVersion, Value: []byte(strconv.FormatInt(v, 10))}}
	}
	var out []kafka.Message
	into := map[string]string{} // merged-away id -> where it forwards after the call
	var aliases []string
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
		if rec.Kind == identity.KindMerged {
			for _, alias := range rec.Aliases {
				if _, ok := into[alias]; !ok {
					aliases = append(aliases, alias)
				}
				into[alias] = rec.ProfileID // a later merge in the call wins
			}
		}
	}
	// One message per key and call: an id merged twice in one call (a chain
	// A -> B -> C) gets its final target only, and an id that is live after
	// the call (a re-derivation kept it) gets its state only, so no two
	// messages of one key share a version.
	for _, alias := range aliases {
		if _, live := profiles[alias]; live {
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
		v, _ := json.Marshal(profile.Merged{MergedInto: target, Version: version})
		out = append(out, kafka.Message{Topic: a.Topics.Profiles, Key: []byte(alias), Value: v, Headers: headers(version)})
	}
	ids := make([]string, 0, len(profiles))
	for id := range profiles {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		p := a.Model.Render(tenant, id, profiles[id], profile.Meta{AsOf: asOf})
		v, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encode profile: %w", err)
		}
		out = append(out, kafka.Message{Topic: a.Topics.Profiles, Key: []byte(id), Value: v, Headers: headers(p.Version)})
	}
	return out, nil
}

// Splitter carries out unmerges: it splits in Redis, then announces the
// split on cx.identity and cx.profiles.
type Splitter struct {
	Store     *redisstore.Store
	Writer    *kafka.Writer
	Announcer Announcer
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
	msgs, err := s.Announcer.Messages(tenant, sp.Records, sp.Profiles)
	if err != nil {
		return sp, err
	}
	if err := s.Writer.WriteMessages(ctx, msgs...); err != nil {
		return sp, errors.Join(ErrNotAnnounced, err)
	}
	return sp, nil
}

// ErrNotAnnounced: the split was made but not (fully) published.
var ErrNotAnnounced = errors.New("split made in redis but not announced on kafka")
