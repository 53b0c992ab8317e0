package harness

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pkg/testenv"
)

func TestRunConfigGivesTheRunItsOwnTopicsGroupsAndDatabases(t *testing.T) {
	t.Setenv("CXSTREAM_CLICKHOUSE_DATABASE", "shared") // must not leak into the run
	dir := t.TempDir()
	path, cfg, err := RunConfig("../../../docs/cxstream.example.yaml", dir, "run7", "benchdb", 9)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, "run7.yaml") {
		t.Errorf("path %s", path)
	}
	names := cfg.Kafka.Topics.Names()
	for _, n := range names {
		if !strings.HasPrefix(n, "run7.") {
			t.Errorf("topic %s lacks the run's prefix", n)
		}
	}
	if cfg.Kafka.Topics.Interactions != "run7.interactions" || cfg.Resolver.Group != "run7-resolver" || cfg.Sink.Group != "run7-sink" {
		t.Errorf("topics %+v, groups %s %s", cfg.Kafka.Topics, cfg.Resolver.Group, cfg.Sink.Group)
	}
	if cfg.ClickHouse.Database != "benchdb" || cfg.Redis.DB != 9 {
		t.Errorf("databases: clickhouse %s, redis %d", cfg.ClickHouse.Database, cfg.Redis.DB)
	}
	// The user's settings are kept.
	if len(cfg.Segments) == 0 || len(cfg.Collector.WriteKeys) == 0 {
		t.Error("the base file's segments and write keys are lost")
	}
	if _, _, err := RunConfig(filepath.Join(dir, "missing.yaml"), dir, "x", "db", 1); err == nil {
		t.Error("a missing base file is accepted")
	}
}

func TestChildKillAndStop(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "child.log")
	// A shell script stands in for cxstream: it ignores its arguments.
	bin := filepath.Join(dir, "fake")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho started \"$1\"\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := StartChild(bin, "resolver", "cfg.yaml", "127.0.0.1:0", logPath)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let it write its line
	if _, gone := c.Exited(); gone {
		t.Fatal("exited at once")
	}
	c.Kill()
	if err, gone := c.Exited(); !gone || err == nil {
		t.Errorf("after Kill: exited %v, err %v; want a killed process", gone, err)
	}
	c.Kill() // idempotent
	if err := c.Stop(time.Second); err != nil {
		t.Errorf("Stop after Kill: %v", err)
	}

	// Stop: SIGTERM ends sleep; the log is appended to, not truncated.
	c, err = StartChild(bin, "sink", "cfg.yaml", "127.0.0.1:0", logPath)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := c.Stop(10 * time.Second); err == nil {
		t.Log("sleep exited 0 on SIGTERM")
	}
	if err, gone := c.Exited(); !gone {
		t.Errorf("after Stop: not exited (%v)", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Stop(time.Second) }() // a second Stop returns at once
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a second Stop blocks")
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(b), "started"); got != 2 {
		t.Errorf("log holds %d starts, want 2:\n%s", got, b)
	}
}

func TestSameMoney(t *testing.T) {
	cases := []struct {
		got, want map[string]float64
		same      bool
	}{
		{map[string]float64{"USD": 10}, map[string]float64{"USD": 10.0000001}, true},
		{map[string]float64{"USD": 10}, map[string]float64{"USD": 10.01}, false},
		{map[string]float64{"USD": 10, "EUR": 0}, map[string]float64{"USD": 10}, true},
		{map[string]float64{"USD": 10, "EUR": 1}, map[string]float64{"USD": 10}, false},
		{map[string]float64{}, map[string]float64{"GBP": 3}, false},
		{nil, nil, true},
	}
	for _, c := range cases {
		if got := sameMoney(c.got, c.want); got != c.same {
			t.Errorf("sameMoney(%v, %v) = %v", c.got, c.want, got)
		}
	}
}

func TestDiffFindsMissingExtraAndChangedProfiles(t *testing.T) {
	before := Snapshot{"email:a": `{"orders":1}`, "email:b": `{"orders":2}`, "email:c": `{"orders":3}`}
	if n, shown := Diff(before, before, 5); n != 0 || len(shown) != 0 {
		t.Fatalf("equal snapshots: %d differences %v", n, shown)
	}
	after := Snapshot{"email:a": `{"orders":1}`, "email:b": `{"orders":4}`, "email:c,phone:+1": `{"orders":3}`}
	n, shown := Diff(before, after, 2)
	if n != 3 || len(shown) != 2 {
		t.Fatalf("%d differences, %d shown; want 3, 2: %v", n, len(shown), shown)
	}
	if !strings.Contains(shown[0], "email:b differs") || !strings.Contains(shown[1], "email:c: before only") {
		t.Errorf("shown %q", shown)
	}
}

func TestFreePortsAreFreeAndConsecutive(t *testing.T) {
	port := FreePorts(t, 3)
	for i := range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+i))
		if err != nil {
			t.Fatalf("port %d of %d..%d: %v", port+i, port, port+2, err)
		}
		l.Close()
	}
}

func TestIntegrationRewriteAOF(t *testing.T) {
	var cfg pipeline.Config
	cfg.Redis.Addr = testenv.Redis(t)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: cfg.Redis.Addr})
	defer rdb.Close()
	stat := func(key string) int {
		t.Helper()
		info, err := rdb.Info(ctx, "persistence").Result()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		t.Fatalf("INFO persistence has no %s", key)
		return 0
	}
	if stat("aof_enabled") != 1 {
		t.Skip("the test Redis keeps no append-only file (scripts/services.sh starts it with one)")
	}
	before := stat("aof_rewrites")
	if err := RewriteAOF(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); stat("aof_rewrites") <= before; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no AOF rewrite finished within 30 s of RewriteAOF (aof_rewrites still %d)", before)
		}
	}
}
