package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cxstream/cxstream/pipeline/internal/limit"
	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/segment"
	"github.com/cxstream/cxstream/pkg/telemetry"
)

// Profiles resolves a reference (profile id or "type:value") to the live
// profile; redisstore.ErrNotFound when there is none.
type Profiles interface {
	Resolve(ctx context.Context, tenant, ref string) (string, profile.State, error)
}

// Timelines reads from ClickHouse a profile's timeline and its identity
// history, each including what was recorded under profiles merged into it.
type Timelines interface {
	Timeline(ctx context.Context, tenant, profileID string, q chstore.TimelineQuery) (chstore.TimelinePage, error)
	IdentityHistory(ctx context.Context, tenant, profileID string, limit int) (chstore.History, error)
}

// Splitter takes an identifier out of its profile and announces the split
// (resolve.Splitter).
type Splitter interface {
	Unmerge(ctx context.Context, tenant, profileID string, id event.Identifier) (*redisstore.Split, error)
}

// API serves the Profile API.
type API struct {
	cfg       Config
	profiles  Profiles
	timelines Timelines
	splitter  Splitter
	privacy   Privacy
	model     *profile.Model
	segments  *segment.Set
	log       *slog.Logger
	requests  *prometheus.CounterVec
	rate      *limit.Limiter
}

// New returns the API; model renders profiles.
func New(cfg Config, profiles Profiles, timelines Timelines, model *profile.Model, log *slog.Logger, reg prometheus.Registerer) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &API{cfg: cfg, profiles: profiles, timelines: timelines, model: model, log: log, rate: limit.NewLimiter(cfg.RateLimit),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxstream_api_requests_total",
			Help: "Profile API requests by route and status code.",
		}, []string{"route", "code"})}
	if reg != nil {
		reg.MustRegister(a.requests)
	}
	return a, nil
}

// WithSegments makes GET /v1/profiles/{ref} list the segments the profile
// is in as of the request (without it, segments is empty).
func (a *API) WithSegments(s *segment.Set) *API {
	a.segments = s
	return a
}

// WithSplitter enables POST /v1/profiles/{ref}/unmerge for admin tokens.
func (a *API) WithSplitter(s Splitter) *API {
	a.splitter = s
	return a
}

// Handler returns the routes.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/profiles/{ref}", a.auth("profile", a.getProfile))
	mux.HandleFunc("GET /v1/profiles/{ref}/events", a.auth("events", a.getEvents))
	mux.HandleFunc("GET /v1/profiles/{ref}/identity", a.auth("identity", a.getIdentity))
	mux.HandleFunc("POST /v1/profiles/{ref}/unmerge", a.auth("unmerge", a.postUnmerge))
	mux.HandleFunc("DELETE /v1/profiles/{ref}", a.auth("forget", a.deleteProfile))
	mux.HandleFunc("GET /v1/profiles/{ref}/export", a.auth("export", a.getExport))
	return mux
}

// Run serves until ctx ends.
func (a *API) Run(ctx context.Context) error {
	return telemetry.Serve(ctx, &http.Server{Addr: a.cfg.Addr, Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}, a.log)
}

type handler func(w http.ResponseWriter, r *http.Request, tenant string) int

// auth checks the bearer token and passes its tenant on.
func (a *API) auth(route string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		code := http.StatusUnauthorized
		if tok, ok := a.token(r); ok {
			if allowed, wait := a.rate.Allow(tok.Token); !allowed {
				w.Header().Set("Retry-After", limit.RetryAfter(wait))
				code = writeError(w, http.StatusTooManyRequests, "this token sends more requests than api.rate_limit allows, retry later")
			} else {
				code = h(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok)), tok.Tenant)
			}
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cxstream"`)
			writeError(w, code, "a valid bearer token is required (Authorization: Bearer <token>)")
		}
		a.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	}
}

type tokenKey struct{}

// token returns the configured token the request presents. Every token is
// compared, in constant time, so timing tells nothing about which matched.
func (a *API) token(r *http.Request) (Token, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return Token{}, false
	}
	var found Token
	for _, t := range a.cfg.Tokens {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(t.Token)) == 1 {
			found = t
		}
	}
	return found, found.Tenant != ""
}

func (a *API) getProfile(w http.ResponseWriter, r *http.Request, tenant string) int {
	id, st, code := a.resolve(w, r, tenant)
	if code != 0 {
		return code
	}
	prov, err := boolParam(r, "provenance")
	if err != nil {
		return writeError(w, http.StatusBadRequest, err.Error())
	}
	p := a.model.Render(tenant, id, st, profile.Meta{AsOf: time.Now(), Provenance: prov})
	if a.segments != nil {
		if p.Segments, _ = a.segments.Evaluate(p, p.AsOf); p.Segments == nil {
			p.Segments = []string{}
		}
	}
	return writeJSON(w, http.StatusOK, p)
}

func (a *API) getEvents(w http.ResponseWriter, r *http.Request, tenant string) int {
	q, err := timelineQuery(r)
	if err != nil {
		return writeError(w, http.StatusBadRequest, err.Error())
	}
	id, _, code := a.resolve(w, r, tenant)
	if code != 0 {
		return code
	}
	page, err := a.timelines.Timeline(r.Context(), tenant, id, q)
	switch {
	case errors.Is(err, chstore.ErrBadQuery):
		return writeError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		a.log.Error("read timeline", "err", err)
		return writeError(w, http.StatusServiceUnavailable, "timeline store unavailable")
	}
	return writeJSON(w, http.StatusOK, page)
}

// resolve finds the profile of the {ref} path value; on failure it has
// answered the request and returns the status code.
func (a *API) resolve(w http.ResponseWriter, r *http.Request, tenant string) (string, profile.State, int) {
	ref := r.PathValue("ref")
	id, st, err := a.profiles.Resolve(r.Context(), tenant, ref)
	switch {
	case errors.Is(err, redisstore.ErrNotFound):
		return "", nil, writeError(w, http.StatusNotFound, "no profile for "+strconv.Quote(ref))
	case errors.Is(err, redisstore.ErrBadRef):
		return "", nil, writeError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		a.log.Error("resolve profile", "err", err)
		return "", nil, writeError(w, http.StatusServiceUnavailable, "profile store unavailable")
	}
	return id, st, 0
}

func timelineQuery(r *http.Request) (chstore.TimelineQuery, error) {
	v := r.URL.Query()
	q := chstore.TimelineQuery{Channel: v.Get("channel"), Type: v.Get("type"), Cursor: v.Get("cursor")}
	var err error
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil {
			return q, errors.New("limit: must be a whole number")
		}
	}
	for name, dst := range map[string]*time.Time{"from": &q.From, "to": &q.To} {
		if s := v.Get(name); s != "" {
			if *dst, err = time.Parse(time.RFC3339Nano, s); err != nil {
				return q, errors.New(name + ": must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z")
			}
		}
	}
	return q, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
	return code
}

func writeError(w http.ResponseWriter, code int, msg string) int {
	return writeJSON(w, code, map[string]string{"error": msg})
}

// boolParam reads an optional boolean query parameter.
func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s: %q is not a boolean (true or false)", name, v)
	}
	return b, nil
}
