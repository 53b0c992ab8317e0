// Command cxchaos is cxstream's fault suite. It plays a synthetic
// population (pkg/synth) through real `cxstream resolver` and `cxstream
// sink` processes on real Kafka, Redis and ClickHouse while it injects one
// fault per scenario, then checks what the pipeline kept against the
// population's ground truth:
//
//   - every event sent is in ClickHouse and nothing else is: its distinct
//     event ids (what every query counts, deduplicating by event id) equal
//     the events sent; copies of redelivered batches are counted apart;
//   - every identifier is in the profile of its person and no one else's
//     (pairwise precision and recall 1.0);
//   - every profile's order count and lifetime value equal the sum of its
//     people's purchases (nothing folded twice or missed).
//
// The faults:
//
//	kill-resolver       SIGKILL the resolver mid-batch, several times; restart it
//	kill-sink           SIGKILL the sink while ClickHouse runs its insert, several times; restart it
//	race-kill           two resolvers share the partitions; SIGKILL one for good
//	restart-redis       restart Redis (AOF on) under load
//	restart-clickhouse  restart ClickHouse under load
//	restart-kafka       restart the Kafka broker under load
//	redis-loss          after the load, flush Redis and run `cxstream rebuild`:
//	                    the rebuilt identities and profiles must equal those before
//
// The restart faults run the commands given by -restart-redis,
// -restart-clickhouse and -restart-kafka (scripts/chaos.sh passes
// `scripts/services.sh restart NAME`); a fault without its command is
// skipped and reported so. The harness is the pipeline's supervisor: a
// process that exits by itself is restarted and counted, and fails the
// scenario (a process must ride out a dependency's outage).
//
// It writes a report (-out, docs/RELIABILITY.md from scripts/chaos.sh) and
// exits non-zero if any scenario lost, duplicated or misattributed anything.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/cxstream/cxstream/pkg/synth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cxchaos:", err)
		os.Exit(1)
	}
}

// options are the suite's settings.
type options struct {
	cxstream, config, tenant, workDir string
	database                          string
	redisDB, telemetryBase            int
	gen                               synth.Config
	rate                              float64       // events/s the load writes
	kills                             int           // how often a kill fault kills
	timeout                           time.Duration // longest a scenario may take
	restart                           map[string]string
	log                               io.Writer
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("cxchaos", flag.ContinueOnError)
	var (
		o          options
		faultList  string
		out, label string
		seed       uint64
	)
	o.restart = map[string]string{}
	fs.StringVar(&o.config, "config", "docs/cxstream.example.yaml", "the pipeline's configuration; each scenario gets its own topics, groups and databases")
	fs.StringVar(&o.cxstream, "cxstream", "cxstream", "the cxstream binary the resolver and sink run from")
	fs.StringVar(&o.tenant, "tenant", "chaos", "tenant of the population")
	fs.StringVar(&o.workDir, "work", "", "directory for the scenarios' configurations and process logs (default: a new temporary one)")
	fs.IntVar(&o.gen.People, "people", 2000, "people per scenario (about 8 events each)")
	fs.Float64Var(&o.rate, "rate", 1000, "events/s the load writes to cx.interactions")
	fs.IntVar(&o.kills, "kills", 3, "how many times a kill fault kills its process")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "longest a scenario may take before it fails")
	fs.StringVar(&faultList, "faults", strings.Join(faultNames(), ","), "the faults to inject, comma-separated")
	restarts := map[string]*string{}
	for _, svc := range services {
		restarts[svc] = fs.String("restart-"+svc, "", "shell command that restarts "+svc+" (run with sh -c)")
	}
	fs.IntVar(&o.redisDB, "redis-db", 5, "Redis database of the scenarios (flushed before each)")
	fs.StringVar(&o.database, "clickhouse-database", "cxchaos", "ClickHouse database of the scenarios (dropped before each)")
	fs.IntVar(&o.telemetryBase, "telemetry-port", 19481, "first /metrics port of the pipeline's processes (three are used)")
	fs.Uint64Var(&seed, "seed", 1, "population seed")
	fs.StringVar(&out, "out", "", "the report to write (Markdown); none if empty")
	fs.StringVar(&label, "label", "", "how the report names this run (scripts/chaos.sh: the mode)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	faults, err := parseFaults(faultList)
	if err != nil {
		return err
	}
	if o.gen.People < 10 || o.rate <= 0 || o.kills < 1 || o.timeout <= 0 {
		return errors.New("-people must be at least 10; -rate, -kills and -timeout must be positive")
	}
	people := o.gen.People
	o.gen = synth.Default()
	o.gen.People, o.gen.Seed = people, seed
	o.gen.Span = 30 * 24 * time.Hour
	o.gen.Start = time.Now().UTC().Add(-o.gen.Span)
	if err := o.gen.Validate(); err != nil {
		return fmt.Errorf("population: %w", err)
	}
	if o.workDir == "" {
		if o.workDir, err = os.MkdirTemp("", "cxchaos-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(o.workDir, 0o755); err != nil {
		return err
	}
	for svc, cmd := range restarts {
		if *cmd != "" {
			o.restart[svc] = *cmd
		}
	}
	o.log = stderr

	began := time.Now()
	var results []result
	failed := 0
	for _, f := range faults {
		if f.service != "" && o.restart[f.service] == "" {
			results = append(results, result{Fault: f.name, Skipped: "no -restart-" + f.service + " command"})
			fmt.Fprintf(stderr, "cxchaos: %s: skipped (no -restart-%s command)\n", f.name, f.service)
			continue
		}
		res, err := runScenario(ctx, o, f)
		if err != nil {
			res.Error = err.Error()
		}
		if !res.Passed() {
			failed++
		}
		results = append(results, res)
		fmt.Fprintf(stderr, "cxchaos: %s\n", res.Line())
		if ctx.Err() != nil {
			break
		}
	}
	if out != "" {
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		env := environment{Date: began.UTC().Format("2006-01-02 15:04 UTC"), Label: label, People: o.gen.People,
			Rate: o.rate, Kills: o.kills, Seed: seed, WallClock: time.Since(began)}
		if err := os.WriteFile(out, []byte(report(env, results)), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "cxchaos: wrote %s\n", out)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d scenarios failed", failed, len(results))
	}
	return nil
}

// parseFaults reads a comma-separated list of fault names.
func parseFaults(list string) ([]fault, error) {
	var out []fault
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		i := slices.IndexFunc(allFaults, func(f fault) bool { return f.name == name })
		if i < 0 {
			return nil, fmt.Errorf("-faults: unknown fault %q (known: %s)", name, strings.Join(faultNames(), ", "))
		}
		out = append(out, allFaults[i])
	}
	if len(out) == 0 {
		return nil, errors.New("-faults: no fault given")
	}
	return out, nil
}

// services are the backing services a fault may restart.
var services = []string{"redis", "clickhouse", "kafka"}

func faultNames() []string {
	names := make([]string, len(allFaults))
	for i, f := range allFaults {
		names[i] = f.name
	}
	return names
}
