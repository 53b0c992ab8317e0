package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// Targets of the benchmark issue, on one 2-core machine.
const (
	targetEventsPerSec   = 30000
	targetP99Millis      = 100
	targetRoundTrips     = 0.01
	targetRowsPerInsert  = 5000
	targetLatencyRate    = 20000
	targetScalingPercent = 20
)

// environment is what the report says of the machine and the software.
type environment struct {
	Date, Mode                string
	CPU                       string
	Cores                     int
	MemoryGiB                 float64
	Kernel, Go                string
	Redis, ClickHouse, Kafka  string
	Libraries                 []string // module@version of the clients
	Settings                  []string // "name: value"
	Knobs                     []string
	Sizes                     []int
	Runs                      []int // per population size
	Failed                    []string
	Rates                     []float64
	LatencyFor, Grace         time.Duration
	WallClock                 time.Duration
	PeakResetUnsupportedProcs []string
}

// machine fills the machine and library fields.
func machine(env *environment) {
	env.Cores = runtime.NumCPU()
	env.Go = runtime.Version()
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				env.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		env.MemoryGiB = float64(statusKB(b, "MemTotal:")) / (1 << 20)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		env.Kernel = strings.TrimSpace(string(b))
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/segmentio/kafka-go", "github.com/redis/go-redis/v9", "github.com/ClickHouse/clickhouse-go/v2":
				env.Libraries = append(env.Libraries, d.Path+" "+d.Version)
			}
		}
	}
}

