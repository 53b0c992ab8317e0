package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
)

// Whole-tenant access, for rebuilding a tenant's graph from the identity log
// (pipeline.Rebuild) and comparing two graphs.

// Policy returns the identity rules the store resolves under: items for
// Apply must be built (NewItem) with the same policy.
func (s *Store) Policy() *identity.Policy { return s.policy }

// Model returns the profile model the store's profiles are folded under.
func (s *Store) Model() *profile.Model { return s.model }

// Graph returns the tenant's identifier index: every known identifier
// "type:value" -> its live profile id, or "~<cluster>" for an identifier in
// no profile (every event dropped it). It reads the index in chunks (HSCAN),
// so Redis is never blocked for long; an index changed meanwhile may be read
// partly before and partly after the change.
func (s *Store) Graph(ctx context.Context, tenant string) (map[string]string, error) {
	key := prefix(tenant) + "idx"
	n, err := s.rdb.HLen(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("read identifier index of tenant %s: %w", tenant, err)
	}
	out := make(map[string]string, n)
	iter := s.rdb.HScan(ctx, key, 0, "", 1000).Iterator()
	for iter.Next(ctx) {
		field := iter.Val()
		if !iter.Next(ctx) {
			break
		}
		out[field] = iter.Val()
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("read identifier index of tenant %s: %w", tenant, err)
	}
	return out, nil
}

// raiseVersion sets the version counter of a tenant's meta hash (KEYS[1])
// to ARGV[1] unless it is higher already, and returns the counter.
var raiseVersion = redis.NewScript(`
local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if v < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'version', ARGV[1])
  return tonumber(ARGV[1])
end
return v`)

// RaiseVersion makes the tenant's versions continue above atLeast: the
// counter is set to atLeast unless it is higher already, and the counter is
// returned. A graph rebuilt after Redis lost the counter must give its
// changes versions above every version already published (records in
// cx_identity and cx_aliases, states in cx_profile_snapshots and on
// cx.profiles): readers keep the highest version and would ignore lower
// ones.
func (s *Store) RaiseVersion(ctx context.Context, tenant string, atLeast int64) (int64, error) {
	v, err := raiseVersion.Run(ctx, s.rdb, []string{prefix(tenant) + "meta"}, atLeast).Int64()
	if err != nil {
		return 0, fmt.Errorf("raise version counter of tenant %s: %w", tenant, err)
	}
	return v, nil
}

// tenantKeys are keys every tenant that ever applied an event (or got cuts)
// has.
var tenantKeys = []string{"meta", "idx", "wm", "cut"}

// TenantExists reports whether the tenant has any state in Redis.
func (s *Store) TenantExists(ctx context.Context, tenant string) (bool, error) {
	keys := make([]string, len(tenantKeys))
	for i, k := range tenantKeys {
		keys[i] = prefix(tenant) + k
	}
	n, err := s.rdb.Exists(ctx, keys...).Result()
	if err != nil {
		return false, fmt.Errorf("check keys of tenant %s: %w", tenant, err)
	}
	return n > 0, nil
}

// DeleteTenant removes every key of the tenant ("cx:{tenant}:*": graph,
// profiles, anchors, cuts, watermarks, outboxes) and returns how many it
// removed. It walks the key space with SCAN, so it takes time on a large
// Redis but never blocks it; keys written meanwhile may survive. Nothing may
// write the tenant while it runs (stop the resolvers).
func (s *Store) DeleteTenant(ctx context.Context, tenant string) (int, error) {
	// A valid tenant name holds no glob characters, so the pattern matches
	// exactly this tenant's keys.
	if !event.ValidTenant(tenant) {
		return 0, fmt.Errorf("delete tenant: %q is not a valid tenant name (%s)", tenant, event.TenantRule)
	}
	// The tenant's entry in the global timer index goes too (it names no
	// key of the tenant, so the scan below does not find it).
	if err := s.rdb.ZRem(ctx, TimerIndexKey, tenant).Err(); err != nil {
		return 0, fmt.Errorf("delete tenant %s from the timer index: %w", tenant, err)
	}
	deleted := 0
	batch := make([]string, 0, 500)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := s.rdb.Unlink(ctx, batch...).Result()
		if err != nil {
			return fmt.Errorf("delete keys of tenant %s: %w", tenant, err)
		}
		deleted += int(n)
		batch = batch[:0]
		return nil
	}
	iter := s.rdb.Scan(ctx, 0, prefix(tenant)+"*", 1000).Iterator()
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return deleted, err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return deleted, fmt.Errorf("scan keys of tenant %s: %w", tenant, err)
	}
	return deleted, flush()
}

// ForgetSource removes a source's watermark and outbox from the tenant: for
// a one-off source such as a rebuild's replay, whose offsets will never be
// redelivered.
func (s *Store) ForgetSource(ctx context.Context, tenant, source string) error {
	if source == "" {
		return errors.New("forget source: empty source")
	}
	p := prefix(tenant)
	pipe := s.rdb.TxPipeline()
	pipe.HDel(ctx, p+"wm", source)
	pipe.Del(ctx, p+"ob:"+source)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("forget source %s of tenant %s: %w", source, tenant, err)
	}
	return nil
}
