package main

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/cxstream/cxstream/cmd/internal/harness"
	"github.com/cxstream/cxstream/pkg/synth"
)

// One small run of the whole bench on the real services: the pipeline's
// own processes, every measure filled in, and the accuracy checks exact.
func TestIntegrationBenchRun(t *testing.T) {
	dir := t.TempDir()
	bin := harness.BuildForTest(t, dir)
	gen := synth.Default()
	o := options{
		config: "../../docs/cxstream.example.yaml", cxstream: bin, tenant: "benchtest", workDir: dir,
		runs: []int{1}, chunk: 100, rates: []float64{400}, latencyFor: time.Second, grace: 20 * time.Second,
		drainTimeout: 3 * time.Minute, redisDB: 4, database: "cxbench_test", gen: gen,
		telemetryBase: harness.FreePorts(t, 2), log: harness.TestLog{T: t},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// 1,000 people, ~8,000 events: several batches, so the resolver cannot
	// fold the whole backlog between two of the bench's readings.
	res, err := runOnce(ctx, o, 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)

	if res.Events == 0 || res.Applied != float64(res.Events) || res.DeadLetters != 0 {
		t.Errorf("events %d, folded %v, dead letters %v: want every preloaded event folded", res.Events, res.Applied, res.DeadLetters)
	}
	if !(res.EventsPerSec > 0) || !(res.DrainSec > 0) {
		t.Errorf("drain %v s at %v events/s", res.DrainSec, res.EventsPerSec)
	}
	if len(res.Latency) != 1 || res.Latency[0].Seen != res.Latency[0].Sent || res.Latency[0].Sent != 400 ||
		!(res.Latency[0].P99 > 0) || math.IsInf(res.Latency[0].P99, 0) || res.Latency[0].P50 > res.Latency[0].P99 {
		t.Errorf("latency steps %+v: want 400 events, all seen, 0 < p50 <= p99 < inf", res.Latency)
	}
	if rt := res.RoundTripsPerEv; !(rt > 0) || rt > 1 {
		t.Errorf("round trips per event %v: want a count from the resolver, well below 1", rt)
	}
	if c := res.CommitsPerEv; !(c > 0) || c > 1 {
		t.Errorf("Kafka commits per event %v: want a count from the resolver and the sink, well below 1", c)
	}
	if !(res.RedisCPUPerEvUs > 0) || !(res.RedisCmdsPerEv > 1) {
		t.Errorf("Redis CPU %v µs, %v commands per event", res.RedisCPUPerEvUs, res.RedisCmdsPerEv)
	}
	if _, ok := res.RowsPerInsert["cx_events"]; !ok {
		t.Errorf("rows per insert %v: want cx_events", res.RowsPerInsert)
	}
	procs := map[string]procUsage{}
	for _, p := range res.Procs {
		procs[p.Name] = p
	}
	for _, name := range []string{"resolver", "sink", "redis"} {
		if p, ok := procs[name]; !ok || !(p.PeakMB > 0) {
			t.Errorf("process %s: %+v", name, p)
		}
	}
	a := res.Accuracy
	if a.Precision != 1 || a.Recall != 1 || a.JunkLinked != 0 || a.Checked == 0 || a.OrdersWrong != 0 || a.RevenueWrong != 0 {
		t.Errorf("accuracy %+v: want exact", a)
	}
	if res.Identifiers == 0 || !(res.RedisBytesPerID > 0) {
		t.Errorf("%d identifiers, %v bytes each", res.Identifiers, res.RedisBytesPerID)
	}
	if float64(res.ClickHouseUniq) != res.ExpectedTimeline || res.ClickHouseRows < res.ClickHouseUniq {
		t.Errorf("ClickHouse holds %d rows, %d event ids; the resolver folded %v", res.ClickHouseRows, res.ClickHouseUniq, res.ExpectedTimeline)
	}
	if len(res.ChildErrors) > 0 {
		t.Errorf("processes: %v", res.ChildErrors)
	}
}

func TestRunsPerSize(t *testing.T) {
	for _, c := range []struct {
		in    string
		sizes int
		want  []int
	}{{"3", 3, []int{3, 3, 3}}, {"3,3,1", 3, []int{3, 3, 1}}, {"2", 1, []int{2}}} {
		got, err := runsPerSize(c.in, c.sizes)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("runsPerSize(%q, %d) = %v, %v; want %v", c.in, c.sizes, got, err, c.want)
		}
	}
	for _, bad := range []string{"3,1", "0", "x", "3,3,3,3"} {
		if _, err := runsPerSize(bad, 3); err == nil {
			t.Errorf("runsPerSize(%q, 3) accepted", bad)
		}
	}
}