// median of the finite values; NaN if there are none. +Inf values count
// (a step that did not keep up) so the median can be +Inf.
func median(vs []float64) float64 {
	var xs []float64
	for _, v := range vs {
		if !math.IsNaN(v) {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	a, b := xs[len(xs)/2-1], xs[len(xs)/2]
	if math.IsInf(a, 1) || math.IsInf(b, 1) {
		return math.Inf(1)
	}
	return (a + b) / 2
}

// summary is the median of a size's runs.
type summary struct {
	People                                int
	Runs                                  int
	Events                                float64
	EventsPerSec, P50, P99                float64 // latency at the target rate (the first rate)
	P99Sustained                          float64 // latency at the last rate (half the drain's throughput)
	SustainedRate                         float64
	RoundTrips, RedisCPUUs, Commits       float64
	RowsPerInsert                         float64 // cx_events
	Precision, Recall                     float64
	OrdersWrong, RevenueWrong, JunkLinked float64
	RedisBytesPerID                       float64
}

func summarize(rs []result) []summary {
	var sizes []int
	for _, r := range rs {
		if !slices.Contains(sizes, r.People) {
			sizes = append(sizes, r.People)
		}
	}
	var out []summary
	for _, size := range sizes {
		s := summary{People: size}
		col := func(f func(r result) float64) float64 {
			var vs []float64
			for _, r := range rs {
				if r.People == size {
					vs = append(vs, f(r))
				}
			}
			return median(vs)
		}
		for _, r := range rs {
			if r.People == size {
				s.Runs++
			}
		}
		lat := func(i int, f func(latencyStep) float64) func(result) float64 {
			return func(r result) float64 {
				if i < 0 {
					i = len(r.Latency) - 1
				}
				if i < 0 || i >= len(r.Latency) {
					return math.NaN()
				}
				return f(r.Latency[i])
			}
		}
		s.Events = col(func(r result) float64 { return float64(r.Events) })
		s.EventsPerSec = col(func(r result) float64 { return r.EventsPerSec })
		s.P50 = col(lat(0, func(l latencyStep) float64 { return l.P50 }))
		s.P99 = col(lat(0, func(l latencyStep) float64 { return l.P99 }))
		s.P99Sustained = col(lat(-1, func(l latencyStep) float64 { return l.P99 }))
		s.SustainedRate = col(lat(-1, func(l latencyStep) float64 { return l.Offered }))
		s.RoundTrips = col(func(r result) float64 { return r.RoundTripsPerEv })
		s.RedisCPUUs = col(func(r result) float64 { return r.RedisCPUPerEvUs })
		s.Commits = col(func(r result) float64 { return r.CommitsPerEv })
		s.RowsPerInsert = col(func(r result) float64 { return orNaN(r.RowsPerInsert, "cx_events") })
		s.Precision = col(func(r result) float64 { return r.Accuracy.Precision })
		s.Recall = col(func(r result) float64 { return r.Accuracy.Recall })
		s.OrdersWrong = col(func(r result) float64 { return float64(r.Accuracy.OrdersWrong) })
		s.RevenueWrong = col(func(r result) float64 { return float64(r.Accuracy.RevenueWrong) })
		s.JunkLinked = col(func(r result) float64 { return float64(r.Accuracy.JunkLinked) })
		s.RedisBytesPerID = col(func(r result) float64 { return r.RedisBytesPerID })
		out = append(out, s)
	}
	return out
}

func orNaN(m map[string]float64, k string) float64 {
	if v, ok := m[k]; ok {
		return v
	}
	return math.NaN()
}

// num formats a figure for a table: NaN as n/a, +Inf as "timed out".
func num(v float64, decimals int) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.IsInf(v, 1):
		return "∞"
	}
	if decimals == 0 && math.Abs(v) >= 1000 {
		return thousands(int64(math.Round(v)))
	}
	return fmt.Sprintf("%.*f", decimals, v)
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fmtMillis formats a latency, "> waited" style when events were unseen.
func fmtMillis(v float64, _ bool) string {
	if math.IsInf(v, 1) {
		return "∞ (not all seen)"
	}
	return fmt.Sprintf("%.1f ms", v)
}

// verdict says whether a target is met.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// lastLine is the bench's last output line, from the first size's medians.
func lastLine(s summary) string {
	f := func(v float64, d int) string {
		if math.IsInf(v, 1) {
			return "+Inf"
		}
		if math.IsNaN(v) {
			return "NaN"
		}
		return fmt.Sprintf("%.*f", d, v)
	}
	return fmt.Sprintf("bench: events_per_sec=%s p99_ms=%s redis_roundtrips_per_event=%s precision=%s recall=%s",
		f(s.EventsPerSec, 0), f(s.P99, 1), f(s.RoundTrips, 4), f(s.Precision, 4), f(s.Recall, 4))
}

// writeReport renders docs/BENCHMARKS.md.
func writeReport(w io.Writer, env environment, rs []result, chartName string) error {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	sums := summarize(rs)
	p("# Benchmarks\n\n")
	p("Written by `scripts/bench.sh` (`cmd/cxbench`) on %s, %s mode, from one real run of the whole pipeline:\n", env.Date, env.Mode)
	p("Kafka, Redis, ClickHouse, `cxstream resolver`, `cxstream sink` and the load generator on one machine.\n")
	p("Do not edit it by hand: run the script again. What bounds the figures, and the levers, are in\n")
	p("[pipeline/DESIGN.md](../pipeline/DESIGN.md#benchmarks).\n\n")
	if chartName != "" {
		p("![throughput and p99 latency against population size](%s)\n\n", chartName)
	}

	p("## Targets\n\n")
	p("Medians of the runs of each population size (%s).\n\n", runCounts(sums))
	for _, f := range env.Failed {
		p("**Failed:** %s. The figures below are the runs before it.\n\n", f)
	}
	p("| target | wanted | measured | |\n|---|---|---|---|\n")
	if len(sums) > 0 {
		first, last := sums[0], sums[len(sums)-1]
		p("| throughput, end to end (%s people) | ≥ %s events/s | %s events/s | %s |\n", thousands(int64(first.People)), thousands(targetEventsPerSec),
			num(first.EventsPerSec, 0), verdict(first.EventsPerSec >= targetEventsPerSec))
		p("| p99 event → profile update at %s events/s offered | ≤ %d ms | %s ms | %s |\n", thousands(targetLatencyRate), targetP99Millis,
			num(first.P99, 1), verdict(first.P99 <= targetP99Millis))
		p("| Redis round trips per event | ≤ %.2f | %s | %s |\n", targetRoundTrips, num(first.RoundTrips, 4), verdict(first.RoundTrips <= targetRoundTrips))
		p("| rows per ClickHouse insert (cx_events) under load | ≥ %s | %s | %s |\n", thousands(targetRowsPerInsert), num(first.RowsPerInsert, 0),
			verdict(first.RowsPerInsert >= targetRowsPerInsert))
		p("| identity precision / recall | 1.0 / 1.0 | %s / %s | %s |\n", num(first.Precision, 4), num(first.Recall, 4),
			verdict(first.Precision == 1 && first.Recall == 1))
		p("| profiles with a wrong order count / lifetime value | 0 / 0 | %s / %s | %s |\n", num(first.OrdersWrong, 0), num(first.RevenueWrong, 0),
			verdict(first.OrdersWrong == 0 && first.RevenueWrong == 0))
		for _, s := range sums[1:] {
			drop := 100 * (1 - s.EventsPerSec/first.EventsPerSec)
			change := num(drop, 1) + "% lower"
			if drop < 0 {
				change = num(-drop, 1) + "% higher"
			}
			p("| throughput at %s people vs %s | within %d%% | %s | %s |\n", thousands(int64(s.People)), thousands(int64(first.People)),
				targetScalingPercent, change, verdict(drop <= targetScalingPercent))
		}
		if last.People < targetScalePeople {
			p("| throughput at %s people vs 10,000 | within %d%% | %s | |\n", thousands(targetScalePeople), targetScalingPercent, notRun(last))
		}
	}

	p("\n## By population size\n\n")
	p("| people | events | events/s | p50 / p99 ms at %s/s | p99 ms at half the drain rate | Redis round trips / event | Redis CPU µs / event | Kafka commits / event | rows / insert | precision | recall | wrong orders / LTV | Redis bytes / identifier |\n",
		thousands(targetLatencyRate))
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range sums {
		p("| %s | %s | %s | %s / %s | %s (at %s/s) | %s | %s | %s | %s | %s | %s | %s / %s | %s |\n",
			thousands(int64(s.People)), num(s.Events, 0), num(s.EventsPerSec, 0), num(s.P50, 1), num(s.P99, 1), num(s.P99Sustained, 1), num(s.SustainedRate, 0),
			num(s.RoundTrips, 4), num(s.RedisCPUUs, 1), num(s.Commits, 4), num(s.RowsPerInsert, 0), num(s.Precision, 4), num(s.Recall, 4),
			num(s.OrdersWrong, 0), num(s.RevenueWrong, 0), num(s.RedisBytesPerID, 0))
	}

	p("\n## Machine and software\n\n")
	p("- CPU: %s, %d cores visible; memory %.1f GiB; Linux %s\n", env.CPU, env.Cores, env.MemoryGiB, env.Kernel)
	p("- %s; Redis %s; ClickHouse %s; Apache Kafka %s (KRaft, one broker)\n", env.Go, env.Redis, env.ClickHouse, env.Kafka)
	if len(env.Libraries) > 0 {
		p("- clients: %s\n", strings.Join(env.Libraries, ", "))
	}
	p("- every process on the same cores: Kafka, Redis, ClickHouse, one `cxstream resolver`, one `cxstream sink`, and `cxbench` (the generator and the measuring reader)\n")
	p("\n## Settings\n\n")
	p("- population sizes %v, runs %v; rates of the latency steps: %s for %s each, then up to %s for the last events\n",
		env.Sizes, env.Runs, rateList(env.Rates), env.LatencyFor, env.Grace)
	for _, s := range env.Settings {
		p("- %s\n", s)
	}
	for _, k := range env.Knobs {
		p("- %s\n", k)
	}
	p("- the bench's wall clock: %s\n", env.WallClock.Round(time.Second))

	p("\n## How it measures\n\n")
	p(`- **Throughput**: the population is written to the run's own cx.interactions topic first (a backlog),
  then one resolver and one sink start. Throughput is the events the resolver reports from its first
  batch until the last event is folded and its row is in ClickHouse (the sink's count of cx_events
  rows), over that time. Each run has fresh topics, consumer groups, a flushed Redis database and a new
  ClickHouse database.
- **Latency**: after the drain, events of known customers are written at a fixed rate, each stamped
  with the instant it is due, so a writer that falls behind shows as latency (no coordinated
  omission). An event's latency is the instant the bench reads its record on cx.timeline minus its
  event time; the resolver writes that record in the same Kafka write as the profile's update on
  cx.profiles. Events not read within the grace count as infinitely late (shown ∞). A step starts
  only once the previous step's events are all folded and in ClickHouse.
- **Redis**: round trips are the resolver's own count of commands and pipelines it sent
  (cxstream_redis_roundtrips_total); CPU and commands per event are deltas of Redis INFO
  (used_cpu_sys + used_cpu_user, commandstats calls, which count the commands scripts make too)
  over the drain. Bytes per identifier: used_memory after the drain minus before, over the
  identifiers in the index.
- **Kafka commits** are the resolver's and the sink's offset commits (cxstream_kafka_commits_total) per event.
- **Rows per insert**: the sink's cxstream_sink_rows_per_insert over the drain.
- **CPU per process**: utime + stime from /proc/<pid>/stat over the drain, per 1,000 events; peak memory
  is VmHWM, reset at the start of the run where the bench may (clear_refs).
- **Redis persistence**: the CPU of the children Redis forked for RDB snapshots and AOF rewrites
  (used_cpu_*_children of INFO cpu; counted when Redis reaps a child, so one still running at the
  end is left out) and how many of each finished during the drain (rdb_saves, aof_rewrites of INFO persistence).
- **Accuracy**: every identifier of the ground truth is looked up in the tenant's identity index;
  pairwise precision and recall of the partition (pkg/synth.Score). Each profile's order count and
  lifetime value are compared with the sum of the purchases of the people it holds.
`)

	p("\n## Runs\n")
	for _, r := range rs {
		p("\n### %s people, run %d\n\n", thousands(int64(r.People)), r.Run)
		p("| measure | value |\n|---|---|\n")
		p("| events preloaded (written in) | %s (%.1f s) |\n", thousands(r.Events), r.PreloadSec)
		p("| drain | %.2f s, **%s events/s** |\n", r.DrainSec, num(r.EventsPerSec, 0))
		p("| events folded / dead letters | %s / %s |\n", num(r.Applied, 0), num(r.DeadLetters, 0))
		for _, l := range r.Latency {
			p("| latency at %s events/s offered (%s written/s) | p50 %s, p95 %s, p99 %s, max %s ms; %d of %d seen within %.0f ms of the last; the rest folded %.1f s later |\n",
				num(l.Offered, 0), num(l.Achieved, 0), num(l.P50, 1), num(l.P95, 1), num(l.P99, 1), num(l.Max, 1), l.Seen, l.Sent, l.WaitedMs, l.BacklogSec)
		}
		p("| Redis round trips / commands / CPU per event | %s / %s / %s µs |\n", num(r.RoundTripsPerEv, 4), num(r.RedisCmdsPerEv, 1), num(r.RedisCPUPerEvUs, 1))
		p("| Kafka commits per event | %s |\n", num(r.CommitsPerEv, 4))
		var rows []string
		for _, t := range sinkTables {
			rows = append(rows, fmt.Sprintf("%s %s", t, num(orNaN(r.RowsPerInsert, t), 0)))
		}
		p("| rows per ClickHouse insert | %s |\n", strings.Join(rows, ", "))
		for _, pr := range r.Procs {
			peak := num(pr.PeakMB, 0) + " MB"
			if !pr.PeakReset {
				peak += " (lifetime)"
			}
			p("| %s: CPU s per 1,000 events, peak memory | %s s, %s |\n", pr.Name, num(pr.CPUPer1KEvents, 3), peak)
		}
		p("| Redis persistence (forked children): CPU s per 1,000 events; RDB snapshots, AOF rewrites | %s s; %d, %d |\n", num(r.RedisForkCPUPer1K, 3), r.RDBSaves, r.AOFRewrites)
		p("| Redis bytes per identifier | %s (%s identifiers) |\n", num(r.RedisBytesPerID, 0), thousands(int64(r.Identifiers)))
		a := r.Accuracy
		p("| identity: precision, recall | %.4f, %.4f (%s people in %s profiles; over-merged %d, split %d, unresolved %d; junk linked %d) |\n",
			a.Precision, a.Recall, thousands(int64(a.People)), thousands(int64(a.Profiles)), a.OverMerged, a.Split, a.Unresolved, a.JunkLinked)
		p("| profiles checked; wrong order count; wrong lifetime value | %s; %d; %d |\n", thousands(int64(a.Checked)), a.OrdersWrong, a.RevenueWrong)
		p("| ClickHouse cx_events rows (distinct event ids) vs events folded | %s (%s) vs %s |\n", thousands(int64(r.ClickHouseRows)), thousands(int64(r.ClickHouseUniq)), num(r.ExpectedTimeline, 0))
		for _, e := range r.ChildErrors {
			p("| process error | %s |\n", e)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// runCounts lists each size's number of runs: "10,000 people: 3 runs, ...".
func runCounts(sums []summary) string {
	var s []string
	for _, x := range sums {
		plural := "s"
		if x.Runs == 1 {
			plural = ""
		}
		s = append(s, fmt.Sprintf("%s people: %d run%s", thousands(int64(x.People)), x.Runs, plural))
	}
	return strings.Join(s, ", ")
}

func rateList(rates []float64) string {
	var s []string
	for _, r := range rates {
		if r <= 0 {
			s = append(s, "half the drain's throughput")
		} else {
			s = append(s, thousands(int64(r))+" events/s")
		}
	}
	return strings.Join(s, " and ")
}

// targetScalePeople is the population of the scaling target.
const targetScalePeople = 1_000_000

// notRun says why the scaling target's population was not measured: how
// long one drain of it would take at the largest measured size's rate.
func notRun(last summary) string {
	if last.EventsPerSec <= 0 || last.People <= 0 {
		return "not run"
	}
	events := last.Events / float64(last.People) * targetScalePeople
	return fmt.Sprintf("not run: a drain of ~%.1fM events at %s events/s would take ~%.0f min per run",
		events/1e6, num(last.EventsPerSec, 0), events/last.EventsPerSec/60)
}
