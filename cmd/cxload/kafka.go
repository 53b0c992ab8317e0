package main

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pipeline/collect"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/synth"
	"github.com/cxstream/cxstream/pkg/tracking"
)

// kafkaChunk is how many messages one WriteMessages call takes.
const kafkaChunk = 5000

// sendKafka writes the population's messages to cx.interactions directly,
// each encoded exactly as the collector would (collect.Encoder), so the
// pipeline sees the same envelopes without the HTTP hop: the fast way to
// preload a backlog. It returns how many were written and how many the
// collector would have rejected or could not be written.
func sendKafka(ctx context.Context, cfg pipeline.Config, tenant string, pop synth.Population) (sent, failed int64, err error) {
	enc, err := collect.NewEncoder(cfg.Identity, cfg.Kafka.Topics, cfg.Limits)
	if err != nil {
		return 0, 0, err
	}
	if err := kafkaio.EnsureTopics(ctx, cfg.Kafka); err != nil {
		return 0, 0, fmt.Errorf("kafka: %w", err)
	}
	w := kafkaio.NewWriter(cfg.Kafka)
	defer w.Close()
	msgs := make([]kafka.Message, 0, kafkaChunk)
	flush := func() error {
		if len(msgs) == 0 {
			return nil
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			failed += int64(len(msgs))
			return fmt.Errorf("write to %s: %w", cfg.Kafka.Topics.Interactions, err)
		}
		sent += int64(len(msgs))
		msgs = msgs[:0]
		return nil
	}
	for _, m := range pop.Messages {
		tm, err := tracking.DecodeMessage(m.JSON())
		if err == nil {
			var km kafka.Message
			if km, err = enc.Encode(tm, tracking.Source{Tenant: tenant, Channel: m.Channel}, time.Now().UTC()); err == nil {
				msgs = append(msgs, km)
			}
		}
		if err != nil {
			failed++
			continue
		}
		if len(msgs) == kafkaChunk {
			if err := flush(); err != nil {
				return sent, failed, err
			}
		}
	}
	return sent, failed, flush()
}
