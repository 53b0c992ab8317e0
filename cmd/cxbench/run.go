package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxstream/cxstream/cmd/internal/harness"
	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/synth"
)

// Metric names the bench reads from the pipeline's /metrics.
const (
	mResolverEvents = "cxstream_resolver_events_total"
	mRoundTrips     = "cxstream_redis_roundtrips_total"
	mCommits        = "cxstream_kafka_commits_total"
	mRowsInserted   = "cxstream_sink_rows_inserted_total"
	mRowsPerInsert  = "cxstream_sink_rows_per_insert"
	mDeadLetters    = "cxstream_resolver_deadletters_total"
)

// sinkTables are the tables whose rows per insert the bench reports.
var sinkTables = []string{"cx_events", "cx_profile_snapshots", "cx_identity"}

// options are the bench's settings (flags).
type options struct {
	config, cxstream, tenant, workDir string
	sizes                             []int
	runs                              []int // per population size
	chunk                             int
	rates                             []float64 // fixed input rates of the latency steps
	latencyFor                        time.Duration
	grace                             time.Duration // how long after a step its last events may take
	drainTimeout                      time.Duration
	redisDB                           int
	database                          string       // ClickHouse database of the runs (dropped before each)
	gen                               synth.Config // People is set per size
	telemetryBase                     int          // resolver on this port, sink on the next
	log                               io.Writer
}

// procUsage is a process's share of a run's drain.
type procUsage struct {
	Name           string
	CPUPer1KEvents float64 // CPU seconds per 1,000 events over the drain
	PeakMB         float64 // VmHWM over the run (reset at its start where allowed)
	PeakReset      bool    // false: the peak is the process's lifetime peak
}

// result is one run at one population size.
type result struct {
	People, Run     int
	Events          int64 // preloaded into cx.interactions
	PreloadSec      float64
	DrainSec        float64
	EventsPerSec    float64
	Applied         float64 // events the resolver folded (outcome ok)
	DeadLetters     float64
	RoundTripsPerEv float64 // NaN: the pipeline does not count them
	RedisCPUPerEvUs float64
	RedisCmdsPerEv  float64 // commands from clients and scripts
	// RedisForkCPUPer1K is the CPU of Redis's persistence children (RDB
	// snapshots and AOF rewrites, forked: not in the Redis process's own
	// CPU) per 1,000 events; RDBSaves and AOFRewrites count them.
	RedisForkCPUPer1K     float64
	RDBSaves, AOFRewrites int
	CommitsPerEv          float64 // the resolver's and the sink's offset commits
	RowsPerInsert         map[string]float64
	Procs                 []procUsage
	RedisBytesPerID       float64
	Identifiers           int
	Latency               []latencyStep
	Accuracy              harness.Accuracy
	ClickHouseRows        uint64 // cx_events rows of the tenant
	ClickHouseUniq        uint64 // distinct event ids among them
	ExpectedTimeline      float64
	ChildErrors           []string
}

// snapshot is everything the bench reads at one instant of a run.
type snapshot struct {
	at       time.Time
	resolver metrics
	sink     metrics
	procs    map[string]procSample
	redis    map[string]string
}

// services are the pids of the backing services, 0 where not found.
type services struct{ redis, clickhouse, kafka int }

func findServices(ctx context.Context, rdb *redis.Client) services {
	var s services
	if info, err := rdb.Info(ctx, "server").Result(); err == nil {
		s.redis, _ = strconv.Atoi(redisInfo(info)["process_id"])
	}
	s.clickhouse = findProcess("clickhouse", "server")
	s.kafka = findProcess("kafka.Kafka")
	return s
}

