package resolve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/cxstream/cxstream/pipeline/internal/retry"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
)

// Store is the part of the Redis store the resolver needs. Apply must be
// atomic per call and idempotent for re-applied offsets.
type Store interface {
	Apply(ctx context.Context, tenant string, items []redisstore.Item) (*redisstore.Result, error)
}

// Resolver is the resolver stage.
type Resolver struct {
	cfg    Config
	kafka  kafkaio.Config
	policy *identity.Policy
	model  *profile.Model
	ann    Announcer
	act    *Activator // nil: no segments, triggers or timers
	store  Store
	log    *slog.Logger
	m      *metrics
	now    func() time.Time
}

// New returns a resolver; Run starts it. Events are resolved under the
// identity rules and folded under the profile model.
func New(cfg Config, kcfg kafkaio.Config, rules identity.Rules, model *profile.Model, store Store, log *slog.Logger, reg prometheus.Registerer) (*Resolver, error) {
	policy, err := rules.Compile()
	if err := errors.Join(cfg.Validate(), kcfg.Validate(), err); err != nil {
		return nil, err
	}
	cfg.Limits.Normalize = policy.Normalize
	r := &Resolver{cfg: cfg, kafka: kcfg, policy: policy, model: model, store: store, log: log, m: newMetrics(reg), now: time.Now}
	r.ann = Announcer{Topics: kcfg.Topics, Model: model, Now: func() time.Time { return r.now() }}
	return r, nil
}

// WithActivation makes the resolver evaluate segments, publish triggers on
// cx.triggers and run the timer loop (see Activator).
func (r *Resolver) WithActivation(a *Activator) *Resolver {
	r.act = a
	return r
}

// Run consumes cx.interactions until ctx ends, with Config.Consumers
// consumer loops sharing one Kafka writer. A batch that has been fetched is
// always finished (resolved, published, committed) before Run returns, so a
// shutdown never leaves work for the next owner except what a crash would.
// Run returns nil on shutdown and an error only if it cannot go on; when one
// loop cannot go on, the others finish their batches and stop too.
func (r *Resolver) Run(ctx context.Context) error {
	writer := kafkaio.NewWriter(r.kafka)
	defer writer.Close()
	if r.act != nil {
		// The loop stops with Run, whether ctx ended or Run failed, and
		// before the writer closes.
		tctx, stop := context.WithCancel(ctx)
		timers := make(chan error, 1)
		go func() {
			timers <- r.act.RunTimers(tctx, writer, r.kafka.Topics.DeadLetter, r.log.With("loop", "timers"))
		}()
		defer func() { stop(); <-timers }()
	}
	r.log.Info("resolver started", "topic", r.kafka.Topics.Interactions, "group", r.cfg.Group, "consumers", r.cfg.Consumers)
	g, gctx := errgroup.WithContext(ctx)
	lags := make([]atomic.Int64, r.cfg.Consumers) // each loop's reader lag; the gauge is their sum
	for i := range r.cfg.Consumers {
		log := r.log
		if r.cfg.Consumers > 1 {
			log = log.With("consumer", i)
		}
		g.Go(func() error { return r.consume(gctx, writer, lags, i, log) })
	}
	err := g.Wait()
	if err == nil {
		r.log.Info("resolver stopped")
	}
	return err
}

// consume is consumer loop i: fetch a batch, process it, commit it.
func (r *Resolver) consume(ctx context.Context, writer *kafka.Writer, lags []atomic.Int64, i int, log *slog.Logger) error {
	reader := kafkaio.NewReader(r.kafka, r.cfg.Group, r.kafka.Topics.Interactions)
	defer reader.Close()
	for {
		msgs, err := kafkaio.FetchBatch(ctx, reader, r.cfg.BatchSize, r.cfg.BatchWait)
		if len(msgs) == 0 {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("fetch failed", "err", err)
			r.sleep(ctx, time.Second)
			continue
		}
		// Finish the batch even if ctx ends meanwhile; retries stop only when
		// the process is told to stop twice (the caller cancels drain).
		drain := context.WithoutCancel(ctx)
		start := r.now()
		if err := r.process(ctx, drain, writer, msgs); err != nil {
			return err
		}
		if err := r.retry(ctx, "commit", func() error { return reader.CommitMessages(drain, msgs...) }); err != nil {
			return err
		}
		r.m.commits.Inc()
		lags[i].Store(reader.Stats().Lag)
		var lag int64
		for j := range lags {
			lag += lags[j].Load()
		}
		r.m.lag.Set(float64(lag))
		r.m.batchSize.Observe(float64(len(msgs)))
		r.m.batchTime.Observe(r.now().Sub(start).Seconds())
	}
}

