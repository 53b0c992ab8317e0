package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
)

// The scripts: lib.lua holds the resolution code both entry points share.
var (
	//go:embed lib.lua
	libLua string
	//go:embed resolve.lua
	resolveLua string
	//go:embed unmerge.lua
	unmergeLua string
	//go:embed forget.lua
	forgetLua string
	//go:embed timers.lua
	timersLua string
	//go:embed activate.lua
	activateLua string
)

// ErrNotFound is returned by look-ups of unknown profiles and identifiers.
var ErrNotFound = errors.New("profile not found")

// ErrBadRef is returned for a reference that cannot name a profile, such as
// an identifier whose value does not normalise.
var ErrBadRef = errors.New("bad profile reference")

// Store is the identity graph and profile state of all tenants in one Redis
// (or one Redis Cluster). It is safe for concurrent use.
type Store struct {
	rdb     *redis.Client
	resolve *redis.Script
	unmerge *redis.Script
	forget  *redis.Script
	cfg     Config
	policy  *identity.Policy
	model   *profile.Model
	rules   string // the policy as the script's argument

	// The activation outbox and timers (activation.go, timers.go).
	activate, claim, ack *redis.Script
}

// New connects to Redis and checks that it answers. Resolution follows
// policy (identity rules; nil means identity.DefaultRules), and the profiles
// the store holds are folded under model (nil means profile.Default): the
// store does not fold by itself, but those who rebuild it from the log need
// the model it was built with.
func New(ctx context.Context, cfg Config, policy *identity.Policy, model *profile.Model) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if policy == nil {
		policy = identity.MustCompile(identity.DefaultRules())
	}
	if model == nil {
		model = profile.Default()
	}
	rules, err := encodeRules(policy, cfg)
	if err != nil {
		return nil, fmt.Errorf("encode identity rules: %w", err)
	}
	tlsCfg, err := cfg.TLS.Load()
	if err != nil {
		return nil, fmt.Errorf("redis.tls: %w", err)
	}
	rdb := redis.NewClient(&redis.Options{
		Addr:      cfg.Addr,
		Username:  cfg.Username,
		Password:  cfg.Password,
		DB:        cfg.DB,
		TLSConfig: tlsCfg,
	})
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("reach redis at %s: %w", cfg.Addr, err)
	}
	return &Store{
		rdb:     rdb,
		resolve: redis.NewScript(libLua + "\n" + resolveLua),
		unmerge: redis.NewScript(libLua + "\n" + unmergeLua),
		forget:  redis.NewScript(libLua + "\n" + forgetLua),
		cfg:     cfg,
		policy:  policy,
		model:   model,
		rules:   rules,

		// timers.lua is a library: claim and ack are one line each.
		activate: redis.NewScript(timersLua + "\n" + activateLua),
		claim:    redis.NewScript(timersLua + "\nreturn claim()"),
		ack:      redis.NewScript(timersLua + "\nreturn ack()"),
	}, nil
}

// Close closes the connections.
func (s *Store) Close() error { return s.rdb.Close() }

// Client exposes the Redis client for health checks and tests.
func (s *Store) Client() *redis.Client { return s.rdb }

// prefix is the key prefix of a tenant; the braces make it a hash tag.
func prefix(tenant string) string { return "cx:{" + tenant + "}:" }

// Profile returns the state of a profile by id, following forwarding
// pointers of merged-away ids. It returns the live id.
func (s *Store) Profile(ctx context.Context, tenant, id string) (string, profile.State, error) {
	p := prefix(tenant)
	for range 64 {
		fields, err := s.rdb.HGetAll(ctx, p+"p:"+id).Result()
		if err != nil {
			return "", nil, fmt.Errorf("read profile: %w", err)
		}
		if len(fields) > 0 {
			flat := make([]string, 0, 2*len(fields))
			for f, v := range fields {
				flat = append(flat, f, v)
			}
			return id, stateOf(flat), nil
		}
		next, err := s.rdb.HGet(ctx, p+"fwd", id).Result()
		if errors.Is(err, redis.Nil) {
			return "", nil, ErrNotFound
		}
		if err != nil {
			return "", nil, fmt.Errorf("read forwarding pointer: %w", err)
		}
		id = next
	}
	return "", nil, fmt.Errorf("forwarding pointers of profile %s form a chain longer than 64", id)
}

// Lookup returns the profile an identifier belongs to. The identifier is
// normalised first under the policy, so "Jane@Example.com " finds
// email:jane@example.com, and hashed if its type is stored hashed (an
// already hashed value is looked up as it is). An identifier that every
// event had dropped (a rule kept it out of every profile) is not found.
func (s *Store) Lookup(ctx context.Context, tenant string, id event.Identifier) (string, profile.State, error) {
	id, err := s.policy.Canonical(tenant, id)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s %v", ErrBadRef, id.Type, err)
	}
	pid, err := s.rdb.HGet(ctx, prefix(tenant)+"idx", id.String()).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil, ErrNotFound
	}
	if err != nil {
		return "", nil, fmt.Errorf("look up identifier: %w", err)
	}
	if strings.HasPrefix(pid, "~") {
		return "", nil, ErrNotFound
	}
	return s.Profile(ctx, tenant, pid)
}

// Resolve returns the profile referenced by ref: a profile id, or an
// identifier "type:value".
func (s *Store) Resolve(ctx context.Context, tenant, ref string) (string, profile.State, error) {
	if id, ok := event.ParseIdentifier(ref); ok {
		return s.Lookup(ctx, tenant, id)
	}
	return s.Profile(ctx, tenant, ref)
}

// Stats are counts of a tenant's graph, for the demo and operators.
type Stats struct {
	// Profiles is the number of live profiles, Merges how many profiles
	// were merged away, Identifiers how many identifiers are known.
	Profiles, Merges, Identifiers int64
	// Version is the last version the tenant gave an identity record or a
	// profile state.
	Version int64
}

// TenantStats reads a tenant's counters in one round trip.
func (s *Store) TenantStats(ctx context.Context, tenant string) (Stats, error) {
	p := prefix(tenant)
	pipe := s.rdb.Pipeline()
	meta := pipe.HMGet(ctx, p+"meta", "profiles", "merges", "version")
	ids := pipe.HLen(ctx, p+"idx")
	if _, err := pipe.Exec(ctx); err != nil {
		return Stats{}, fmt.Errorf("read tenant stats: %w", err)
	}
	st := Stats{Identifiers: ids.Val()}
	for i, dst := range []*int64{&st.Profiles, &st.Merges, &st.Version} {
		if v, ok := meta.Val()[i].(string); ok {
			*dst, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return st, nil
}
