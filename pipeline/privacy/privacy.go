// Package privacy carries out a person's rights over their data: erasure
// (Forget: `cxstream forget`, DELETE /v1/profiles/{ref}) and access (Export:
// `cxstream export`, GET /v1/profiles/{ref}/export).
//
// Forgetting a person, found by any of their identifiers or their profile
// id, takes five steps, each safe to repeat:
//
//  1. Redis, atomically (redisstore.Store.Forget): the profile, its
//     identity graph (anchors, index entries, forwarding pointers, cuts),
//     its activation state and timers go, and its identifiers become
//     suppressed: kept as SHA-1 hashes, they are dropped from every later
//     event, and an event whose strongest identifier is one of them is
//     skipped (status "suppressed"). From here on nothing of the person is
//     folded or published again, whether by a new event, a redelivery or a
//     replay of cx.interactions.
//  2. A tombstone (key: the profile id, no value) on cx.profiles for the
//     profile and every id merged into it, so compaction drops their
//     documents and downstream services delete their copies.
//  3. The suppressions go to ClickHouse (cx_suppressions), so that
//     `cxstream rebuild` restores them after a Redis loss.
//  4. Wait until the sink's consumer group has committed everything
//     written to cx.timeline, cx.identity and cx.profiles up to step 2:
//     after that no row of the person can still be on its way to
//     ClickHouse. The wait is bounded (Config.CatchUp).
//  5. ClickHouse (chstore.Store.Erase): the person's rows of cx_events,
//     cx_identity, cx_profile_snapshots (the tombstone row stays) and
//     cx_aliases are deleted (ALTER TABLE ... DELETE, applied by ClickHouse
//     in the background).
//
// If the sink did not catch up in time, step 5 still deletes what is there
// and the report says Complete: false; forgetting the same reference again
// (the profile id, or any of the identifiers: they resolve to the erasure
// through their hashes) finishes the job.
package privacy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
)

// Config tunes erasure.
type Config struct {
	// SinkGroup is the sink's Kafka consumer group (sink.group), whose
	// progress Forget waits for before deleting ClickHouse rows.
	SinkGroup string
	// CatchUp bounds that wait.
	CatchUp time.Duration
}

// Store is what erasure and export need of the Redis store.
type Store interface {
	Resolve(ctx context.Context, tenant, ref string) (string, profile.State, error)
	Forget(ctx context.Context, tenant, ref string, at time.Time) (*redisstore.Erasure, error)
	Suppressions(ctx context.Context, tenant string) ([]redisstore.Suppression, error)
}

// Log is what they need of ClickHouse.
type Log interface {
	Erase(ctx context.Context, tenant string, profileIDs, hashes []string) (chstore.Erased, error)
	InsertSuppressions(ctx context.Context, rows []chstore.Suppression) error
	Timeline(ctx context.Context, tenant, profileID string, q chstore.TimelineQuery) (chstore.TimelinePage, error)
	IdentityHistory(ctx context.Context, tenant, profileID string, limit int) (chstore.History, error)
}

// messageWriter publishes the tombstones; *kafka.Writer implements it.
type messageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Service forgets and exports people.
type Service struct {
	cfg    Config
	kafka  kafkaio.Config
	store  Store
	model  *profile.Model
	log    Log
	writer messageWriter
	logger *slog.Logger
	now    func() time.Time
	// behind reports how far the sink is from marks (kafkaio.Behind); a
	// field so that tests of the other steps need no sink.
	behind func(ctx context.Context, marks kafkaio.Marks) (int64, error)
	marks  func(ctx context.Context) (kafkaio.Marks, error)
}