// runOnce plays one population of people through a fresh pipeline and
// measures it.
func runOnce(ctx context.Context, o options, people, run int) (res result, err error) {
	res = result{People: people, Run: run, RoundTripsPerEv: math.NaN(), CommitsPerEv: math.NaN()}
	prefix := fmt.Sprintf("cxbench-%d-%d-%d", time.Now().Unix(), people, run)
	path, cfg, err := harness.RunConfig(o.config, o.workDir, prefix, o.database, o.redisDB)
	if err != nil {
		return res, err
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(o.log, "cxbench: %s: "+format+"\n", append([]any{prefix}, args...)...)
	}
	if err := harness.ResetState(ctx, cfg); err != nil {
		return res, err
	}
	if err := kafkaio.EnsureTopics(ctx, cfg.Kafka); err != nil {
		return res, err
	}
	// Runs after the processes stopped (deferred first, so run last): a
	// run of a million people must not leave gigabytes in Kafka, Redis
	// (9.8 GB, which a later Redis restart has to load) or ClickHouse.
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if derr := harness.DeleteTopics(dctx, cfg); derr != nil {
			logf("delete topics: %v", derr)
		}
		if derr := harness.ResetState(dctx, cfg); derr != nil {
			logf("empty the run's Redis database and drop its ClickHouse database: %v", derr)
		}
		if derr := harness.RewriteAOF(dctx, cfg); derr != nil {
			logf("rewrite Redis's append-only file: %v", derr)
		}
	}()
	rdb := harness.Redis(cfg)
	defer rdb.Close()

	// Preload the backlog.
	gen := o.gen
	gen.People = people
	start := time.Now()
	truth, err := harness.Preload(ctx, cfg, o.tenant, gen, o.chunk)
	if err != nil {
		return res, fmt.Errorf("preload: %w", err)
	}
	res.Events = truth.Sent
	res.PreloadSec = time.Since(start).Seconds()
	logf("preloaded %d events of %d people in %.1f s (%d rejected as the collector would)", truth.Sent, people, res.PreloadSec, truth.Rejected)

	svc := findServices(ctx, rdb)
	memInfo, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return res, err
	}
	memBefore := infoFloat(redisInfo(memInfo), "used_memory")

	// Start the pipeline.
	resAddr := fmt.Sprintf("127.0.0.1:%d", o.telemetryBase)
	sinkAddr := fmt.Sprintf("127.0.0.1:%d", o.telemetryBase+1)
	resolver, err := harness.StartChild(o.cxstream, pipeline.StageResolver, path, resAddr, filepath.Join(o.workDir, prefix+"-resolver.log"))
	if err != nil {
		return res, err
	}
	sink, err := harness.StartChild(o.cxstream, pipeline.StageSink, path, sinkAddr, filepath.Join(o.workDir, prefix+"-sink.log"))
	if err != nil {
		_ = resolver.Stop(time.Minute)
		return res, err
	}
	pids := map[string]int{"resolver": resolver.Pid(), "sink": sink.Pid(), "redis": svc.redis, "clickhouse": svc.clickhouse, "kafka": svc.kafka}
	peakReset := map[string]bool{}
	for name, pid := range pids {
		if pid > 0 {
			peakReset[name] = resetPeak(pid) == nil
		}
	}
	defer func() {
		for _, c := range []*harness.Child{resolver, sink} {
			if serr := c.Stop(time.Minute); serr != nil {
				res.ChildErrors = append(res.ChildErrors, serr.Error())
			}
		}
	}()

	take := func() (snapshot, error) {
		s := snapshot{at: time.Now(), procs: map[string]procSample{}}
		var err1, err2, err3 error
		s.resolver, err1 = scrape(ctx, resAddr)
		s.sink, err2 = scrape(ctx, sinkAddr)
		var info string
		info, err3 = rdb.Info(ctx, "cpu", "commandstats", "memory", "persistence").Result()
		s.redis = redisInfo(info)
		for name, pid := range pids {
			if pid > 0 {
				if p, err := readProc(pid); err == nil {
					s.procs[name] = p
				}
			}
		}
		return s, errors.Join(err1, err2, err3)
	}
	alive := func() error {
		for _, c := range []*harness.Child{resolver, sink} {
			if err, gone := c.Exited(); gone {
				return fmt.Errorf("%s exited: %v (log: %s)", c.Name, err, filepath.Join(o.workDir, c.Name+".log"))
			}
		}
		return nil
	}
	// waitFor polls until done holds for a snapshot, or the timeout.
	waitFor := func(what string, timeout time.Duration, done func(snapshot) bool) (snapshot, error) {
		deadline := time.Now().Add(timeout)
		for {
			if err := alive(); err != nil {
				return snapshot{}, err
			}
			s, err := take()
			if err == nil && done(s) {
				return s, nil
			}
			if time.Now().After(deadline) {
				if err == nil {
					err = errors.New("timed out")
				}
				return s, fmt.Errorf("waiting for %s: %w", what, err)
			}
			select {
			case <-ctx.Done():
				return s, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}

	// The drain: from the first event the resolver reports to the last
	// row in ClickHouse.
	s0, err := waitFor("the resolver's first batch", 3*time.Minute, func(s snapshot) bool { return s.resolver.sum(mResolverEvents) > 0 })
	if err != nil {
		return res, err
	}
	n := float64(res.Events)
	if s0.resolver.sum(mResolverEvents) >= n {
		// Every event was folded before the first reading: there is no
		// drain left to time.
		return res, fmt.Errorf("the backlog of %.0f events was folded before the bench's first reading of the resolver; measure more people", n)
	}
	s1, err := waitFor("the drain", o.drainTimeout, func(s snapshot) bool {
		applied := s.resolver.sum(mResolverEvents, `outcome="ok"`)
		return s.resolver.sum(mResolverEvents) >= n && s.sink.sum(mRowsInserted, `table="cx_events"`) >= applied
	})
	if err != nil {
		return res, err
	}
	res.fill(s0, s1, pids, peakReset)
	res.Applied = s1.resolver.sum(mResolverEvents, `outcome="ok"`)
	res.DeadLetters = s1.resolver.sum(mDeadLetters)
	logf("drained %.0f events in %.2f s: %.0f events/s", n-s0.resolver.sum(mResolverEvents), res.DrainSec, res.EventsPerSec)

	// Latency at fixed input rates, on the warm state. Each step starts
	// only after the previous step's backlog is folded and in ClickHouse,
	// so that a step the pipeline cannot keep up with does not leave its
	// backlog to the next.
	sent := n
	var s2 snapshot
	for _, rate := range o.rates {
		if rate <= 0 { // half of the drain throughput: a rate the pipeline sustains
			rate = math.Round(res.EventsPerSec / 2)
		}
		step, err := measureLatency(ctx, cfg, o.tenant, truth.Targets, rate, o.latencyFor, o.grace)
		if err != nil {
			return res, fmt.Errorf("latency at %.0f events/s: %w", rate, err)
		}
		sent += float64(step.Sent)
		backlog := time.Now()
		s2, err = waitFor("the latency step's backlog", o.drainTimeout, func(s snapshot) bool {
			applied := s.resolver.sum(mResolverEvents, `outcome="ok"`)
			return s.resolver.sum(mResolverEvents) >= sent && s.sink.sum(mRowsInserted, `table="cx_events"`) >= applied
		})
		if err != nil {
			return res, err
		}
		step.BacklogSec = time.Since(backlog).Seconds()
		res.Latency = append(res.Latency, step)
		logf("latency at %.0f events/s offered (%.0f sent/s): p50 %s p99 %s, %d of %d seen; its backlog drained in %.1f s", step.Offered, step.Achieved,
			fmtMillis(step.P50, step.Unseen > 0), fmtMillis(step.P99, step.Unseen > 0), step.Seen, step.Sent, step.BacklogSec)
	}
	if len(o.rates) == 0 {
		if s2, err = waitFor("the pipeline", o.drainTimeout, func(snapshot) bool { return true }); err != nil {
			return res, err
		}
	}
	res.ExpectedTimeline = s2.resolver.sum(mResolverEvents, `outcome="ok"`)

	// Peaks over the whole run, read before the processes stop.
	for i := range res.Procs {
		if p, ok := s2.procs[res.Procs[i].Name]; ok {
			res.Procs[i].PeakMB = float64(p.PeakBytes) / (1 << 20)
		}
	}
	memAfter := infoFloat(s1.redis, "used_memory")

	// Accuracy against the ground truth, and what ClickHouse holds.
	acc, ids, err := harness.MeasureAccuracy(ctx, cfg, o.tenant, truth)
	if err != nil {
		return res, fmt.Errorf("accuracy: %w", err)
	}
	res.Accuracy, res.Identifiers = acc, ids
	if ids > 0 {
		res.RedisBytesPerID = (memAfter - memBefore) / float64(ids)
	}
	// The sink's row counter includes copies of redelivered batches (a
	// consumer-group rebalance redelivers what was not committed), so it
	// can reach the folded count early: wait for the distinct event ids.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if res.ClickHouseRows, res.ClickHouseUniq, err = harness.CountEvents(ctx, cfg, o.tenant); err != nil {
			return res, err
		}
		if float64(res.ClickHouseUniq) >= res.ExpectedTimeline || time.Now().After(deadline) {
			return res, nil
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// fill computes the drain's rates from its first and last snapshot.
func (r *result) fill(s0, s1 snapshot, pids map[string]int, peakReset map[string]bool) {
	events := s1.resolver.sum(mResolverEvents) - s0.resolver.sum(mResolverEvents)
	r.DrainSec = s1.at.Sub(s0.at).Seconds()
	if r.DrainSec > 0 {
		r.EventsPerSec = events / r.DrainSec
	}
	if events <= 0 {
		return
	}
	if s1.resolver.has(mRoundTrips) {
		r.RoundTripsPerEv = (s1.resolver.sum(mRoundTrips) - s0.resolver.sum(mRoundTrips)) / events
	}
	if s1.resolver.has(mCommits) && s1.sink.has(mCommits) {
		commits := s1.resolver.sum(mCommits) + s1.sink.sum(mCommits) - s0.resolver.sum(mCommits) - s0.sink.sum(mCommits)
		r.CommitsPerEv = commits / events
	}
	cpu := func(info map[string]string) float64 {
		return infoFloat(info, "used_cpu_sys") + infoFloat(info, "used_cpu_user")
	}
	r.RedisCPUPerEvUs = (cpu(s1.redis) - cpu(s0.redis)) / events * 1e6
	r.RedisCmdsPerEv = (commandCalls(s1.redis) - commandCalls(s0.redis)) / events
	children := func(info map[string]string) float64 {
		return infoFloat(info, "used_cpu_sys_children") + infoFloat(info, "used_cpu_user_children")
	}
	r.RedisForkCPUPer1K = (children(s1.redis) - children(s0.redis)) / events * 1000
	r.RDBSaves = int(infoFloat(s1.redis, "rdb_saves") - infoFloat(s0.redis, "rdb_saves"))
	r.AOFRewrites = int(infoFloat(s1.redis, "aof_rewrites") - infoFloat(s0.redis, "aof_rewrites"))
	r.RowsPerInsert = map[string]float64{}
	for _, t := range sinkTables {
		label := `table="` + t + `"`
		rows := s1.sink.sum(mRowsPerInsert+"_sum", label) - s0.sink.sum(mRowsPerInsert+"_sum", label)
		inserts := s1.sink.sum(mRowsPerInsert+"_count", label) - s0.sink.sum(mRowsPerInsert+"_count", label)
		if inserts > 0 {
			r.RowsPerInsert[t] = rows / inserts
		}
	}
	for _, name := range []string{"resolver", "sink", "redis", "clickhouse", "kafka"} {
		p0, ok0 := s0.procs[name]
		p1, ok1 := s1.procs[name]
		if !ok0 || !ok1 || pids[name] == 0 {
			continue
		}
		r.Procs = append(r.Procs, procUsage{Name: name, CPUPer1KEvents: (p1.CPUSeconds - p0.CPUSeconds) / events * 1000,
			PeakMB: float64(p1.PeakBytes) / (1 << 20), PeakReset: peakReset[name]})
	}
}

// mkWorkDir makes the directory of a bench's configurations and logs.
func mkWorkDir(dir string) (string, error) {
	if dir == "" {
		return os.MkdirTemp("", "cxbench-")
	}
	return dir, os.MkdirAll(dir, 0o755)
}
