package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/cmd/internal/harness"
	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pkg/kafkaio"
)

// fault is one scenario's injected failure.
type fault struct {
	name string
	// resolvers is how many resolvers share the partitions.
	resolvers int
	// service is the backing service a restart fault restarts.
	service string
	// inject does the damage; it runs once the load is under way.
	inject func(ctx context.Context, s *scenario) (string, error)
	// after does the damage once everything is stored and the pipeline
	// stopped, and checks the recovery itself.
	after func(ctx context.Context, s *scenario, res *result) (string, error)
}

var allFaults = []fault{
	{name: "kill-resolver", resolvers: 1, inject: killRepeatedly("resolver-1")},
	{name: "kill-sink", resolvers: 1, inject: killSinkMidInsert},
	{name: "race-kill", resolvers: 2, inject: killForGood("resolver-2")},
	{name: "restart-redis", resolvers: 1, service: "redis", inject: restartService("redis")},
	{name: "restart-clickhouse", resolvers: 1, service: "clickhouse", inject: restartService("clickhouse")},
	{name: "restart-kafka", resolvers: 1, service: "kafka", inject: restartService("kafka")},
	{name: "redis-loss", resolvers: 1, after: loseRedis},
}

// loseRedis snapshots the tenant's identities and profiles, flushes the
// scenario's Redis database (the whole dataset lost), runs `cxstream
// rebuild` (the tenant's log in ClickHouse replayed), and compares.
func loseRedis(ctx context.Context, s *scenario, res *result) (string, error) {
	before, err := harness.TakeSnapshot(ctx, s.cfg, s.o.tenant)
	if err != nil {
		return "", fmt.Errorf("snapshot before: %w", err)
	}
	rdb := harness.Redis(s.cfg)
	defer rdb.Close()
	keys, err := rdb.DBSize(ctx).Result()
	if err != nil {
		return "", err
	}
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return "", err
	}
	start := time.Now()
	logPath := filepath.Join(s.o.workDir, s.prefix+"-rebuild.log")
	cmd := harness.Command(s.o.cxstream, s.path, "rebuild", "-tenant", s.o.tenant)
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(logPath, out, 0o644)
	if err != nil {
		return "", fmt.Errorf("cxstream rebuild: %w; see %s", err, logPath)
	}
	took := time.Since(start)
	after, err := harness.TakeSnapshot(ctx, s.cfg, s.o.tenant)
	if err != nil {
		return "", fmt.Errorf("snapshot after: %w", err)
	}
	res.Rebuilt = true
	res.RebuildDiffs, res.RebuildShown = harness.Diff(before, after, 3)
	res.RebuildProfiles = len(before)
	return fmt.Sprintf("after the load: %d profiles snapshotted, the Redis database flushed (%d keys lost), "+
		"`cxstream rebuild` replayed the tenant's log from ClickHouse in %.1f s; %d profiles differ from the snapshot",
		len(before), keys, took.Seconds(), res.RebuildDiffs), nil
}

// killRepeatedly SIGKILLs the process in slot o.kills times, a few seconds
// apart, restarting it a second after each kill.
func killRepeatedly(slot string) func(context.Context, *scenario) (string, error) {
	return func(ctx context.Context, s *scenario) (string, error) {
		var at []string
		for i := range s.o.kills {
			if i > 0 && !sleep(ctx, 3*time.Second) {
				return "", ctx.Err()
			}
			at = append(at, fmt.Sprintf("%.0f%%", 100*s.loadShare()))
			s.kill(slot)
			if !sleep(ctx, time.Second) {
				return "", ctx.Err()
			}
			if err := s.start(slot); err != nil {
				return "", err
			}
		}
		return fmt.Sprintf("SIGKILL %s %d times (at %v of the load written), restarted 1 s after each", slot, len(at), at), nil
	}
}

