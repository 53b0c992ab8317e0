package collect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/mapping"
)

// ImportConfig configures an Importer.
type ImportConfig struct {
	// Mapping reads the records; Tenant owns their events.
	Mapping *mapping.Mapping
	Tenant  string
	// Rules, Topics and Limits are the pipeline's, as the collector has
	// them.
	Rules  identity.Rules
	Topics kafkaio.Topics
	Limits event.Limits
	// MaxRecordBytes bounds a record (the collector's max_message_bytes).
	MaxRecordBytes int
	// BatchSize is how many messages go to Kafka in one acknowledged write.
	BatchSize int
	// DryRun maps and validates without publishing; Import then hands each
	// envelope to OnEvent.
	DryRun  bool
	OnEvent func(value []byte)
	// OnReject is told of each rejected record (for the command's output).
	OnReject func(rec mapping.Record, err error)
	Log      *slog.Logger
}

// ImportResult counts what an import did.
type ImportResult struct {
	Records  int `json:"records"`
	Events   int `json:"events"`
	Rejected int `json:"rejected"`
	Skipped  int `json:"skipped"`
}

// Importer publishes the records of files (a till system's export of
// receipts) through a mapping, as the channel endpoints do for HTTP:
// accepted records' events go to the interactions topic, rejected records
// to the dead-letter topic with their position in the file, so that
// nothing read is lost.
type Importer struct {
	cfg ImportConfig
	in  *intake
	pub Publisher
	now func() time.Time
}

// NewImporter checks the configuration; pub may be nil for a dry run.
func NewImporter(cfg ImportConfig, pub Publisher) (*Importer, error) {
	var errs []error
	if cfg.Mapping == nil {
		errs = append(errs, errors.New("import: a mapping is required"))
	}
	if !event.ValidTenant(cfg.Tenant) {
		errs = append(errs, fmt.Errorf("import: tenant %q: %s", cfg.Tenant, event.TenantRule))
	}
	if pub == nil && !cfg.DryRun {
		errs = append(errs, errors.New("import: a publisher is required"))
	}
	if cfg.MaxRecordBytes <= 0 {
		cfg.MaxRecordBytes = Default().MaxMessageBytes
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	in, err := newIntake(cfg.Rules, cfg.Topics, cfg.Limits)
	if err != nil {
		errs = append(errs, fmt.Errorf("import %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Importer{cfg: cfg, in: in, pub: pub, now: time.Now}, nil
}

// Import reads one input in format f; source names it in dead letters
// (the file name). It returns after every message was acknowledged by
// Kafka. An error means the import stopped: the result says how far it
// got, and records from the last unacknowledged write may or may not be
// stored (importing the input again is safe: event ids are stable, and
// the resolver deduplicates).
func (im *Importer) Import(ctx context.Context, source string, f mapping.Format, r io.Reader) (ImportResult, error) {
	var (
		res   ImportResult
		batch []kafka.Message
		m     = im.cfg.Mapping
	)
	flush := func() error {
		if len(batch) == 0 || im.cfg.DryRun {
			batch = batch[:0]
			return nil
		}
		if err := im.pub.WriteMessages(ctx, batch...); err != nil {
			return fmt.Errorf("publish %d messages: %w", len(batch), err)
		}
		batch = batch[:0]
		return nil
	}
	reject := func(rec mapping.Record, err error) {
		res.Rejected++
		if im.cfg.OnReject != nil {
			im.cfg.OnReject(rec, err)
		}
		h := append(recordHeaders(m, rec),
			kafka.Header{Key: headerSource, Value: []byte(source)}, kafka.Header{Key: headerChannel, Value: []byte(m.Channel())})
		batch = append(batch, im.in.deadLetter(rec.Raw, im.cfg.MaxRecordBytes, err, "import", im.cfg.Tenant, im.now().UTC(), h...))
	}
	for rec, err := range m.Read(f, r, im.cfg.MaxRecordBytes) {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		var ie *mapping.InputError
		if errors.As(err, &ie) {
			// Records read so far stay published; the rest of the input is
			// not readable, which the caller must see.
			if ferr := flush(); ferr != nil {
				return res, ferr
			}
			return res, fmt.Errorf("%s: %w", source, err)
		}
		res.Records++
		var msgs []kafka.Message
		if err == nil {
			msgs, err = im.in.record(m, rec, im.cfg.Tenant, im.now().UTC())
		}
		switch {
		case err != nil:
			reject(rec, err)
		case len(msgs) == 0:
			res.Skipped++
		default:
			res.Events += len(msgs)
			for _, msg := range msgs {
				if im.cfg.OnEvent != nil {
					im.cfg.OnEvent(msg.Value)
				}
			}
			batch = append(batch, msgs...)
		}
		if len(batch) >= im.cfg.BatchSize {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	return res, flush()
}
