// Command cxstream runs the cxstream pipeline: collector, resolver, sink and
// Profile API, each alone or all in one process, plus admin verbs.
//
//	cxstream run        every stage in one process (development, the demo)
//	cxstream collector  Segment-compatible HTTP collector -> cx.interactions
//	cxstream resolver   cx.interactions -> Redis -> cx.timeline/profiles/identity
//	cxstream sink       cx.timeline, cx.identity -> ClickHouse
//	cxstream api        Profile API
//	cxstream migrate    create Kafka topics, apply ClickHouse migrations
//	cxstream import -tenant T -mapping M FILE...  publish a channel's records
//	cxstream mappings   list the channel mappings
//	cxstream profile -tenant T REF    print a profile (REF: profile id or type:value)
//	cxstream timeline -tenant T REF   print a profile's cross-channel timeline
//	cxstream stats -tenant T          print a tenant's counts
//	cxstream triggers -tenant T [-limit N]  print a tenant's triggers on cx.triggers
//	cxstream rebuild -tenant T [-check]  recompute the identity graph from ClickHouse
//	cxstream unmerge -tenant T -identifier TYPE:VALUE REF
//	                                  take an identifier out of a profile
//	cxstream forget -tenant T [-wait D] REF  erase a person everywhere, suppress their identifiers
//	cxstream export -tenant T REF     print all data held on a person
//	cxstream identifier -tenant T TYPE:VALUE  print an identifier as stored (normalised, hashed if its type is)
//
// Common flags: -config FILE (or CXSTREAM_CONFIG), -tenant for admin verbs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/telemetry"
)

