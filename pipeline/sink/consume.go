package sink

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/kafkaio"
)

// table is one topic-to-table flow: how to decode its messages into rows and
// insert a batch of them. decode sees the whole message (key, headers, value,
// timestamp); an error sends the message to the dead-letter topic.
type table[T any] struct {
	name   string // ClickHouse table, the metrics' label
	topic  string
	decode func(kafka.Message) (T, error)
	insert func(context.Context, []T) error
}

// messageWriter is the dead-letter writer; *kafka.Writer implements it.
type messageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// consume is one consumer loop: fetch a batch, store it, commit it, until
// ctx ends. It returns nil when ctx ended and its last batch was handled,
// and an error when fetching failed or a batch could not be stored within
// the shutdown grace; the reader is closed (leaving the group) either way.
func consume[T any](ctx context.Context, s *Sink, w messageWriter, t table[T]) (err error) {
	r := kafkaio.NewReader(s.kcfg, s.cfg.Group, t.topic)
	defer func() {
		if cerr := r.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close reader of %s: %w", t.topic, cerr)
		}
	}()
	log := s.log.With("table", t.name, "topic", t.topic)
	log.Info("sink consuming")
	backoff := time.Duration(0) // since the last successful fetch
	for ctx.Err() == nil {
		// FetchBatch returns what it has when ctx ends after the first
		// message; that batch is still stored before the loop exits.
		msgs, ferr := kafkaio.FetchBatchUntilIdle(ctx, r, s.cfg.BatchRows, s.cfg.FlushInterval, s.cfg.FlushIdle)
		if len(msgs) > 0 {
			if err := handle(ctx, s, w, r, log, t, msgs); err != nil {
				return err
			}
		}
		if ferr == nil || ctx.Err() != nil {
			backoff = 0
			continue
		}
		// The broker is away (restarting, unreachable): wait and fetch
		// again, as the resolver does; the reader reconnects.
		backoff = min(max(2*backoff, s.cfg.RetryMin), s.cfg.RetryMax)
		s.metrics.fetchErrors.WithLabelValues(t.name).Inc()
		log.Warn("sink fetch failed; retrying", "backoff", backoff.String(), "error", ferr)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
	}
	return nil
}

// handle stores one batch: dead letters first, then one insert of the
// decodable rows, then one commit of every message. Each step is retried
// until it succeeds; on shutdown it has Config.ShutdownTimeout to finish,
// and what is not committed by then is redelivered to the next consumer.
func handle[T any](ctx context.Context, s *Sink, w messageWriter, r *kafka.Reader, log *slog.Logger, t table[T], msgs []kafka.Message) error {
	op, cancel := drainContext(ctx, s.cfg.ShutdownTimeout)
	defer cancel()

	rows := make([]T, 0, len(msgs))
	var dead []kafka.Message
	now := time.Now()
	for _, m := range msgs {
		row, err := t.decode(m)
		if err != nil {
			tenant, _ := headerValue(m, kafkaio.HeaderTenant) // cx.profiles messages have one
			dead = append(dead, kafkaio.DeadLetter(s.kcfg.Topics.DeadLetter, m.Key, m.Value, err,
				kafkaio.Origin{Stage: "sink", Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Tenant: tenant}, now))
			log.Warn("sink dead-lettering message", "partition", m.Partition, "offset", m.Offset, "error", err)
			continue
		}
		rows = append(rows, row)
	}
	if len(dead) > 0 {
		if err := s.retry(op, log, "write dead letters", func(ctx context.Context) error {
			return w.WriteMessages(ctx, dead...)
		}); err != nil {
			return err
		}
		s.metrics.deadLetters.Add(float64(len(dead)))
	}
	if len(rows) > 0 {
		if err := s.retry(op, log, "insert into "+t.name, func(ctx context.Context) error {
			return insertRows(ctx, s.metrics, t, rows)
		}); err != nil {
			return err
		}
	}
	if err := s.retry(op, log, "commit offsets of "+t.topic, func(ctx context.Context) error {
		return r.CommitMessages(ctx, msgs...)
	}); err != nil {
		return err
	}
	s.metrics.commits.Inc()
	oldest := msgs[0].Time
	for _, m := range msgs[1:] {
		if m.Time.Before(oldest) {
			oldest = m.Time
		}
	}
	if !oldest.IsZero() {
		s.metrics.delay.WithLabelValues(t.name).Observe(time.Since(oldest).Seconds())
	}
	s.metrics.lagMessages.WithLabelValues(t.name).Set(float64(r.Stats().Lag))
	return nil
}

// insertRows makes one insert attempt and records its metrics.
func insertRows[T any](ctx context.Context, m *metrics, t table[T], rows []T) error {
	start := time.Now()
	err := t.insert(ctx, rows)
	m.insertDuration.WithLabelValues(t.name).Observe(time.Since(start).Seconds())
	if err != nil {
		m.insertErrors.WithLabelValues(t.name).Inc()
		return err
	}
	m.rowsInserted.WithLabelValues(t.name).Add(float64(len(rows)))
	m.rowsPerInsert.WithLabelValues(t.name).Observe(float64(len(rows)))
	return nil
}
