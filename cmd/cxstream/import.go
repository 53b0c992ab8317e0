package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pipeline/collect"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/mapping"
)

// importOptions are the flags of `cxstream import`.
type importOptions struct {
	tenant, mapping, format string
	dryRun                  bool
	files                   []string
}

// importFiles publishes the records of files ("-" is stdin) through a
// mapping: `cxstream import -tenant T -mapping pos receipts.csv`. Rejected
// records are listed on stderr and dead-lettered; the last line on stdout
// counts what happened, and the command fails when records were rejected.
// With -dry-run nothing is published and the envelopes are printed, one per
// line, to try a mapping out.
func importFiles(ctx context.Context, cfg pipeline.Config, o importOptions, stdout, stderr io.Writer, log *slog.Logger) error {
	if o.tenant == "" || o.mapping == "" || len(o.files) == 0 {
		return errors.New("usage: cxstream import -tenant TENANT -mapping NAME [-format json|ndjson|csv] [-dry-run] FILE... (FILE - is stdin)")
	}
	set, err := mapping.Load(cfg.Collector.MappingsDir)
	if err != nil {
		return err
	}
	m, ok := set.Get(o.mapping)
	if !ok {
		return set.Unknown(o.mapping)
	}
	var pub collect.Publisher
	if !o.dryRun {
		w := kafkaio.NewWriter(cfg.Kafka)
		defer w.Close()
		pub = w
	}
	var total collect.ImportResult
	for _, file := range o.files {
		f, err := formatOf(o.format, file)
		if err != nil {
			return err
		}
		var current string
		icfg := collect.ImportConfig{
			Mapping: m, Tenant: o.tenant, Rules: cfg.Identity, Topics: cfg.Kafka.Topics, Limits: cfg.Limits,
			MaxRecordBytes: cfg.Collector.MaxMessageBytes, DryRun: o.dryRun, Log: log,
			OnReject: func(rec mapping.Record, err error) {
				where := fmt.Sprintf("record %d", rec.Index)
				if rec.Line > 0 {
					where = fmt.Sprintf("line %d", rec.Line)
				}
				for _, fe := range fieldErrorsOf(err) {
					fmt.Fprintf(stderr, "%s: %s: %s\n", current, where, fe)
				}
			},
		}
		if o.dryRun {
			icfg.OnEvent = func(v []byte) { fmt.Fprintf(stdout, "%s\n", v) }
		}
		im, err := collect.NewImporter(icfg, pub)
		if err != nil {
			return err
		}
		current = file
		res, err := importOne(ctx, im, file, f)
		total.Records += res.Records
		total.Events += res.Events
		total.Rejected += res.Rejected
		total.Skipped += res.Skipped
		if err != nil {
			return fmt.Errorf("%w (imported so far: %d records, %d events)", err, total.Records, total.Events)
		}
	}
	verb := "import"
	if o.dryRun {
		verb = "import (dry run, nothing published)"
	}
	fmt.Fprintf(stdout, "%s: mapping=%s records=%d events=%d rejected=%d skipped=%d\n",
		verb, m.Name(), total.Records, total.Events, total.Rejected, total.Skipped)
	if total.Rejected > 0 {
		// The exit status tells scripts that records need attention; they
		// are dead-lettered (and listed above), not lost.
		where := "dead-lettered"
		if o.dryRun {
			where = "listed on stderr"
		}
		return fmt.Errorf("%d records rejected (%s)", total.Rejected, where)
	}
	return nil
}

func importOne(ctx context.Context, im *collect.Importer, file string, f mapping.Format) (collect.ImportResult, error) {
	if file == "-" {
		return im.Import(ctx, "stdin", f, os.Stdin)
	}
	r, err := os.Open(file)
	if err != nil {
		return collect.ImportResult{}, err
	}
	defer r.Close()
	return im.Import(ctx, filepath.Base(file), f, r)
}

// formatOf is the -format flag, or the file's extension.
func formatOf(flagValue, file string) (mapping.Format, error) {
	if flagValue != "" {
		return mapping.ParseFormat(flagValue)
	}
	if f, ok := mapping.FormatOfFile(file); ok {
		return f, nil
	}
	return "", fmt.Errorf("%s: cannot tell the format from the name: give -format json, ndjson or csv", file)
}

func fieldErrorsOf(err error) event.Errors {
	var fes event.Errors
	if errors.As(err, &fes) {
		return fes
	}
	return event.Errors{{Reason: err.Error()}}
}

// listMappings prints the mappings the collector and import know.
func listMappings(cfg pipeline.Config, stdout io.Writer) error {
	set, err := mapping.Load(cfg.Collector.MappingsDir)
	if err != nil {
		return err
	}
	type row struct {
		Name        string `json:"name"`
		Channel     string `json:"channel"`
		Description string `json:"description"`
		Endpoint    string `json:"endpoint"`
	}
	enc := json.NewEncoder(stdout)
	for _, name := range set.Names() {
		m, _ := set.Get(name)
		if err := enc.Encode(row{name, m.Channel(), m.Description(), "POST /v1/channels/" + name}); err != nil {
			return err
		}
	}
	return nil
}
