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

// kafkaSink writes populations' messages to cx.interactions directly, each
// encoded exactly as the collector would (collect.Encoder), so the pipeline
// sees the same envelopes without the HTTP hop: the fast way to preload a
// backlog.
type kafkaSink struct {
	enc    *collect.Encoder
	w      *kafka.Writer
	topic  string
	tenant string
	msgs   []kafka.Message
}

// newKafkaSink makes sure the topics exist and opens a writer.
func newKafkaSink(ctx context.Context, cfg pipeline.Config, tenant string) (*kafkaSink, error) {
	enc, err := collect.NewEncoder(cfg.Identity, cfg.Kafka.Topics, cfg.Limits)
	if err != nil {
		return nil, err
	}
	if err := kafkaio.EnsureTopics(ctx, cfg.Kafka); err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return &kafkaSink{enc: enc, w: kafkaio.NewWriter(cfg.Kafka), topic: cfg.Kafka.Topics.Interactions, tenant: tenant,
		msgs: make([]kafka.Message, 0, kafkaChunk)}, nil
}

func (k *kafkaSink) Close() error { return k.w.Close() }

// send writes the population's messages in order and returns how many were
// written and how many the collector would have rejected or could not be
// written.
func (k *kafkaSink) send(ctx context.Context, pop synth.Population) (sent, failed int64, err error) {
	k.msgs = k.msgs[:0]
	flush := func() error {
		if len(k.msgs) == 0 {
			return nil
		}
		if err := k.w.WriteMessages(ctx, k.msgs...); err != nil {
			failed += int64(len(k.msgs))
			return fmt.Errorf("write to %s: %w", k.topic, err)
		}
		sent += int64(len(k.msgs))
		k.msgs = k.msgs[:0]
		return nil
	}
	for _, m := range pop.Messages {
		tm, err := tracking.DecodeMessage(m.JSON())
		if err == nil {
			var km kafka.Message
			if km, err = k.enc.Encode(tm, tracking.Source{Tenant: k.tenant, Channel: m.Channel}, time.Now().UTC()); err == nil {
				k.msgs = append(k.msgs, km)
			}
		}
		if err != nil {
			failed++
			continue
		}
		if len(k.msgs) == kafkaChunk {
			if err := flush(); err != nil {
				return sent, failed, err
			}
		}
	}
	return sent, failed, flush()
}
