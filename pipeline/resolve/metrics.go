package resolve

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cxstream/cxstream/pkg/kafkaio"
)

type metrics struct {
	events      *prometheus.CounterVec
	deadletters prometheus.Counter
	batchSize   prometheus.Histogram
	batchTime   prometheus.Histogram
	redisCalls  prometheus.Counter
	commits     prometheus.Counter
	identity    *prometheus.CounterVec
	retries     *prometheus.CounterVec
	rederived   prometheus.Counter
	blocked     prometheus.Counter
	lag         prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxstream_resolver_events_total",
			Help: "Events processed by the resolver, by outcome (ok, dup, replay, old, invalid).",
		}, []string{"outcome"}),
		deadletters: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxstream_resolver_deadletters_total",
			Help: "Messages sent to the dead-letter topic.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cxstream_resolver_batch_messages",
			Help:    "Messages per resolver batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		batchTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cxstream_resolver_batch_duration_seconds",
			Help:    "Time from a batch's fetch to its commit.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		commits: kafkaio.CommitCounter("resolver"),
		redisCalls: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxstream_resolver_redis_calls_total",
			Help: "Resolve script calls (one per batch and tenant).",
		}),
		identity: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxstream_resolver_identity_records_total",
			Help: "Identity changes published, by kind.",
		}, []string{"kind"}),
		rederived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxstream_resolver_rederived_total",
			Help: "Components re-derived in canonical order because an event arrived late into a component whose rules blocked a merge.",
		}),
		blocked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxstream_resolver_blocked_values_total",
			Help: "Identifier values ignored because the identity rules block them (junk such as \"undefined\").",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cxstream_resolver_lag_messages",
			Help: "Messages of cx.interactions not yet read by this resolver, as of each consumer loop's last batch (sum of the kafka-go readers' lag).",
		}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxstream_resolver_retries_total",
			Help: "Retried operations while a dependency failed, by operation.",
		}, []string{"op"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.deadletters, m.batchSize, m.batchTime, m.redisCalls, m.commits, m.identity, m.retries, m.rederived, m.blocked, m.lag)
	}
	return m
}

type activationMetrics struct {
	triggers   *prometheus.CounterVec
	suppressed *prometheus.CounterVec
	delay      *prometheus.HistogramVec
}

func newActivationMetrics(reg prometheus.Registerer) *activationMetrics {
	m := &activationMetrics{
		triggers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxstream_triggers_published_total",
			Help: "Triggers published on cx.triggers, by type.",
		}, []string{"type"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxstream_triggers_suppressed_total",
			Help: "Triggers not published, by type and reason: consent (the customer opted out of the purpose), late (older than triggers.max_lateness), cancelled (an order closed the cart), gone (the profile was deleted), rule_removed, malformed (a timer payload this version cannot read; sent to the dead-letter topic).",
		}, []string{"type", "reason"}),
		delay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cxstream_timer_delay_seconds",
			Help:    "How long after it was due a timer was claimed, by kind (cart, follow_up, eval, transition: one redelivered after its publisher's lease ran out).",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.triggers, m.suppressed, m.delay)
	}
	return m
}
