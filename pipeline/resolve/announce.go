package resolve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
)

// Announce builds the cx.identity and cx.profiles messages that tell
// downstream services about identity changes and the profiles' new state:
// one cx.identity message per record (key: its profile id, or the
// identifier if it has none), a {"merged_into"} tombstone-like value on
// cx.profiles for every id a merge forwarded, and the state of every
// profile.
func Announce(t kafkaio.Topics, tenant string, recs []identity.Record, profiles map[string]profile.State) ([]kafka.Message, error) {
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
		out = append(out, kafka.Message{Topic: t.Identity, Key: []byte(key), Value: v})
		if rec.Kind == identity.KindMerged {
			into, _ := json.Marshal(profile.Merged{MergedInto: rec.ProfileID})
			for _, alias := range rec.Aliases {
				out = append(out, kafka.Message{Topic: t.Profiles, Key: []byte(alias), Value: into})
			}
		}
	}
	for id, st := range profiles {
		v, err := json.Marshal(profile.FromState(tenant, id, st))
		if err != nil {
			return nil, fmt.Errorf("encode profile: %w", err)
		}
		out = append(out, kafka.Message{Topic: t.Profiles, Key: []byte(id), Value: v})
	}
	return out, nil
}

// Splitter carries out unmerges: it splits in Redis, then announces the
// split on cx.identity and cx.profiles.
type Splitter struct {
	Store  *redisstore.Store
	Writer *kafka.Writer
	Topics kafkaio.Topics
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
	msgs, err := Announce(s.Topics, tenant, sp.Records, sp.Profiles)
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
