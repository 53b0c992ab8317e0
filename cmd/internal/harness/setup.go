package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.yaml.in/yaml/v3"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pkg/kafkaio"
)

// RunConfig writes the pipeline configuration of one run: the user's file
// with the run's own topics (prefix.interactions, ...), consumer groups,
// ClickHouse database and Redis database, so that runs never see each
// other's data. It returns the file's path and the loaded configuration.
func RunConfig(base, dir, prefix, database string, redisDB int) (string, pipeline.Config, error) {
	doc := map[string]any{}
	if base != "" {
		b, err := os.ReadFile(base)
		if err != nil {
			return "", pipeline.Config{}, err
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return "", pipeline.Config{}, fmt.Errorf("%s: %w", base, err)
		}
	}
	section := func(name string) map[string]any {
		m, ok := doc[name].(map[string]any)
		if !ok {
			m = map[string]any{}
			doc[name] = m
		}
		return m
	}
	kafkaSec := section("kafka")
	topics, ok := kafkaSec["topics"].(map[string]any)
	if !ok {
		topics = map[string]any{}
		kafkaSec["topics"] = topics
	}
	for _, role := range []string{"interactions", "timeline", "profiles", "identity", "triggers", "deadletter"} {
		topics[role] = prefix + "." + role
	}
	section("resolver")["group"] = prefix + "-resolver"
	section("sink")["group"] = prefix + "-sink"
	section("clickhouse")["database"] = database
	section("redis")["db"] = redisDB
	b, err := yaml.Marshal(doc)
	if err != nil {
		return "", pipeline.Config{}, err
	}
	path := filepath.Join(dir, prefix+".yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", pipeline.Config{}, err
	}
	// The environment overrides the file for the children too, except the
	// database, which must be the bench's own.
	cfg, err := pipeline.Load(path, func(k string) string {
		if k == "CXSTREAM_CLICKHOUSE_DATABASE" {
			return ""
		}
		return os.Getenv(k)
	})
	return path, cfg, err
}

// Redis connects to the Redis database of a run's configuration.
func Redis(cfg pipeline.Config) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: cfg.Redis.Addr, Username: cfg.Redis.Username, Password: cfg.Redis.Password, DB: cfg.Redis.DB})
}

// RewriteAOF has Redis rewrite its append-only file now, if it keeps one.
// A run that emptied gigabytes leaves them in the file until Redis's own
// rule (the file has doubled) rewrites it, and a Redis restart replays the
// whole file before it answers: after a 1M-people bench, the fault suite's
// Redis restart timed out while Redis loaded 9 GB it no longer held. A
// rewrite already running is fine: Redis schedules another after it.
func RewriteAOF(ctx context.Context, cfg pipeline.Config) error {
	rdb := Redis(cfg)
	defer rdb.Close()
	info, err := rdb.Info(ctx, "persistence").Result()
	if err != nil {
		return fmt.Errorf("redis: info persistence: %w", err)
	}
	if !strings.Contains(info, "aof_enabled:1") {
		return nil
	}
	if err := rdb.BgRewriteAOF(ctx).Err(); err != nil {
		return fmt.Errorf("redis: bgrewriteaof: %w", err)
	}
	return nil
}

// ResetState empties the run's Redis database and drops its ClickHouse
// database. The pipeline's sink creates it again.
func ResetState(ctx context.Context, cfg pipeline.Config) error {
	rdb := Redis(cfg)
	defer rdb.Close()
	// ASYNC: Redis frees the keys in the background. A million people's
	// 9.8 GB take longer to free than the client's read timeout, and the
	// database is empty at once either way.
	if err := rdb.FlushDBAsync(ctx).Err(); err != nil {
		return fmt.Errorf("redis: flush db %d: %w", cfg.Redis.DB, err)
	}
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{cfg.ClickHouse.Addr},
		Auth: clickhouse.Auth{Database: "default", Username: cfg.ClickHouse.Username, Password: cfg.ClickHouse.Password}})
	if err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS `"+cfg.ClickHouse.Database+"`"); err != nil {
		return fmt.Errorf("clickhouse: drop database %s: %w", cfg.ClickHouse.Database, err)
	}
	return nil
}

// DeleteTopics removes a run's topics, so that a run of a million people
// does not leave gigabytes behind.
func DeleteTopics(ctx context.Context, cfg pipeline.Config) error {
	client := kafkaio.Client(cfg.Kafka)
	resp, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: cfg.Kafka.Topics.Names()})
	if err != nil {
		return err
	}
	var errs []error
	for t, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
			errs = append(errs, fmt.Errorf("delete topic %s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

// Command returns `cxstream ARGS... -config path` with the environment the
// harness's processes share: warnings only in the log, and the run's own
// ClickHouse database (from path, not the caller's environment).
func Command(bin, path string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, append(args, "-config", path)...)
	cmd.Env = append(os.Environ(), "CXSTREAM_LOG_LEVEL=warn", "CXSTREAM_CLICKHOUSE_DATABASE=")
	return cmd
}

// Child is a pipeline process a harness started.
type Child struct {
	Name, Telemetry string
	cmd             *exec.Cmd
	done            chan error
}

// StartChild runs `cxstream STAGE -config path` with its telemetry on addr,
// its log appended to logPath.
func StartChild(bin, stage, path, addr, logPath string) (*Child, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := Command(bin, path, stage)
	cmd.Env = append(cmd.Env, "CXSTREAM_TELEMETRY_ADDR="+addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s %s: %w", bin, stage, err)
	}
	c := &Child{Name: stage, Telemetry: addr, cmd: cmd, done: make(chan error, 1)}
	go func() { // exits with the process
		c.done <- cmd.Wait()
		logf.Close()
	}()
	return c, nil
}

// Pid is the process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Exited reports the child's exit if it has exited.
func (c *Child) Exited() (error, bool) {
	select {
	case err := <-c.done:
		c.done <- err
		return err, true
	default:
		return nil, false
	}
}

// Kill sends SIGKILL, as a crash would, and waits for the process to exit.
func (c *Child) Kill() {
	if _, gone := c.Exited(); gone {
		return
	}
	_ = c.cmd.Process.Kill()
	err := <-c.done
	c.done <- err
}

// Stop sends SIGTERM (the pipeline drains, flushes and commits) and waits
// up to grace before killing it.
func (c *Child) Stop(grace time.Duration) error {
	if _, gone := c.Exited(); gone {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		c.done <- err // Exited, Kill and Stop see it again
		return err
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		err := <-c.done
		c.done <- err
		return fmt.Errorf("%s did not stop within %s after SIGTERM; killed", c.Name, grace)
	}
}