const usage = `usage: cxstream <command> [flags]

commands:
  run         run every stage (collector, resolver, sink, api) in one process
  collector   run the Segment-compatible HTTP collector
  resolver    run the identity resolver
  sink        run the ClickHouse sink
  api         run the Profile API
  migrate     create the Kafka topics and apply the ClickHouse migrations
  import      publish records of files through a channel mapping (POS exports...):
              cxstream import -tenant T -mapping NAME [-format json|ndjson|csv] [-dry-run] FILE...
  mappings    list the channel mappings (built-in and collector.mappings_dir), one JSON object per line
  profile     print a profile as JSON: cxstream profile -tenant T REF
  timeline    print a profile's cross-channel timeline: cxstream timeline -tenant T [-limit N] REF
  stats       print a tenant's counts (events, profiles, merges, identifiers) as JSON
  triggers    print a tenant's triggers on cx.triggers: counts by type, then the last -limit (default 100)
  unmerge     take an identifier out of a profile for good, re-derive the split and announce it:
              cxstream unmerge -tenant T -identifier TYPE:VALUE REF
  forget      erase a person (Redis, a tombstone on cx.profiles, ClickHouse) and suppress their
              identifiers so no event brings them back: cxstream forget -tenant T [-wait 2m] REF
  export      print all data held on a person (profile, consent, events, identity history) as JSON:
              cxstream export -tenant T REF
  identifier  print an identifier as it is stored (normalised; hashed if its type is, see docs/privacy.md),
              for queries of ClickHouse: cxstream identifier -tenant T TYPE:VALUE
  rebuild     rebuild a tenant's graph from the ClickHouse log (stop resolvers first): cxstream rebuild -tenant T [-check]

flags (every command):
  -config FILE   YAML configuration (default $CXSTREAM_CONFIG); see docs/cxstream.example.yaml
environment (overrides the file): %s
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cxstream:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(stdout, usage, strings.Join(pipeline.EnvVars(), ", "))
		return nil
	}
	cmd := args[0]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", os.Getenv("CXSTREAM_CONFIG"), "YAML configuration file")
	tenant := fs.String("tenant", "", "tenant (admin verbs)")
	limit := fs.Int("limit", 100, "events (timeline) or triggers (triggers) to show")
	identifier := fs.String("identifier", "", "identifier to take out of the profile, type:value (unmerge)")
	provenance := fs.Bool("provenance", false, "show where each value came from (profile)")
	check := fs.Bool("check", false, "rebuild into a scratch key space and compare with the live graph (rebuild)")
	mappingName := fs.String("mapping", "", "channel mapping that reads the files (import)")
	format := fs.String("format", "", "format of the files: json, ndjson or csv; default: from the file name (import)")
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for the sink before deleting ClickHouse rows (forget)")
	dryRun := fs.Bool("dry-run", false, "map and validate, print the envelopes, publish nothing (import)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := pipeline.Load(*configPath, os.Getenv)
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(stderr, cfg.Telemetry)
	switch cmd {
	case "run":
		return pipeline.Run(ctx, cfg, pipeline.AllStages, log, telemetry.NewRegistry())
	case pipeline.StageCollector, pipeline.StageResolver, pipeline.StageSink, pipeline.StageAPI:
		return pipeline.Run(ctx, cfg, []string{cmd}, log, telemetry.NewRegistry())
	case "migrate":
		return migrate(ctx, cfg, stdout)
	case "import":
		return importFiles(ctx, cfg, importOptions{tenant: *tenant, mapping: *mappingName, format: *format, dryRun: *dryRun, files: fs.Args()}, stdout, stderr, log)
	case "mappings":
		return listMappings(cfg, stdout)
	case "profile", "timeline":
		if *tenant == "" || fs.NArg() != 1 {
			return fmt.Errorf("usage: cxstream %s -tenant TENANT REF (REF: profile id or type:value, e.g. email:jane@example.com)", cmd)
		}
		if cmd == "profile" {
			return printProfile(ctx, cfg, *tenant, fs.Arg(0), *provenance, stdout)
		}
		return printTimeline(ctx, cfg, *tenant, fs.Arg(0), *limit, stdout)
	case "unmerge":
		if *tenant == "" || *identifier == "" || fs.NArg() != 1 {
			return errors.New("usage: cxstream unmerge -tenant TENANT -identifier TYPE:VALUE REF (REF: profile id or type:value)")
		}
		return unmerge(ctx, cfg, *tenant, fs.Arg(0), *identifier, stdout)
	case "forget", "export":
		if *tenant == "" || fs.NArg() != 1 {
			return fmt.Errorf("usage: cxstream %s -tenant TENANT REF (REF: profile id or type:value, e.g. email:jane@example.com)", cmd)
		}
		if cmd == "forget" {
			return forget(ctx, cfg, *tenant, fs.Arg(0), *wait, stdout)
		}
		return export(ctx, cfg, *tenant, fs.Arg(0), stdout)
	case "identifier":
		if *tenant == "" || fs.NArg() != 1 {
			return errors.New("usage: cxstream identifier -tenant TENANT TYPE:VALUE (e.g. email:Jane@Example.com)")
		}
		return printIdentifier(cfg, *tenant, fs.Arg(0), stdout)
	case "rebuild":
		return rebuild(ctx, cfg, *tenant, *check, fs.Args(), stdout, log)
	case "stats":
		if *tenant == "" {
			return errors.New("usage: cxstream stats -tenant TENANT")
		}
		return printStats(ctx, cfg, *tenant, stdout)
	case "triggers":
		if *tenant == "" {
			return errors.New("usage: cxstream triggers -tenant TENANT [-limit N]")
		}
		return printTriggers(ctx, cfg, *tenant, *limit, stdout)
	}
	return fmt.Errorf("unknown command %q; run cxstream help", cmd)
}

func migrate(ctx context.Context, cfg pipeline.Config, stdout io.Writer) error {
	if err := kafkaio.EnsureTopics(ctx, cfg.Kafka); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "kafka topics ready")
	ch, err := chstore.Open(ctx, cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer ch.Close()
	applied, err := ch.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "clickhouse migrations applied: %d %v\n", len(applied), applied)
	return nil
}
