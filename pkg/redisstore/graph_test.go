package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/redisstore/redisstoretest"
)

func TestIntegrationGraphAndTenantKeys(t *testing.T) {
	ctx := context.Background()
	s, tenant := redisstoretest.New(t)
	// A tenant whose name extends the first one's: its keys must survive
	// the first one's deletion.
	other := tenant + "-2"
	t.Cleanup(func() { redisstoretest.DeleteTenant(t, s, other) })

	if ok, err := s.TenantExists(ctx, tenant); err != nil || ok {
		t.Fatalf("fresh tenant exists: %v %v", ok, err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tn := range []string{tenant, other} {
		items := []redisstore.Item{
			item("in/0", 0, ev(t, tn, "e1", "web", t0, "email:a@x.test", "anonymous_id:a1")),
			item("in/0", 1, ev(t, tn, "e2", "web", t0.Add(time.Minute), "user_id:u1", "anonymous_id:a1")),
			item("in/0", 2, ev(t, tn, "e3", "web", t0.Add(2*time.Minute), "device_id:d9")),
		}
		if _, err := s.Apply(ctx, tn, items); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := s.TenantExists(ctx, tenant); err != nil || !ok {
		t.Fatalf("tenant with a graph does not exist: %v %v", ok, err)
	}

	g, err := s.Graph(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if len(g) != 4 || g["email:a@x.test"] == "" || g["email:a@x.test"] != g["user_id:u1"] ||
		g["device_id:d9"] == g["user_id:u1"] {
		t.Errorf("graph %v: want a@x.test, a1, u1 in one profile and d9 in another", g)
	}

	if err := s.ForgetSource(ctx, tenant, "in/0"); err != nil {
		t.Fatal(err)
	}
	p := "cx:{" + tenant + "}:"
	if n, _ := s.Client().Exists(ctx, p+"ob:in/0").Result(); n != 0 {
		t.Error("outbox of a forgotten source left")
	}
	if ok, _ := s.Client().HExists(ctx, p+"wm", "in/0").Result(); ok {
		t.Error("watermark of a forgotten source left")
	}

	n, err := s.DeleteTenant(ctx, tenant)
	if err != nil || n == 0 {
		t.Fatalf("delete tenant: %d keys, %v", n, err)
	}
	if left, _ := s.Client().Keys(ctx, p+"*").Result(); len(left) != 0 {
		t.Errorf("keys left: %v", left)
	}
	if ok, _ := s.TenantExists(ctx, other); !ok {
		t.Error("deleting a tenant deleted another one whose name extends it")
	}
	if _, err := s.DeleteTenant(ctx, "*"); err == nil || !strings.Contains(err.Error(), "not a valid tenant") {
		t.Errorf("delete tenant \"*\": %v", err)
	}
}
