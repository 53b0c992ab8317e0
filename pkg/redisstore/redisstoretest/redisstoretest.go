// Package redisstoretest gives tests a Store on the real Redis (from
// pkg/testenv) and a tenant of their own whose keys are removed when the
// test ends.
package redisstoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
