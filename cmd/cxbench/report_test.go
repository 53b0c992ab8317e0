package main

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/cxstream/cxstream/cmd/internal/harness"
)

func TestMedian(t *testing.T) {
	inf := math.Inf(1)
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{math.NaN(), 5, 1}, 3}, // NaN (not measured) is left out
		{[]float64{1, inf, inf}, inf},    // most runs did not keep up
		{[]float64{1, 2, inf}, 2},
	} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if !math.IsNaN(median([]float64{math.NaN()})) || !math.IsNaN(median(nil)) {
		t.Error("median of nothing measured: want NaN")
	}
}

func TestPercentile(t *testing.T) {
	var xs []float64
	for i := 1; i <= 100; i++ {
		xs = append(xs, float64(i))
	}
	if p50, p99, p100 := percentile(xs, 0.5), percentile(xs, 0.99), percentile(xs, 1); p50 != 50 || p99 != 99 || p100 != 100 {
		t.Errorf("p50 %v p99 %v p100 %v, want 50 99 100", p50, p99, p100)
	}
	if got := percentile([]float64{7}, 0.99); got != 7 {
		t.Errorf("one value: %v", got)
	}
}

func sample(people, run int, eps, p99, rt float64) result {
	return result{People: people, Run: run, Events: int64(people) * 8, EventsPerSec: eps, RoundTripsPerEv: rt, CommitsPerEv: 0.001,
		RowsPerInsert:     map[string]float64{"cx_events": 5000},
		Latency:           []latencyStep{{Offered: 20000, Achieved: 19990, Sent: 200000, Seen: 200000, P50: p99 / 3, P99: p99}, {Offered: eps / 2, P99: 20}},
		Accuracy:          harness.Accuracy{Precision: 1, Recall: 1, People: people, Profiles: people, Checked: people},
		Procs:             []procUsage{{Name: "resolver", CPUPer1KEvents: 0.02, PeakMB: 80, PeakReset: true}},
		RedisForkCPUPer1K: 0.125, RDBSaves: 3, AOFRewrites: 1}
}

func TestSummaryAndLastLine(t *testing.T) {
	rs := []result{
		sample(10000, 1, 31000, 80, 0.002), sample(10000, 2, 35000, 95, 0.002), sample(10000, 3, 29000, math.Inf(1), 0.003),
		sample(1000000, 1, 20000, 150, 0.004),
	}
	sums := summarize(rs)
	if len(sums) != 2 || sums[0].People != 10000 || sums[0].Runs != 3 || sums[1].Runs != 1 {
		t.Fatalf("summaries %+v", sums)
	}
	if sums[0].EventsPerSec != 31000 || sums[0].P99 != 95 || sums[0].RoundTrips != 0.002 {
		t.Errorf("medians %+v, want 31000 events/s, p99 95, 0.002 round trips", sums[0])
	}
	line := lastLine(sums[0])
	if line != "bench: events_per_sec=31000 p99_ms=95.0 redis_roundtrips_per_event=0.0020 precision=1.0000 recall=1.0000" {
		t.Errorf("last line %q", line)
	}
	// Every value of the line parses as a number, +Inf and NaN included.
	inf := sums[1]
	inf.P99, inf.RoundTrips = math.Inf(1), math.NaN()
	for _, kv := range strings.Fields(strings.TrimPrefix(lastLine(inf), "bench: ")) {
		_, v, _ := strings.Cut(kv, "=")
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			t.Errorf("%s: %v", kv, err)
		}
	}
}

func TestReportVerdicts(t *testing.T) {
	rs := []result{sample(10000, 1, 40000, 50, 0.002), sample(1000000, 1, 20000, 150, 0.004)}
	var b bytes.Buffer
	if err := writeReport(&b, environment{Runs: []int{1, 1}, Mode: "test"}, rs, "chart.png"); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	row := func(prefix string) string {
		for line := range strings.SplitSeq(doc, "\n") {
			if strings.HasPrefix(line, prefix) {
				return line
			}
		}
		t.Fatalf("no row %q in\n%s", prefix, doc)
		return ""
	}
	if r := row("| throughput, end to end"); !strings.Contains(r, "40,000") || !strings.HasSuffix(r, "| met |") {
		t.Errorf("throughput row %q", r)
	}
	if r := row("| throughput at 1,000,000 people"); !strings.Contains(r, "50.0% lower") || !strings.Contains(r, "**missed**") {
		t.Errorf("scaling row %q: 20,000 vs 40,000 is 50%% lower, a miss", r)
	}
	if r := row("| p99 event"); !strings.HasSuffix(r, "| met |") {
		t.Errorf("latency row %q", r)
	}
	if r := row("| Redis persistence"); !strings.HasSuffix(r, "| 0.125 s; 3, 1 |") {
		t.Errorf("persistence row %q", r)
	}
	for _, want := range []string{"![throughput and p99 latency", "### 10,000 people, run 1", "### 1,000,000 people, run 1", "## How it measures"} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestReportScalingFasterAtTheLargerSize(t *testing.T) {
	rs := []result{sample(10000, 1, 1000, 50, 0.002), sample(100000, 1, 1100, 50, 0.002)}
	var b bytes.Buffer
	if err := writeReport(&b, environment{Runs: []int{1, 1}, Mode: "test"}, rs, ""); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	if !strings.Contains(doc, "| throughput at 100,000 people vs 10,000 | within 20% | 10.0% higher | met |") {
		t.Errorf("scaling row should say 10.0%% higher:\n%s", doc)
	}
	if !strings.Contains(doc, "| throughput at 1,000,000 people vs 10,000 | within 20% | not run: a drain of") {
		t.Errorf("the 1M scaling target should say it was not run:\n%s", doc)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestNotRunSaysHowLongTheScalingRunWouldTake(t *testing.T) {
	got := notRun(summary{People: 100_000, Events: 800_000, EventsPerSec: 2000})
	want := "not run: a drain of ~8.0M events at 2,000 events/s would take ~67 min per run"
	if got != want {
		t.Errorf("notRun = %q, want %q", got, want)
	}
	if got := notRun(summary{}); got != "not run" {
		t.Errorf("notRun with no measurement = %q", got)
	}
}

func TestReportThreeSizesAndAFailedRun(t *testing.T) {
	rs := []result{sample(10000, 1, 3000, 50, 0.002), sample(10000, 2, 3200, 50, 0.002),
		sample(100000, 1, 2700, 50, 0.002), sample(1000000, 1, 2100, 50, 0.002)}
	env := environment{Runs: []int{2, 1, 2}, Mode: "test", Failed: []string{"1000000 people, run 2: drain: boom"}}
	var b bytes.Buffer
	if err := writeReport(&b, env, rs, ""); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	for _, want := range []string{
		"(10,000 people: 2 runs, 100,000 people: 1 run, 1,000,000 people: 1 run)",
		"**Failed:** 1000000 people, run 2: drain: boom.",
		// 3,100 is the 10K median: 2,700 is 12.9% lower, 2,100 is 32.3% lower.
		"| throughput at 100,000 people vs 10,000 | within 20% | 12.9% lower | met |",
		"| throughput at 1,000,000 people vs 10,000 | within 20% | 32.3% lower | **missed** |",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q:\n%s", want, doc)
		}
	}
	if strings.Contains(doc, "not run") {
		t.Errorf("the 1M size was run, yet the report says not run:\n%s", doc)
	}
}
