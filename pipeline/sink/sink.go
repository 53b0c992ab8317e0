// Package sink is the pipeline stage that stores what the resolver produced:
// it consumes cx.timeline, cx.identity and cx.profiles and inserts them into
// ClickHouse (cx_events; cx_identity and cx_aliases;
// cx_profile_snapshots) in large batches.
//
// Delivery is at least once and nothing is dropped: a batch's offsets are
// committed only after its rows were inserted, a failing insert is retried
// with backoff for as long as it takes, and a message that can never be
// inserted (undecodable, or missing what the tables need) goes to the
// dead-letter topic before the batch is committed. Duplicates from
// redelivery are harmless: the tables collapse them and the queries
// deduplicate (events by event id, snapshots by profile and version).
package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
)

// Store is where the sink writes; *chstore.Store implements it. Each call
// inserts the whole slice or returns an error, and may be retried with the
// same slice (the store must tolerate the duplicates a retry can create).
// Calls may be concurrent (one per consumer loop) and must honour ctx.
type Store interface {
	InsertEvents(ctx context.Context, rs []event.Resolved) error
	InsertIdentity(ctx context.Context, recs []identity.Record) error
	InsertSnapshots(ctx context.Context, rows []chstore.Snapshot) error
}

// Sink consumes the timeline, identity and profiles topics into a Store.
type Sink struct {
	cfg     Config
	kcfg    kafkaio.Config
	store   Store
	log     *slog.Logger
	metrics *metrics
}

// New validates the configurations and registers the sink's metrics with reg
// (nil: not registered).
func New(cfg Config, kcfg kafkaio.Config, store Store, log *slog.Logger, reg prometheus.Registerer) (*Sink, error) {
	if err := errors.Join(cfg.Validate(), kcfg.Validate()); err != nil {
		return nil, fmt.Errorf("sink config: %w", err)
	}
	if store == nil || log == nil {
		return nil, errors.New("sink: store and logger are required")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Sink{cfg: cfg, kcfg: kcfg, store: store, log: log, metrics: m}, nil
}

// Run consumes until ctx ends or a loop fails, then drains: each loop stops
// fetching, inserts and commits the batch it holds (within
// Config.ShutdownTimeout) and closes its reader. It returns nil after a clean
// shutdown, else the first loop's error.
//
// Goroutines: the three consumer loops (one per topic) run in an errgroup
// and return when ctx (or the group's context, cancelled by the first failing
// loop) ends and their last batch is handled; Run returns after all of them,
// then closes the dead-letter writer.
func (s *Sink) Run(ctx context.Context) (err error) {
	w := kafkaio.NewWriter(s.kcfg)
	defer func() {
		if cerr := w.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close dead-letter writer: %w", cerr)
		}
	}()
	s.log.Info("sink starting", "group", s.cfg.Group, "batch_rows", s.cfg.BatchRows, "flush_interval", s.cfg.FlushInterval, "flush_idle", s.cfg.FlushIdle)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return consume(gctx, s, w, table[event.Resolved]{
			name: "cx_events", topic: s.kcfg.Topics.Timeline,
			decode: byValue(decodeEvent), insert: s.store.InsertEvents,
		})
	})
	g.Go(func() error {
		return consume(gctx, s, w, table[identity.Record]{
			name: "cx_identity", topic: s.kcfg.Topics.Identity,
			decode: byValue(decodeRecord), insert: s.store.InsertIdentity,
		})
	})
	g.Go(func() error {
		return consume(gctx, s, w, table[chstore.Snapshot]{
			name: "cx_profile_snapshots", topic: s.kcfg.Topics.Profiles,
			decode: decodeProfile, insert: s.store.InsertSnapshots,
		})
	})
	err = g.Wait()
	s.log.Info("sink stopped", "clean", err == nil)
	return err
}
