// Package redisstoretest gives tests a Store on the real Redis (from
// pkg/testenv) and a tenant of their own whose keys are removed when the
// test ends.
package redisstoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/testenv"
)

// New connects to the test Redis and returns the store, under the default
// identity rules, and a fresh tenant name ("test-<hex>"). The tenant's keys
// are deleted and the store closed when t ends.
func New(t testing.TB) (*redisstore.Store, string) {
	t.Helper()
	return NewWith(t, redisstore.Default(), nil)
}

// NewWith is New with a configuration (its address is replaced by the test
// Redis) and identity policy of the test's choosing.
func NewWith(t testing.TB, cfg redisstore.Config, policy *identity.Policy) (*redisstore.Store, string) {
	t.Helper()
	cfg.Addr = testenv.Redis(t)
	s, err := redisstore.New(context.Background(), cfg, policy, nil)
	if err != nil {
		t.Fatalf("connect to test redis: %v", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	tenant := "test-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		DeleteTenant(t, s, tenant)
		s.Close()
	})
	return s, tenant
}

// DeleteTenant removes every key of tenant (Store.DeleteTenant).
func DeleteTenant(t testing.TB, s *redisstore.Store, tenant string) {
	t.Helper()
	if _, err := s.DeleteTenant(context.Background(), tenant); err != nil {
		t.Errorf("delete test tenant: %v", err)
	}
}

// Mentions returns the keys of tenant whose name, fields, values or
// members contain one of needles, but for the record of the erasure itself
// (the "sup" and "gone" hashes name the forgotten profile id by design).
func Mentions(t testing.TB, s *redisstore.Store, tenant string, needles []string) []string {
	t.Helper()
	ctx := context.Background()
	rdb := s.Client()
	var out []string
	check := func(key string, texts ...string) {
		for _, text := range texts {
			for _, n := range needles {
				if strings.Contains(text, n) {
					out = append(out, fmt.Sprintf("%s holds %q", key, n))
					return
				}
			}
		}
	}
	iter := rdb.Scan(ctx, 0, "cx:{"+tenant+"}:*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		if strings.HasSuffix(key, ":sup") || strings.HasSuffix(key, ":gone") {
			continue
		}
		check(key, key)
		typ, err := rdb.Type(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch typ {
		case "hash":
			m, err := rdb.HGetAll(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			for f, v := range m {
				check(key, f, v)
			}
		case "zset":
			ms, err := rdb.ZRange(ctx, key, 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			check(key, ms...)
		case "string":
			v, err := rdb.Get(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			check(key, v)
		default:
			t.Fatalf("key %s of type %s: the test does not know how to read it", key, typ)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