// New returns the service. model renders exported profiles; w publishes
// the tombstones on cx.profiles.
func New(cfg Config, kcfg kafkaio.Config, store Store, model *profile.Model, log Log, w messageWriter, logger *slog.Logger) (*Service, error) {
	if cfg.SinkGroup == "" {
		return nil, errors.New("privacy: the sink's consumer group is required (sink.group)")
	}
	if cfg.CatchUp <= 0 {
		cfg.CatchUp = 2 * time.Minute
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, kafka: kcfg, store: store, model: model, log: log, writer: w, logger: logger, now: time.Now}
	t := kcfg.Topics
	client := kafkaio.Client(kcfg)
	s.marks = func(ctx context.Context) (kafkaio.Marks, error) {
		return kafkaio.HighWatermarks(ctx, client, t.Timeline, t.Identity, t.Profiles)
	}
	s.behind = func(ctx context.Context, marks kafkaio.Marks) (int64, error) {
		return kafkaio.Behind(ctx, client, cfg.SinkGroup, marks)
	}
	return s, nil
}

// Report is what Forget did.
type Report struct {
	Tenant    string `json:"tenant"`
	ProfileID string `json:"profile_id"`
	// MergedFrom are the ids of the profiles merged into it, erased too.
	MergedFrom []string `json:"merged_from"`
	// Suppressed is the number of identifiers suppressed now (0 when the
	// person had been forgotten before: AlreadyForgotten).
	Suppressed       int       `json:"identifiers_suppressed"`
	AlreadyForgotten bool      `json:"already_forgotten"`
	ForgottenAt      time.Time `json:"forgotten_at"`
	// Tombstones were published on cx.profiles.
	Tombstones int `json:"tombstones"`
	// SinkBehind is how many messages the sink still had to store when the
	// wait ended (0: it had stored everything that could hold the person).
	SinkBehind int64 `json:"sink_behind"`
	// ClickHouse are the rows found and deleted per table.
	ClickHouse chstore.Erased `json:"clickhouse"`
	// Complete is false when rows of the person may still reach ClickHouse
	// (the sink was behind): forget the same reference again later.
	Complete bool `json:"complete"`
}

// Forget erases the person ref names (a profile id or "type:value") from
// Redis, Kafka's cx.profiles and ClickHouse (see the package doc).
// redisstore.ErrNotFound: no such person and no such erasure;
// redisstore.ErrBadRef: a malformed identifier.
func (s *Service) Forget(ctx context.Context, tenant, ref string) (Report, error) {
	rep := Report{Tenant: tenant}
	er, err := s.store.Forget(ctx, tenant, ref, s.now())
	if err != nil {
		return rep, err
	}
	rep.ProfileID, rep.MergedFrom, rep.AlreadyForgotten = er.ProfileID, er.MergedFrom, er.Already
	rep.Suppressed, rep.ForgottenAt = len(er.Identifiers), er.At
	s.logger.Info("forget: erased from redis", "tenant", tenant, "erasure", er.String(), "already", er.Already)

	ids := append([]string{er.ProfileID}, er.MergedFrom...)
	headers := []kafka.Header{{Key: kafkaio.HeaderTenant, Value: []byte(tenant)},
		{Key: kafkaio.HeaderVersion, Value: []byte(strconv.FormatInt(er.Version, 10))}}
	tombs := make([]kafka.Message, len(ids))
	for i, id := range ids {
		tombs[i] = kafka.Message{Topic: s.kafka.Topics.Profiles, Key: []byte(id), Headers: headers}
	}
	if err := s.writer.WriteMessages(ctx, tombs...); err != nil {
		return rep, fmt.Errorf("forget %s: publish tombstones: %w", er.ProfileID, err)
	}
	rep.Tombstones = len(tombs)

	hashes, err := s.hashes(ctx, tenant, er)
	if err != nil {
		return rep, err
	}
	rows := make([]chstore.Suppression, len(hashes))
	for i, h := range hashes {
		rows[i] = chstore.Suppression{Tenant: tenant, Hash: h, ProfileID: er.ProfileID, MergedFrom: er.MergedFrom,
			Version: uint64(er.Version), ForgottenAt: er.At}
	}
	if err := s.log.InsertSuppressions(ctx, rows); err != nil {
		return rep, fmt.Errorf("forget %s: record suppressions in clickhouse: %w", er.ProfileID, err)
	}

	if rep.SinkBehind, err = s.waitForSink(ctx); err != nil {
		return rep, fmt.Errorf("forget %s: %w", er.ProfileID, err)
	}
	if rep.ClickHouse, err = s.log.Erase(ctx, tenant, ids, hashes); err != nil {
		return rep, fmt.Errorf("forget %s: %w", er.ProfileID, err)
	}
	rep.Complete = rep.SinkBehind == 0
	s.logger.Info("forget: erased from clickhouse", "tenant", tenant, "profile_id", er.ProfileID,
		"rows", rep.ClickHouse.Rows, "complete", rep.Complete)
	return rep, nil
}

