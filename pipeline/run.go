package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/cxstream/cxstream/pipeline/api"
	"github.com/cxstream/cxstream/pipeline/collect"
	"github.com/cxstream/cxstream/pipeline/privacy"
	"github.com/cxstream/cxstream/pipeline/resolve"
	"github.com/cxstream/cxstream/pipeline/sink"
	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/segment"
	"github.com/cxstream/cxstream/pkg/telemetry"
)

// Stage names, as used by the cxstream subcommands.
const (
	StageCollector = "collector"
	StageResolver  = "resolver"
	StageSink      = "sink"
	StageAPI       = "api"
)

// AllStages is what `cxstream run` starts.
var AllStages = []string{StageCollector, StageResolver, StageSink, StageAPI}

// Run starts the given stages in this process and blocks until ctx ends and
// every stage has drained, or until a stage fails (which stops the others).
// It creates missing Kafka topics and, when the sink or the API runs,
// applies pending ClickHouse migrations.
func Run(ctx context.Context, cfg Config, stages []string, log *slog.Logger, reg *prometheus.Registry) error {
	tel := telemetry.NewServer(cfg.Telemetry, reg, log)
	has := func(s string) bool { return slices.Contains(stages, s) }

	if err := waitFor(ctx, log, "kafka", func(ctx context.Context) error { return kafkaio.EnsureTopics(ctx, cfg.Kafka) }); err != nil {
		return err
	}
	var (
		rs *redisstore.Store
		ch *chstore.Store
	)
	if has(StageResolver) || has(StageAPI) {
		if err := waitFor(ctx, log, "redis", func(ctx context.Context) (err error) {
			rs, err = OpenRedis(ctx, cfg)
			return err
		}); err != nil {
			return err
		}
		defer rs.Close()
		rs.Client().AddHook(telemetry.NewRedisHook(reg))
	}
	if has(StageSink) || has(StageAPI) {
		if err := waitFor(ctx, log, "clickhouse", func(ctx context.Context) (err error) {
			ch, err = chstore.Open(ctx, cfg.ClickHouse)
			return err
		}); err != nil {
			return err
		}
		defer ch.Close()
		applied, err := ch.Migrate(ctx)
		if err != nil {
			return err
		}
		log.Info("clickhouse schema ready", "applied", applied)
	}

	var act *resolve.Activator
	if rs != nil {
		var err error
		if act, err = NewActivator(cfg, rs, reg); err != nil {
			return err
		}
	}

	type runner interface{ Run(context.Context) error }
	var runners []runner
	for _, s := range stages {
		var (
			r   runner
			err error
		)
		switch s {
		case StageCollector:
			w := kafkaio.NewWriter(cfg.Kafka)
			defer w.Close()
			r, err = collect.New(cfg.Collector, cfg.Identity, cfg.Kafka.Topics, w, log.With("stage", s), reg)
		case StageResolver:
			var res *resolve.Resolver
			if res, err = resolve.New(cfg.Resolver, cfg.Kafka, cfg.Identity, rs.Model(), rs, log.With("stage", s), reg); err == nil {
				r = res.WithActivation(act)
			}
		case StageSink:
			r, err = sink.New(cfg.Sink, cfg.Kafka, ch, log.With("stage", s), reg)
		case StageAPI:
			w := kafkaio.NewWriter(cfg.Kafka)
			defer w.Close()
			var a *api.API
			if a, err = api.New(cfg.API, rs, ch, rs.Model(), log.With("stage", s), reg); err == nil {
				var priv *privacy.Service
				if priv, err = NewPrivacy(cfg, rs, ch, w, APIEraseWait, log.With("stage", s)); err == nil {
					r = a.WithSegments(act.Segments()).WithSplitter(&resolve.Splitter{Store: rs, Writer: w,
						Announcer: resolve.Announcer{Topics: cfg.Kafka.Topics, Model: rs.Model()}, Activator: act}).WithPrivacy(priv)
				}
			}
		default:
			err = fmt.Errorf("unknown stage %q (want one of %v)", s, AllStages)
		}
		if err != nil {
			return fmt.Errorf("start %s: %w", s, err)
		}
		runners = append(runners, r)
	}

	// Each stage returns when ctx (or a sibling's failure) cancels gctx, after
	// draining; the telemetry server returns when gctx ends too.
	g, gctx := errgroup.WithContext(ctx)
	for i, r := range runners {
		g.Go(func() error {
			if err := r.Run(gctx); err != nil {
				return fmt.Errorf("%s: %w", stages[i], err)
			}
			return nil
		})
	}
	g.Go(func() error { return tel.Run(gctx) })
	tel.SetReady(true)
	log.Info("cxstream running", "stages", stages)
	go func() { // exits when gctx ends: readiness goes off first, then stages drain
		<-gctx.Done()
		tel.SetReady(false)
	}()
	return g.Wait()
}

// waitFor retries connect until it succeeds, for up to two minutes, so that
// the pipeline can start before its services finish starting.
func waitFor(ctx context.Context, log *slog.Logger, name string, connect func(context.Context) error) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		attempt, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := connect(attempt)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("connect to %s: %w", name, err)
		}
		log.Warn("waiting for service", "service", name, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// NewActivator compiles the configured segments and trigger rules into
// the activator that resolvers and unmerges share; reg may be nil.
func NewActivator(cfg Config, rs *redisstore.Store, reg prometheus.Registerer) (*resolve.Activator, error) {
	segs, err := segment.Compile(cfg.Segments)
	if err != nil {
		return nil, err
	}
	return resolve.NewActivator(segs, cfg.Triggers, rs.Model(), rs, cfg.Kafka.Topics.Triggers, cfg.Resolver.Timers, reg)
}

// APIEraseWait is how long DELETE /v1/profiles/{ref} waits for the sink
// to store what may hold the person before it deletes their ClickHouse
// rows; past it the request answers 202 and is to be repeated.
const APIEraseWait = 30 * time.Second

// NewPrivacy returns the erasure and export service (pipeline/privacy) over
// the stores; w publishes the tombstones, wait bounds an erasure's wait for
// the sink.
func NewPrivacy(cfg Config, rs *redisstore.Store, ch *chstore.Store, w *kafka.Writer, wait time.Duration, log *slog.Logger) (*privacy.Service, error) {
	return privacy.New(privacy.Config{SinkGroup: cfg.Sink.Group, CatchUp: wait}, cfg.Kafka, rs, rs.Model(), ch, w, log)
}

// OpenRedis connects to the configured Redis with the configured identity
// rules and profile model.
func OpenRedis(ctx context.Context, cfg Config) (*redisstore.Store, error) {
	policy, err := cfg.Identity.Compile()
	if err != nil {
		return nil, err
	}
	model, err := cfg.Profile.Compile()
	if err != nil {
		return nil, err
	}
	return redisstore.New(ctx, cfg.Redis, policy, model)
}
