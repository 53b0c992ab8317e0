// Command cxbench measures the whole cxstream pipeline on real Kafka, Redis
// and ClickHouse: throughput draining a preloaded backlog, latency at fixed
// input rates, Redis, Kafka and ClickHouse costs per event, CPU and memory
// per process, and accuracy against the ground truth of a synthetic
// population (pkg/synth), at each population size asked for. It writes
// docs/BENCHMARKS.md and a PNG chart, and prints a last line
//
//	bench: events_per_sec=N p99_ms=N redis_roundtrips_per_event=N precision=N recall=N
//
// from the medians of the first population size. scripts/bench.sh builds it
// and cxstream, starts the services and runs it:
//
//	cxbench -cxstream ./cxstream -config docs/cxstream.example.yaml -people 10000,100000,1000000 -runs 3,3,1
//
// Each run uses its own topics, consumer groups, Redis database (-redis-db)
// and ClickHouse database (-clickhouse-database), emptied before the run and
// again after it (the topics deleted, the database flushed and dropped), and
// starts its own `cxstream resolver` and `cxstream sink` processes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/redis/go-redis/v9"

	"github.com/cxstream/cxstream/cmd/internal/harness"
	"github.com/cxstream/cxstream/pkg/synth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cxbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cxbench", flag.ContinueOnError)
	var (
		o                  options
		sizes, runs, rates string
		out, chart         string
		mode, kafkaVer     string
		seed               uint64
	)
	fs.StringVar(&o.config, "config", "docs/cxstream.example.yaml", "the pipeline's configuration; the bench gives each run its own topics, groups and databases")
	fs.StringVar(&o.cxstream, "cxstream", "cxstream", "the cxstream binary the resolver and sink run from")
	fs.StringVar(&o.tenant, "tenant", "bench", "tenant of the population")
	fs.StringVar(&o.workDir, "work", "", "directory for the runs' configurations and process logs (default: a new temporary one)")
	fs.StringVar(&sizes, "people", "10000", "population sizes, comma-separated")
	fs.StringVar(&runs, "runs", "1", "runs per population size (the report takes the median): one number for every size, or one per size (-people 10000,100000,1000000 -runs 3,3,1)")
	fs.IntVar(&o.chunk, "chunk", 10000, "people generated at once (memory bound of the generator)")
	fs.StringVar(&rates, "rates", "20000,0", "fixed input rates (events/s) of the latency steps, comma-separated; 0 means half the drain's throughput")
	fs.DurationVar(&o.latencyFor, "latency-for", 10*time.Second, "how long each latency step writes")
	fs.DurationVar(&o.grace, "grace", 20*time.Second, "how long after its last event a latency step waits for stragglers")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 2*time.Hour, "longest a drain may take")
	fs.IntVar(&o.redisDB, "redis-db", 3, "Redis database of the runs (flushed before each)")
	fs.StringVar(&o.database, "clickhouse-database", "cxbench", "ClickHouse database of the runs (dropped before each)")
	fs.IntVar(&o.telemetryBase, "telemetry-port", 19471, "the resolver's /metrics port; the sink's is the next")
	fs.Uint64Var(&seed, "seed", 1, "population seed (run r of a size uses seed+r-1)")
	fs.StringVar(&out, "out", "docs/BENCHMARKS.md", "the report to write")
	fs.StringVar(&chart, "chart", "docs/benchmarks.png", "the chart to write, beside the report")
	fs.StringVar(&mode, "mode", "full", "the mode named in the report (scripts/bench.sh sets quick or full)")
	fs.StringVar(&kafkaVer, "kafka-version", "", "the broker's version, for the report")
	def := synth.Default()
	o.gen = def
	fs.Float64Var(&o.gen.KnownShare, "known", def.KnownShare, "share of people who identify themselves")
	addKnobs(fs, &o.gen)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.sizes, err = parseInts(sizes); err != nil {
		return fmt.Errorf("-people: %w", err)
	}
	if o.rates, err = parseFloats(rates); err != nil {
		return fmt.Errorf("-rates: %w", err)
	}
	if o.runs, err = runsPerSize(runs, len(o.sizes)); err != nil {
		return fmt.Errorf("-runs: %w", err)
	}
	if o.chunk < 1 {
		return fmt.Errorf("-chunk must be at least 1, got %d", o.chunk)
	}
	if o.latencyFor <= 0 || o.grace <= 0 {
		return errors.New("-latency-for and -grace must be positive")
	}
	o.gen.Span = 30 * 24 * time.Hour
	o.gen.Start = time.Now().UTC().Add(-o.gen.Span)
	if err := o.gen.Validate(); err != nil {
		return fmt.Errorf("population: %w", err)
	}
	if o.workDir, err = mkWorkDir(o.workDir); err != nil {
		return err
	}
	o.log = stderr

	began := time.Now()
	env := environment{Date: began.UTC().Format("2006-01-02 15:04 UTC"), Mode: mode, Kafka: kafkaVer, Sizes: o.sizes,
		Runs: o.runs, Rates: o.rates, LatencyFor: o.latencyFor, Grace: o.grace}
	machine(&env)
	if err := describe(ctx, &env, o); err != nil {
		fmt.Fprintf(stderr, "cxbench: versions: %v\n", err)
	}
	// The report and chart are written again after every run, so a long
	// bench that fails or is stopped late keeps what it measured, and says
	// which run failed.
	var results []result
	for i, people := range o.sizes {
		for r := 1; r <= o.runs[i]; r++ {
			o.gen.Seed = seed + uint64(r-1)
			res, err := runOnce(ctx, o, people, r)
			if err != nil {
				err = fmt.Errorf("%d people, run %d: %w (logs in %s)", people, r, err, o.workDir)
				env.Failed = append(env.Failed, err.Error())
				env.WallClock = time.Since(began)
				if werr := writeOutputs(env, results, out, chart); werr != nil {
					fmt.Fprintf(stderr, "cxbench: %v\n", werr)
				}
				return err
			}
			results = append(results, res)
			fmt.Fprintf(stderr, "cxbench: %d people, run %d: %.0f events/s, precision %.4f recall %.4f\n",
				people, r, res.EventsPerSec, res.Accuracy.Precision, res.Accuracy.Recall)
			env.WallClock = time.Since(began)
			if err := writeOutputs(env, results, out, chart); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(stderr, "cxbench: wrote %s and %s\n", out, chart)
	fmt.Fprintln(stdout, lastLine(summarize(results)[0]))
	return nil
}

// writeOutputs writes the chart (if asked for) and the report of the runs
// so far.
func writeOutputs(env environment, results []result, out, chart string) error {
	chartName := ""
	if chart != "" && len(results) > 0 {
		f, err := os.Create(chart)
		if err != nil {
			return err
		}
		var pts []Point
		for _, r := range results {
			p99 := math.NaN()
			if len(r.Latency) > 0 {
				p99 = r.Latency[0].P99
			}
			pts = append(pts, Point{People: r.People, EventsPerSec: r.EventsPerSec, P99Millis: p99})
		}
		title := fmt.Sprintf("cxstream end to end on %d cores (%s mode): throughput and p99 at %s events/s", env.Cores, env.Mode, thousands(targetLatencyRate))
		err = WriteChart(f, title, pts, targetEventsPerSec, targetP99Millis)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("chart: %w", err)
		}
		if rel, err := filepath.Rel(filepath.Dir(out), chart); err == nil {
			chartName = rel
		}
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	err = writeReport(f, env, results, chartName)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// runsPerSize parses -runs: one count for every size, or one per size.
func runsPerSize(s string, sizes int) ([]int, error) {
	n, err := parseInts(s)
	if err != nil {
		return nil, err
	}
	switch len(n) {
	case 1:
		return slices.Repeat(n, sizes), nil
	case sizes:
		return n, nil
	}
	return nil, fmt.Errorf("%d counts for %d population sizes: give one, or one per size", len(n), sizes)
}

// addKnobs registers the population's hazard shares as flags.
func addKnobs(fs *flag.FlagSet, c *synth.Config) {
	fs.Float64Var(&c.SharedDeviceShare, "shared-devices", c.SharedDeviceShare, "share of known customers who share a family tablet")
	fs.Float64Var(&c.JunkShare, "junk", c.JunkShare, "share of people with a junk identifier")
	fs.Float64Var(&c.SecondEmailShare, "second-emails", c.SecondEmailShare, "share of known customers with a work email too")
	fs.Float64Var(&c.PhoneOnlyShare, "phone-only", c.PhoneOnlyShare, "share of known non-loyalty customers seen by phone only")
	fs.Float64Var(&c.Events, "events", c.Events, "mean events per person (filler activity on identifiers already used); 0 keeps the natural ~8")
	fs.Float64Var(&c.MergeRate, "merge-rate", c.MergeRate, "share of known customers who browse anonymously in an extra browser before logging in there")
	fs.IntVar(&c.HotKeys, "hot-keys", c.HotKeys, "number of very active people")
	fs.Float64Var(&c.HotShare, "hot-share", c.HotShare, "share of the filler events that go to the hot people (needs -events and -hot-keys)")
}

// describe fills the versions of the services and the settings.
func describe(ctx context.Context, env *environment, o options) error {
	_, cfg, err := harness.RunConfig(o.config, o.workDir, "describe", o.database, o.redisDB)
	if err != nil {
		return err
	}
	env.Settings = []string{
		fmt.Sprintf("Kafka: %d partitions per topic, writer batch %d messages or %s, reader max wait %s", cfg.Kafka.Partitions, cfg.Kafka.BatchSize, cfg.Kafka.BatchTimeout, cfg.Kafka.MaxWait),
		fmt.Sprintf("resolver: %d consumer loop(s), batches of up to %d messages or %s", cfg.Resolver.Consumers, cfg.Resolver.BatchSize, cfg.Resolver.BatchWait),
		fmt.Sprintf("sink: inserts of up to %d rows, at the latest %s after a batch's first row or %s after its last", cfg.Sink.BatchRows, cfg.Sink.FlushInterval, cfg.Sink.FlushIdle),
		fmt.Sprintf("segments: %d; cart and feedback triggers on", len(cfg.Segments)),
	}
	g := o.gen
	env.Knobs = []string{fmt.Sprintf("population (pkg/synth, %d people per generated chunk): known share %.2f, shared devices %.2f, junk %.2f, second emails %.2f, phone-only %.2f; events per person %s; merge rate %.2f; hot keys %d with %.2f of the filler; 30 days of history; seed %d + run - 1",
		o.chunk, g.KnownShare, g.SharedDeviceShare, g.JunkShare, g.SecondEmailShare, g.PhoneOnlyShare, eventsKnob(g.Events), g.MergeRate, g.HotKeys, g.HotShare, g.Seed)}
	var errs []error
	rdb := redis.NewClient(&redis.Options{Addr: cfg.Redis.Addr, Username: cfg.Redis.Username, Password: cfg.Redis.Password})
	defer rdb.Close()
	if info, err := rdb.Info(ctx, "server").Result(); err == nil {
		env.Redis = redisInfo(info)["redis_version"]
	} else {
		errs = append(errs, err)
	}
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{cfg.ClickHouse.Addr},
		Auth: clickhouse.Auth{Database: "default", Username: cfg.ClickHouse.Username, Password: cfg.ClickHouse.Password}})
	if err == nil {
		defer conn.Close()
		err = conn.QueryRow(ctx, "SELECT version()").Scan(&env.ClickHouse)
	}
	errs = append(errs, err)
	return errors.Join(errs...)
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want positive whole numbers", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseFloats(s string) ([]float64, error) {
	var out []float64
	for f := range strings.SplitSeq(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 0 || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%q: want numbers >= 0", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func eventsKnob(v float64) string {
	if v == 0 {
		return "natural (~8)"
	}
	return fmt.Sprintf("%.1f", v)
}
