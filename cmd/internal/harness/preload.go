package harness

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

// MaxTargets bounds the identifiers kept for the latency steps.
const MaxTargets = 100_000

// Truth is what a harness keeps of a population to score the pipeline:
// whose each identifier is, and each person's purchases. It holds no
// messages, so a million people fit.
type Truth struct {
	Sent, Rejected int64
	// IDs maps each identifier that is one person's alone ("type:value")
	// to that person's index.
	IDs map[string]int
	// Junk lists identifiers that identify nobody.
	Junk []string
	// Orders and Revenue are each person's, by index.
	Orders  []int
	Revenue []map[string]float64
	// Targets are user ids of known people, for the latency steps' events.
	Targets []string
}

// Preload generates the population chunk by chunk and writes each chunk's
// messages to cx.interactions, encoded exactly as the collector would.
func Preload(ctx context.Context, cfg pipeline.Config, tenant string, gen synth.Config, chunk int) (*Truth, error) {
	w := kafkaio.NewWriter(cfg.Kafka)
	defer w.Close()
	return Generate(cfg, tenant, gen, chunk, func(msgs []kafka.Message) error {
		for len(msgs) > 0 {
			n := min(len(msgs), 5000)
			if err := w.WriteMessages(ctx, msgs[:n]...); err != nil {
				return fmt.Errorf("write to %s: %w", cfg.Kafka.Topics.Interactions, err)
			}
			msgs = msgs[n:]
		}
		return nil
	})
}

// Generate generates the population chunk by chunk and hands each chunk's
// messages, encoded exactly as the collector would, to emit. Truth.Sent
// counts the messages emit took without an error.
func Generate(cfg pipeline.Config, tenant string, gen synth.Config, chunk int, emit func([]kafka.Message) error) (*Truth, error) {
	enc, err := collect.NewEncoder(cfg.Identity, cfg.Kafka.Topics, cfg.Limits)
	if err != nil {
		return nil, err
	}
	t := &Truth{IDs: map[string]int{}, Orders: make([]int, gen.People), Revenue: make([]map[string]float64, gen.People)}
	junk := map[string]bool{}
	now := time.Now().UTC()
	write := func(pop synth.Population) error {
		for _, p := range pop.People {
			for _, id := range p.Identifiers {
				t.IDs[id] = p.Index
				if len(t.Targets) < MaxTargets && strings.HasPrefix(id, "user_id:") {
					t.Targets = append(t.Targets, strings.TrimPrefix(id, "user_id:"))
				}
			}
			t.Orders[p.Index], t.Revenue[p.Index] = p.Orders, p.Revenue
		}
		for _, id := range pop.Junk {
			junk[id] = true
		}
		msgs, rejected := encodeAll(enc, tenant, pop.Messages, now)
		t.Rejected += rejected
		if err := emit(msgs); err != nil {
			return err
		}
		t.Sent += int64(len(msgs))
		return nil
	}
	for pop := range gen.Chunks(chunk) {
		if err = write(pop); err != nil {
			break
		}
	}
	for id := range junk {
		t.Junk = append(t.Junk, id)
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
