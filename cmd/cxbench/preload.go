package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pipeline/collect"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/synth"
	"github.com/cxstream/cxstream/pkg/tracking"
)

// maxTargets bounds the identifiers kept for the latency steps.
const maxTargets = 100_000

// truth is what the bench keeps of a population to score the pipeline:
// whose each identifier is, and each person's purchases. It holds no
// messages, so a million people fit.
type truth struct {
	sent, rejected int64
	// ids maps each identifier that is one person's alone ("type:value")
	// to that person's index.
	ids map[string]int
	// junk lists identifiers that identify nobody.
	junk []string
	// orders and revenue are each person's, by index.
	orders  []int
	revenue []map[string]float64
	// targets are user ids of known people, for the latency steps' events.
	targets []string
}

// preload generates the population chunk by chunk and writes each chunk's
// messages to cx.interactions, encoded exactly as the collector would.
func preload(ctx context.Context, cfg pipeline.Config, tenant string, gen synth.Config, chunk int) (*truth, error) {
	enc, err := collect.NewEncoder(cfg.Identity, cfg.Kafka.Topics, cfg.Limits)
	if err != nil {
		return nil, err
	}
	w := kafkaio.NewWriter(cfg.Kafka)
	defer w.Close()
	t := &truth{ids: map[string]int{}, orders: make([]int, gen.People), revenue: make([]map[string]float64, gen.People)}
	junk := map[string]bool{}
	now := time.Now().UTC()
	write := func(pop synth.Population) error {
		for _, p := range pop.People {
			for _, id := range p.Identifiers {
				t.ids[id] = p.Index
				if len(t.targets) < maxTargets && strings.HasPrefix(id, "user_id:") {
					t.targets = append(t.targets, strings.TrimPrefix(id, "user_id:"))
				}
			}
			t.orders[p.Index], t.revenue[p.Index] = p.Orders, p.Revenue
		}
		for _, id := range pop.Junk {
			junk[id] = true
		}
		msgs, rejected := encodeAll(enc, tenant, pop.Messages, now)
		t.rejected += rejected
		for len(msgs) > 0 {
			n := min(len(msgs), 5000)
			if err := w.WriteMessages(ctx, msgs[:n]...); err != nil {
				return fmt.Errorf("write to %s: %w", cfg.Kafka.Topics.Interactions, err)
			}
			t.sent += int64(n)
			msgs = msgs[n:]
		}
		return nil
	}
	for pop := range gen.Chunks(chunk) {
		if err = write(pop); err != nil {
			break
		}
	}
	for id := range junk {
		t.junk = append(t.junk, id)
	}
	return t, err
}

// encodeAll encodes messages as the collector would, on every core; it
// returns the encoded ones in order and how many the collector would have
// refused.
func encodeAll(enc *collect.Encoder, tenant string, ms []synth.Message, now time.Time) ([]kafka.Message, int64) {
	out := make([]kafka.Message, len(ms))
	ok := make([]bool, len(ms))
	workers := runtime.GOMAXPROCS(0)
	var g errgroup.Group
	for w := range workers {
		g.Go(func() error {
			for i := w; i < len(ms); i += workers {
				tm, err := tracking.DecodeMessage(ms[i].JSON())
				if err != nil {
					continue
				}
				if out[i], err = enc.Encode(tm, tracking.Source{Tenant: tenant, Channel: ms[i].Channel}, now); err == nil {
					ok[i] = true
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	kept := out[:0]
	var rejected int64
	for i, m := range out {
		if ok[i] {
			kept = append(kept, m)
		} else {
			rejected++
		}
	}
	return kept, rejected
}
