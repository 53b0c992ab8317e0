package telemetry

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/cxstream/cxstream/pkg/testenv"
)

func TestRedisHookCounts(t *testing.T) {
	ctx := context.Background()
	h := NewRedisHook(prometheus.NewRegistry())
	var passed int
	process := h.ProcessHook(func(context.Context, redis.Cmder) error { passed++; return nil })
	pipeline := h.ProcessPipelineHook(func(context.Context, []redis.Cmder) error { passed++; return nil })
	_ = process(ctx, redis.NewStatusCmd(ctx, "set", "k", "v"))
	_ = process(ctx, redis.NewCmd(ctx, "evalsha", "abc", 0))
	_ = pipeline(ctx, []redis.Cmder{redis.NewIntCmd(ctx, "incr", "k"), redis.NewIntCmd(ctx, "incr", "k"), redis.NewIntCmd(ctx, "incr", "k")})
	if trips, cmds := testutil.ToFloat64(h.trips), testutil.ToFloat64(h.cmds); trips != 3 || cmds != 5 || passed != 3 {
		t.Errorf("round trips %v, commands %v, calls passed on %d; want 3, 5, 3", trips, cmds, passed)
	}
}

// On a real client every request goes through the hook, the connection's
// own set-up (HELLO, CLIENT SETINFO) included.
func TestIntegrationRedisHookSeesEveryRequest(t *testing.T) {
	addr := testenv.Redis(t)
	ctx := context.Background()
	h := NewRedisHook(prometheus.NewRegistry())
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	rdb.AddHook(h)
	if err := rdb.Eval(ctx, "for i = 1, 10 do redis.call('INCR', KEYS[1]) end return 1", []string{"cx:test:telemetry-hook"}).Err(); err != nil {
		t.Fatal(err)
	}
	rdb.Del(ctx, "cx:test:telemetry-hook")
	// eval and del, plus at least HELLO: a script counts as one command.
	if trips := testutil.ToFloat64(h.trips); trips < 3 || trips > 8 {
		t.Errorf("round trips %v, want 2 plus the connection's set-up", trips)
	}
}