// killSinkMidInsert SIGKILLs the sink while ClickHouse runs one of its
// cx_events inserts (seen in system.processes), o.kills times, restarting
// it a second after each. A kill that finds no insert running within 15 s
// kills anyway and is counted apart.
func killSinkMidInsert(ctx context.Context, s *scenario) (string, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{s.cfg.ClickHouse.Addr},
		Auth: clickhouse.Auth{Database: "default", Username: s.cfg.ClickHouse.Username, Password: s.cfg.ClickHouse.Password}})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	mid := 0
	for i := range s.o.kills {
		if i > 0 && !sleep(ctx, 2*time.Second) {
			return "", ctx.Err()
		}
		if insertRunning(ctx, conn, 15*time.Second) {
			mid++
		}
		s.kill("sink")
		if !sleep(ctx, time.Second) {
			return "", ctx.Err()
		}
		if err := s.start("sink"); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("SIGKILL sink %d times, %d of them while ClickHouse was running its INSERT into cx_events (system.processes); restarted 1 s after each",
		s.o.kills, mid), nil
}

// insertRunning polls ClickHouse until it runs an INSERT into cx_events,
// for at most max; it reports whether it saw one.
func insertRunning(ctx context.Context, conn clickhouse.Conn, max time.Duration) bool {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		var n uint64
		err := conn.QueryRow(ctx, "SELECT count() FROM system.processes WHERE query LIKE 'INSERT INTO cx_events%'").Scan(&n)
		if err == nil && n > 0 {
			return true
		}
		if !sleep(ctx, time.Millisecond) {
			return false
		}
	}
	return false
}

// killForGood SIGKILLs the process in slot and leaves it dead: the other
// resolver of the group must take its partitions over.
func killForGood(slot string) func(context.Context, *scenario) (string, error) {
	return func(ctx context.Context, s *scenario) (string, error) {
		share := s.loadShare()
		s.kill(slot)
		s.retire(slot)
		return fmt.Sprintf("two resolvers in one group; SIGKILL %s at %.0f%% of the load written, not restarted", slot, 100*share), nil
	}
}

// restartService runs the restart command of svc.
func restartService(svc string) func(context.Context, *scenario) (string, error) {
	return func(ctx context.Context, s *scenario) (string, error) {
		share := s.loadShare()
		start := time.Now()
		logPath := filepath.Join(s.o.workDir, s.prefix+"-restart.log")
		logf, err := os.Create(logPath)
		if err != nil {
			return "", err
		}
		defer logf.Close()
		cmd := exec.CommandContext(ctx, "sh", "-c", s.o.restart[svc])
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("restart %s (%s): %w; see %s", svc, s.o.restart[svc], err, logPath)
		}
		return fmt.Sprintf("restarted %s at %.0f%% of the load written; it was back after %.1f s", svc, 100*share, time.Since(start).Seconds()), nil
	}
}

// scenario is one fault's run: its configuration, the pipeline's processes
// and the load's progress.
type scenario struct {
	o      options
	f      fault
	prefix string
	path   string
	cfg    pipeline.Config
	logf   func(string, ...any)

	mu       sync.Mutex
	slots    map[string]*slot
	restarts int // processes that exited by themselves and were restarted

	written, total atomic.Int64
}

// slot is one pipeline process the scenario keeps running.
type slot struct {
	stage, addr string
	child       *harness.Child
	down        bool // killed on purpose and not yet restarted, or retired
}