// hashes are the suppression hashes of the erasure's identifiers: computed
// from them on the first erasure, read back from the store on a repeat.
func (s *Service) hashes(ctx context.Context, tenant string, er *redisstore.Erasure) ([]string, error) {
	var out []string
	if !er.Already {
		for _, id := range er.Identifiers {
			out = append(out, redisstore.SuppressionHash(id))
		}
		return out, nil
	}
	sups, err := s.store.Suppressions(ctx, tenant)
	if err != nil {
		return nil, err
	}
	for _, x := range sups {
		if x.ProfileID == er.ProfileID {
			out = append(out, x.Hash)
		}
	}
	slices.Sort(out)
	return out, nil
}

// waitForSink waits until the sink has committed everything written so far
// to the topics it stores, for up to CatchUp; it returns how many messages
// it was still behind.
func (s *Service) waitForSink(ctx context.Context) (int64, error) {
	marks, err := s.marks(ctx)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(s.cfg.CatchUp)
	for {
		n, err := s.behind(ctx, marks)
		if err != nil {
			return 0, err
		}
		if n == 0 || time.Now().After(deadline) {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// MaxExportEvents bounds the events of one export; a person with more gets
// the oldest MaxExportEvents and EventsTruncated.
const MaxExportEvents = 100000

// Export is all the data cxstream holds on a person: the profile (every
// identifier, trait, computed figure and consent per purpose) from Redis,
// and from ClickHouse every event of their timeline (the events recorded
// under profiles merged into theirs included) and their identity history.
type Export struct {
	Tenant     string    `json:"tenant"`
	ProfileID  string    `json:"profile_id"`
	ExportedAt time.Time `json:"exported_at"`
	// Consent is the consent per purpose as recorded (true: granted);
	// triggers are published only where it allows (pkg/trigger).
	Consent           map[string]bool         `json:"consent"`
	Profile           *profile.Profile        `json:"profile"`
	Events            []chstore.TimelineEvent `json:"events"`
	EventsTruncated   bool                    `json:"events_truncated"`
	Identity          []identity.Record       `json:"identity_history"`
	IdentityTruncated bool                    `json:"identity_history_truncated"`
}

// Export gathers what is held on the person ref names. A forgotten person
// is redisstore.ErrNotFound.
func (s *Service) Export(ctx context.Context, tenant, ref string) (*Export, error) {
	pid, st, err := s.store.Resolve(ctx, tenant, ref)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	p := s.model.Render(tenant, pid, st, profile.Meta{AsOf: now})
	out := &Export{Tenant: tenant, ProfileID: pid, ExportedAt: now.Truncate(time.Millisecond), Profile: p,
		Consent: p.Psychographic.Consent, Events: []chstore.TimelineEvent{}}
	q := chstore.TimelineQuery{Limit: chstore.MaxLimit}
	for {
		page, err := s.log.Timeline(ctx, tenant, pid, q)
		if err != nil {
			return nil, fmt.Errorf("export %s: timeline: %w", pid, err)
		}
		out.Events = append(out.Events, page.Events...)
		if page.Next == "" {
			break
		}
		if len(out.Events) >= MaxExportEvents {
			out.EventsTruncated = true
			break
		}
		q.Cursor = page.Next
	}
	h, err := s.log.IdentityHistory(ctx, tenant, pid, chstore.MaxHistoryLimit)
	if err != nil {
		return nil, fmt.Errorf("export %s: identity history: %w", pid, err)
	}
	out.Identity, out.IdentityTruncated = h.Records, h.Truncated
	if out.Identity == nil {
		out.Identity = []identity.Record{}
	}
	return out, nil
}
