// Package telemetry sets up what every cxstream process exposes for
// operators: JSON logs (log/slog), a Prometheus registry with Go, process and
// build metrics, and an HTTP server with /metrics, /healthz (liveness) and
// /readyz (readiness: 503 until dependencies answer and again while the
// process drains on shutdown).
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is the operator-facing setup.
type Config struct {
	// Addr serves /metrics, /healthz and /readyz; empty disables it.
	Addr string `yaml:"addr"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
}

// Default serves telemetry on :9464 and logs at info.
func Default() Config { return Config{Addr: ":9464", LogLevel: "info"} }

// Validate checks the configuration.
func (c Config) Validate() error {
	if _, err := level(c.LogLevel); err != nil {
		return err
	}
	return nil
}

func level(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("telemetry.log_level: %q is not one of debug, info, warn, error", s)
	}
	return l, nil
}

// NewLogger returns a JSON logger at the configured level.
func NewLogger(w io.Writer, c Config) *slog.Logger {
	l, err := level(c.LogLevel)
	if err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Server serves the telemetry endpoints.
type Server struct {
	cfg   Config
	reg   *prometheus.Registry
	ready atomic.Bool
	log   *slog.Logger
}

// NewServer returns a server that is not ready until SetReady(true).
func NewServer(cfg Config, reg *prometheus.Registry, log *slog.Logger) *Server {
	return &Server{cfg: cfg, reg: reg, log: log}
}

// SetReady flips readiness: true once dependencies answer, false when the
// process starts draining.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Handler returns the telemetry routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	return mux
}

// Run serves until ctx ends. With an empty address it just waits.
func (s *Server) Run(ctx context.Context) error {
	if s.cfg.Addr == "" {
		<-ctx.Done()
		return nil
	}
	return Serve(ctx, &http.Server{Addr: s.cfg.Addr, Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}, s.log)
}

// Serve runs srv until ctx ends, then shuts it down gracefully, giving
// in-flight requests up to ten seconds.
func Serve(ctx context.Context, srv *http.Server, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }() // exits when Shutdown closes the listener
	log.Info("http server listening", "addr", srv.Addr)
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", srv.Addr, err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shut down %s: %w", srv.Addr, err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