// tenantAcks are the activation occurrences of one tenant to ack once the
// batch's messages are published.
type tenantAcks struct {
	tenant string
	done   []redisstore.Claimed
}

// process resolves one batch and publishes its results.
func (r *Resolver) process(ctx, drain context.Context, w *kafka.Writer, msgs []kafka.Message) error {
	out, toAck, err := r.resolve(ctx, drain, msgs)
	if err != nil {
		return err
	}
	if len(out) > 0 {
		if err := r.retry(ctx, "publish", func() error { return w.WriteMessages(drain, out...) }); err != nil {
			return err
		}
	}
	if r.act == nil {
		return nil
	}
	r.act.Published(out)
	for _, a := range toAck {
		if err := r.retry(ctx, "ack", func() error { return r.act.Ack(drain, a.tenant, a.done) }); err != nil {
			return err
		}
	}
	return nil
}

// resolve decodes one batch, resolves and folds it (one store call per
// tenant), runs activation, and returns the messages to publish and the
// activation occurrences to ack after publishing.
func (r *Resolver) resolve(ctx, drain context.Context, msgs []kafka.Message) ([]kafka.Message, []tenantAcks, error) {
	var out []kafka.Message
	byTenant := map[string][]int{} // tenant -> indexes into events
	var order []string
	events := make([]*event.Event, len(msgs))
	items := make([]redisstore.Item, len(msgs))
	invalid := 0
	for i, msg := range msgs {
		e, item, err := r.decode(msg)
		if err != nil {
			o := kafkaio.Origin{Stage: "resolver", Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset}
			if e != nil && event.ValidTenant(e.Tenant) {
				o.Tenant = e.Tenant
			}
			out = append(out, kafkaio.DeadLetter(r.kafka.Topics.DeadLetter, msg.Key, msg.Value, err, o, r.now()))
			invalid++
			continue
		}
		events[i] = e
		items[i] = item
		if _, ok := byTenant[e.Tenant]; !ok {
			order = append(order, e.Tenant)
		}
		byTenant[e.Tenant] = append(byTenant[e.Tenant], i)
	}
	if invalid > 0 {
		r.m.events.WithLabelValues("invalid").Add(float64(invalid))
		r.m.deadletters.Add(float64(invalid))
	}
	var toAck []tenantAcks
	for _, tenant := range order {
		idx := byTenant[tenant]
		batch := make([]redisstore.Item, len(idx))
		for j, i := range idx {
			batch[j] = items[i]
		}
		var res *redisstore.Result
		err := r.retry(ctx, "redis", func() (err error) {
			r.m.redisCalls.Inc()
			res, err = r.store.Apply(drain, tenant, batch)
			return err
		})
		if err != nil {
			return nil, nil, err
		}
		profiles := r.ann.Render(tenant, res.Profiles)
		if r.act != nil {
			ch := Change{Tenant: tenant, Profiles: profiles, Records: res.Records}
			for j, i := range idx {
				if o := res.Outcomes[j]; o.Status == redisstore.StatusApplied || o.Status == redisstore.StatusReplayed {
					ch.Events = append(ch.Events, events[i])
					ch.EventProfiles = append(ch.EventProfiles, o.ProfileID)
				}
			}
			var act Activation
			if err := r.retry(ctx, "activate", func() (err error) {
				act, err = r.act.Activate(drain, ch)
				return err
			}); err != nil {
				return nil, nil, err
			}
			out = append(out, act.Messages...)
			toAck = append(toAck, tenantAcks{tenant, act.Done})
		}
		msgsOut, err := r.outputs(tenant, idx, events, res, profiles)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, msgsOut...)
	}
	return out, toAck, nil
}

