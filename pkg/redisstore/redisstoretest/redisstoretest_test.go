package redisstoretest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/redisstore/redisstoretest"
)

func TestIntegrationTenantKeysLiveAsLongAsTheTest(t *testing.T) {
	ctx := context.Background()
	var (
		store  *redisstore.Store
		tenant string
	)
	keep, keepTenant := redisstoretest.New(t)
	t.Run("inner", func(t *testing.T) {
		store, tenant = redisstoretest.New(t)
		if !strings.HasPrefix(tenant, "test-") || tenant == keepTenant {
			t.Fatalf("tenant %q: want a fresh test-<hex> name", tenant)
		}
		for _, k := range []string{"idx", "p:x", "meta"} {
			store.Client().Set(ctx, "cx:{"+tenant+"}:"+k, "1", 0)
		}
		keep.Client().Set(ctx, "cx:{"+keepTenant+"}:idx", "1", 0)
	})
	n, err := keep.Client().Keys(ctx, "cx:{"+tenant+"}:*").Result()
	if err != nil || len(n) != 0 {
		t.Errorf("keys left after the test ended: %v %v", n, err)
	}
	if v, _ := keep.Client().Exists(ctx, "cx:{"+keepTenant+"}:idx").Result(); v != 1 {
		t.Error("another tenant's keys were deleted")
	}
}