func runScenario(ctx context.Context, o options, f fault) (res result, err error) {
	res = result{Fault: f.name}
	s := &scenario{o: o, f: f, prefix: fmt.Sprintf("cxchaos-%d-%s", time.Now().Unix(), f.name), slots: map[string]*slot{}}
	s.logf = func(format string, args ...any) {
		fmt.Fprintf(o.log, "cxchaos: %s: "+format+"\n", append([]any{s.prefix}, args...)...)
	}
	if s.path, s.cfg, err = harness.RunConfig(o.config, o.workDir, s.prefix, o.database, o.redisDB); err != nil {
		return res, err
	}
	if err := harness.ResetState(ctx, s.cfg); err != nil {
		return res, err
	}
	if err := kafkaio.EnsureTopics(ctx, s.cfg.Kafka); err != nil {
		return res, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if derr := harness.DeleteTopics(dctx, s.cfg); derr != nil {
			s.logf("delete topics: %v", derr)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	// The population, encoded as the collector would, held in memory.
	var msgs []kafka.Message
	truth, err := harness.Generate(s.cfg, o.tenant, o.gen, o.gen.People, func(m []kafka.Message) error {
		msgs = append(msgs, m...)
		return nil
	})
	if err != nil {
		return res, err
	}
	res.Sent = truth.Sent
	s.total.Store(int64(len(msgs)))

	// The pipeline, supervised.
	for i := 1; i <= f.resolvers; i++ {
		s.slots[fmt.Sprintf("resolver-%d", i)] = &slot{stage: pipeline.StageResolver, addr: fmt.Sprintf("127.0.0.1:%d", o.telemetryBase+i)}
	}
	s.slots["sink"] = &slot{stage: pipeline.StageSink, addr: fmt.Sprintf("127.0.0.1:%d", o.telemetryBase)}
	for name := range s.slots {
		if err := s.start(name); err != nil {
			return res, err
		}
	}
	defer s.stopAll()
	superCtx, stopSuper := context.WithCancel(ctx)
	defer stopSuper()
	go s.supervise(superCtx) // exits with superCtx

	// The load, and the fault once a third of it is written.
	began := time.Now()
	loaded := make(chan loadStats, 1)
	go func() { loaded <- s.load(ctx, msgs) }()
	if f.inject != nil {
		for s.loadShare() < 0.3 {
			if !sleep(ctx, 50*time.Millisecond) {
				return res, fmt.Errorf("the load did not reach 30%%: %w", ctx.Err())
			}
		}
		s.logf("injecting %s", f.name)
		if res.Injected, err = f.inject(ctx, s); err != nil {
			return res, fmt.Errorf("inject %s: %w", f.name, err)
		}
	}
	ls := <-loaded
	res.Written, res.WriteErrors = ls.written, ls.errors
	if ls.err != nil {
		return res, fmt.Errorf("load: %w", ls.err)
	}

	// Wait until every event is in ClickHouse, then for the pipeline to
	// settle, and stop it as an operator would (SIGTERM: drain and commit).
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{s.cfg.ClickHouse.Addr},
		Auth: clickhouse.Auth{Database: "default", Username: s.cfg.ClickHouse.Username, Password: s.cfg.ClickHouse.Password}})
	if err != nil {
		return res, err
	}
	defer conn.Close()
	if err := s.waitStored(ctx, conn, truth.Sent); err != nil {
		res.RecoverySec = time.Since(began).Seconds()
		// What there is to report of a failed scenario; its error is the
		// wait's, but a failed measurement is said too.
		if merr := s.measure(context.WithoutCancel(ctx), conn, truth, &res); merr != nil {
			s.logf("measure after the failed wait: %v", merr)
		}
		return res, err
	}
	res.RecoverySec = time.Since(began).Seconds()
	stopSuper()
	s.stopAll()
	s.mu.Lock()
	res.Restarts = s.restarts
	s.mu.Unlock()
	if f.after != nil {
		s.logf("injecting %s", f.name)
		if res.Injected, err = f.after(ctx, s, &res); err != nil {
			return res, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return res, s.measure(ctx, conn, truth, &res)
}

// loadStats is what the load did.
type loadStats struct {
	written int64 // messages written, copies of retried writes included
	errors  int   // writes that failed and were retried
	err     error
}

// load writes msgs to cx.interactions at o.rate, in slices of 100. A slice
// whose write fails is written again until it succeeds (at least once, as
// a producer retries): the pipeline must drop the copies.
func (s *scenario) load(ctx context.Context, msgs []kafka.Message) (st loadStats) {
	w := kafkaio.NewWriter(s.cfg.Kafka)
	defer w.Close()
	const slice = 100
	start := time.Now()
	for i := 0; i < len(msgs); i += slice {
		due := start.Add(time.Duration(float64(i) / s.o.rate * float64(time.Second)))
		if d := time.Until(due); d > 0 && !sleep(ctx, d) {
			st.err = ctx.Err()
			return st
		}
		part := msgs[i:min(i+slice, len(msgs))]
		for {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := w.WriteMessages(wctx, part...)
			cancel()
			st.written += int64(len(part))
			if err == nil {
				break
			}
			st.errors++
			if ctx.Err() != nil {
				st.err = fmt.Errorf("%w (last write error: %v)", ctx.Err(), err)
				return st
			}
			sleep(ctx, 500*time.Millisecond)
		}
		s.written.Add(int64(len(part)))
	}
	return st
}

// loadShare is the share of the load written so far.
func (s *scenario) loadShare() float64 {
	t := s.total.Load()
	if t == 0 {
		return 0
	}
	return float64(s.written.Load()) / float64(t)
}

// waitStored waits until ClickHouse holds every event id sent, then until
// its row count has not moved for a few seconds.
func (s *scenario) waitStored(ctx context.Context, conn clickhouse.Conn, want int64) error {
	var last, seen uint64
	var stable time.Time
	for {
		rows, uniq, err := s.count(ctx, conn, false)
		switch {
		case err != nil:
			s.logf("count: %v (retrying)", err)
		case int64(uniq) >= want && rows == last && !stable.IsZero():
			if time.Since(stable) >= 5*time.Second {
				return nil
			}
		case int64(uniq) >= want:
			last, stable = rows, time.Now()
		}
		if err == nil {
			seen = uniq
		}
		if !sleep(ctx, time.Second) {
			return fmt.Errorf("not every event reached ClickHouse within -timeout %s (%d of %d event ids)", s.o.timeout, seen, want)
		}
	}
}

// count counts the tenant's cx_events rows and distinct event ids, as
// stored or (final) as ReplacingMergeTree collapses them.
func (s *scenario) count(ctx context.Context, conn clickhouse.Conn, final bool) (rows, uniq uint64, err error) {
	q := "SELECT count(), uniqExact(event_id) FROM `" + s.cfg.ClickHouse.Database + "`.cx_events"
	if final {
		q += " FINAL"
	}
	err = conn.QueryRow(ctx, q+" WHERE tenant = ?", s.o.tenant).Scan(&rows, &uniq)
	return rows, uniq, err
}

// measure fills in what ClickHouse and Redis hold against the truth.
func (s *scenario) measure(ctx context.Context, conn clickhouse.Conn, truth *harness.Truth, res *result) error {
	rows, uniq, err := s.count(ctx, conn, false)
	if err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	res.Rows, res.Stored = int64(rows), int64(uniq)
	final, _, err := s.count(ctx, conn, true)
	if err != nil {
		return fmt.Errorf("clickhouse FINAL: %w", err)
	}
	res.RowsFinal = int64(final)
	acc, _, err := harness.MeasureAccuracy(ctx, s.cfg, s.o.tenant, truth)
	if err != nil {
		return fmt.Errorf("accuracy: %w", err)
	}
	res.Accuracy = acc
	res.Measured = true
	return nil
}

// start starts (or restarts) the process of a slot.
func (s *scenario) start(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.slots[name]
	c, err := harness.StartChild(s.o.cxstream, sl.stage, s.path, sl.addr, filepath.Join(s.o.workDir, s.prefix+"-"+name+".log"))
	if err != nil {
		return err
	}
	sl.child, sl.down = c, false
	return nil
}

// kill SIGKILLs the process of a slot; the supervisor leaves it down until
// start or retire.
func (s *scenario) kill(name string) {
	s.mu.Lock()
	sl := s.slots[name]
	sl.down = true
	c := sl.child
	s.mu.Unlock()
	c.Kill()
}

// retire takes a slot out of the pipeline for good.
func (s *scenario) retire(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.slots, name)
}

// supervise restarts a process that exited by itself, as systemd or
// Kubernetes would, and counts it.
func (s *scenario) supervise(ctx context.Context) {
	for sleep(ctx, 200*time.Millisecond) {
		s.mu.Lock()
		var dead []string
		for name, sl := range s.slots {
			if err, gone := sl.child.Exited(); gone && !sl.down {
				s.logf("%s exited by itself (%v); restarting it", name, err)
				s.restarts++
				dead = append(dead, name)
			}
		}
		s.mu.Unlock()
		for _, name := range dead {
			if err := s.start(name); err != nil {
				s.logf("restart %s: %v", name, err)
			}
		}
	}
}

// stopAll stops every process with SIGTERM (drain, flush, commit).
func (s *scenario) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, sl := range s.slots {
		sl.down = true
		if err := sl.child.Stop(time.Minute); err != nil {
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				s.logf("stop %s: %v", name, err)
			}
		}
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
