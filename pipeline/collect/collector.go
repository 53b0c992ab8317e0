// Package collect is the HTTP collector: a Segment-compatible tracking API
// (POST /v1/track, /v1/identify, /v1/page, /v1/screen, /v1/alias,
// /v1/group, /v1/batch and /v1/import, and the one-letter forms /v1/t,
// /v1/i, /v1/p, /v1/s, /v1/a, /v1/g and /v1/b that analytics.js posts to)
// that maps each call onto the cxstream envelope (pkg/tracking) and
// publishes it to the interactions topic, keyed by the event's strongest
// identifier.
//
// Trait operations as Segment, PostHog and Mixpanel users send them are
// recognised in an identify call's traits and in the properties of track,
// page and screen calls: $set (merged into the envelope's traits),
// $set_once (traits_set_once), $unset (traits_unset) and $increment or $add
// (traits_increment); see mapTraitOps. Properties keep these keys as sent.
//
// A request is answered 200 only after Kafka acknowledged every one of its
// messages, so a client that saw 200 can forget its events; on 5xx Segment's
// libraries retry. What the collector rejects is published to the
// dead-letter topic first, so nothing a client sent with a valid write key
// is lost silently.
package collect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cxstream/cxstream/pipeline/internal/limit"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/mapping"
	"github.com/cxstream/cxstream/pkg/tracking"
)

// Collector serves the tracking API.
type Collector struct {
	cfg      Config
	in       *intake
	mappings *mapping.Set
	pub      Publisher
	log      *slog.Logger
	metrics  *metrics
	keys     map[string]tracking.Source
	now      func() time.Time
	inFlight *limit.InFlight
	rate     *limit.Limiter
}

// New validates its arguments and returns a collector. Its metrics are
// registered with reg (not at all when reg is nil); log may be nil.
func New(cfg Config, rules identity.Rules, topics kafkaio.Topics, pub Publisher, log *slog.Logger, reg prometheus.Registerer) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("collector config: %w", err)
	}
	in, err := newIntake(rules, topics, cfg.Limits)
	if err != nil {
		return nil, fmt.Errorf("collector %w", err)
	}
	mappings, err := mapping.Load(cfg.MappingsDir)
	if err != nil {
		return nil, fmt.Errorf("collector.mappings_dir: %w", err)
	}
	if pub == nil {
		return nil, errors.New("collector: a publisher is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	keys := make(map[string]tracking.Source, len(cfg.WriteKeys))
	for _, k := range cfg.WriteKeys {
		keys[k.Key] = tracking.Source{Tenant: k.Tenant, Channel: k.Channel}
	}
	return &Collector{
		cfg:      cfg,
		in:       in,
		mappings: mappings,
		pub:      pub,
		log:      log,
		metrics:  m,
		keys:     keys,
		now:      time.Now,
		inFlight: limit.NewInFlight(cfg.MaxInFlight),
		rate:     limit.NewLimiter(cfg.RateLimit),
	}, nil
}

// Handler returns the collector's routes: the tracking API, the channel
// endpoints (POST /v1/channels/{mapping}), CORS preflight for browsers, and
// GET /healthz.
func (c *Collector) Handler() http.Handler {
	// Each path forces its type on the message; the batch endpoints (empty
	// type) take each item's own. The one-letter paths are the ones
	// analytics.js (the browser library) posts to.
	endpoints := [...]struct {
		path string
		typ  event.Type
	}{
		{"/v1/track", event.TypeTrack}, {"/v1/t", event.TypeTrack},
		{"/v1/identify", event.TypeIdentify}, {"/v1/i", event.TypeIdentify},
		{"/v1/page", event.TypePage}, {"/v1/p", event.TypePage},
		{"/v1/screen", event.TypeScreen}, {"/v1/s", event.TypeScreen},
		{"/v1/alias", event.TypeAlias}, {"/v1/a", event.TypeAlias},
		{"/v1/group", event.TypeGroup}, {"/v1/g", event.TypeGroup},
		{"/v1/batch", ""}, {"/v1/import", ""}, {"/v1/b", ""},
	}
	mux := http.NewServeMux()
	for _, ep := range endpoints {
		mux.Handle("POST "+ep.path, c.endpoint(ep.path, ep.typ))
		mux.HandleFunc("OPTIONS "+ep.path, preflight)
	}
	mux.Handle("POST "+channelsPath+"{name}", c.channelEndpoint())
	mux.HandleFunc("OPTIONS "+channelsPath+"{name}", preflight)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// Run serves on cfg.Addr until ctx ends, then stops accepting connections
// and waits up to cfg.ShutdownTimeout for requests in flight (each of which
// finishes its publish) before returning. It returns nil after a clean
// shutdown. The serving goroutine exits when Shutdown closes the listener.
func (c *Collector) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", c.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           c.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30*time.Second + c.cfg.PublishTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	c.log.Info("collector listening", "addr", ln.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("serve http on %s: %w", c.cfg.Addr, err)
	case <-ctx.Done():
	}
	c.log.Info("collector shutting down", "timeout", c.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), c.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Requests still running past the timeout are cut off; their
		// clients get no answer and retry.
		_ = srv.Close()
		return fmt.Errorf("shut down http server: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http on %s: %w", c.cfg.Addr, err)
	}
	return nil
}