// decode parses and validates one message and builds its store item. On an
// error it returns the event too when the message decoded (its tenant goes
// on the dead letter).
//
// Direct producers may leave received_at empty: the Kafka message time
// stands in. A received_at more than Limits.MaxFuture after the message time
// is rejected: event_time is bounded by received_at, so an unbounded
// received_at would let any event_time through.
func (r *Resolver) decode(msg kafka.Message) (*event.Event, redisstore.Item, error) {
	e, err := event.Decode(msg.Value)
	if err != nil {
		return nil, redisstore.Item{}, err
	}
	var errs event.Errors
	lim := r.cfg.Limits
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = msg.Time
	} else if !msg.Time.IsZero() && lim.MaxFuture > 0 && e.ReceivedAt.Sub(msg.Time) > lim.MaxFuture {
		errs = event.Errors{{Field: "received_at", Reason: fmt.Sprintf("more than %s after the Kafka message time", lim.MaxFuture)}}
	}
	if err := event.Prepare(e, lim); err != nil {
		var pe event.Errors
		if !errors.As(err, &pe) {
			return e, redisstore.Item{}, err
		}
		errs = append(errs, pe...)
	}
	if len(errs) > 0 {
		return e, redisstore.Item{}, errs
	}
	// Identifier types stored hashed (identity rules, hash: true) are
	// hashed here, before anything is stored or published: the graph, the
	// timeline and everything downstream hold the hashes only, in the
	// identifiers and wherever the traits, properties or context repeat
	// them.
	r.policy.PseudonymizeEvent(e)
	item, ok := redisstore.NewItem(msg.Topic+"/"+strconv.Itoa(msg.Partition), msg.Offset, e, r.policy, r.model)
	if n := len(e.Identifiers) - len(item.Identifiers); ok && n > 0 {
		r.m.blocked.Add(float64(n))
	}
	if !ok {
		return e, redisstore.Item{}, event.Errors{{Field: "identifiers", Reason: event.AllBlocked}}
	}
	return e, item, nil
}

// outputs builds the cx.timeline, cx.identity and cx.profiles messages of
// one tenant's batch result, whose profiles are rendered. Messages with the
// same key keep their order.
func (r *Resolver) outputs(tenant string, idx []int, events []*event.Event, res *redisstore.Result, profiles []*profile.Profile) ([]kafka.Message, error) {
	t := r.kafka.Topics
	var out []kafka.Message
	counts := map[redisstore.Status]int{}
	defer func() { // one metric update per status per batch, not per event
		for st, n := range counts {
			r.m.events.WithLabelValues(string(st)).Add(float64(n))
		}
	}()
	for j, i := range idx {
		o := res.Outcomes[j]
		counts[o.Status]++
		if o.Status != redisstore.StatusApplied && o.Status != redisstore.StatusReplayed {
			continue
		}
		v, err := json.Marshal(event.Resolved{ProfileID: o.ProfileID, Event: events[i]})
		if err != nil {
			return nil, fmt.Errorf("encode timeline event: %w", err)
		}
		out = append(out, kafka.Message{Topic: t.Timeline, Key: []byte(o.ProfileID), Value: v})
	}
	msgs, err := r.ann.Messages(tenant, res.Records, profiles)
	if err != nil {
		return nil, err
	}
	kinds := map[identity.Kind]int{}
	for _, rec := range res.Records {
		kinds[rec.Kind]++
	}
	for k, n := range kinds { // one metric update per kind per batch
		r.m.identity.WithLabelValues(string(k)).Add(float64(n))
	}
	if res.Rederived > 0 {
		r.m.rederived.Add(float64(res.Rederived))
	}
	out = append(out, msgs...)
	return out, nil
}

// retry runs op until it succeeds, backing off up to cfg.RetryMax. It gives
// up only when ctx has ended and the operation still fails, so that a
// shutdown does not abandon a batch while its dependencies answer.
func (r *Resolver) retry(ctx context.Context, name string, op func() error) error {
	return retry.Do(ctx, retry.Backoff{Min: 50 * time.Millisecond, Max: r.cfg.RetryMax}, name,
		func(context.Context) error { return op() },
		func(attempt int, wait time.Duration, err error) {
			r.m.retries.WithLabelValues(name).Inc()
			r.log.Warn("retrying", "op", name, "attempt", attempt, "err", err, "wait", wait)
		})
}

func (r *Resolver) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
