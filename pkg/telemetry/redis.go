package telemetry

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// RedisHook counts what a go-redis client sends to Redis: round trips (a
// command, or a whole pipeline) and commands. A Lua script is one command,
// whatever it calls inside Redis. Add it with client.AddHook.
type RedisHook struct {
	trips, cmds prometheus.Counter
}

// NewRedisHook registers cxstream_redis_roundtrips_total and
// cxstream_redis_commands_total with reg.
func NewRedisHook(reg prometheus.Registerer) *RedisHook {
	h := &RedisHook{
		trips: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxstream_redis_roundtrips_total",
			Help: "Requests this process sent to Redis and waited for: a command or a pipeline each.",
		}),
		cmds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxstream_redis_commands_total",
			Help: "Commands this process sent to Redis (a script call is one).",
		}),
	}
	reg.MustRegister(h.trips, h.cmds)
	return h
}

// DialHook is part of redis.Hook; dials are not counted.
func (h *RedisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook counts one round trip and one command.
func (h *RedisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.trips.Inc()
		h.cmds.Inc()
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook counts one round trip and the pipeline's commands.
func (h *RedisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.trips.Inc()
		h.cmds.Add(float64(len(cmds)))
		return next(ctx, cmds)
	}
}
