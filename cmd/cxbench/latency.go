package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pipeline/collect"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/tracking"
)

// latencyStep is the outcome of one fixed input rate.
type latencyStep struct {
	Offered  float64 // events/s asked for
	Achieved float64 // events/s the bench wrote
	Sent     int
	Seen     int // whose timeline record arrived within the step and its grace
	Unseen   int
	// Percentiles of event time -> the event's record on cx.timeline, read
	// by the bench, in milliseconds. Events not seen count as +Inf, so a
	// percentile that reaches them is +Inf: the pipeline did not keep up.
	P50, P95, P99, Max float64
	// WaitedMs is how long after its last event the step waited: the lower
	// bound of any +Inf percentile.
	WaitedMs float64
	// BacklogSec is how long after the step's grace its last events took
	// to be folded and reach ClickHouse.
	BacklogSec float64
}

// measureLatency writes events at a fixed rate for d, each stamped with the
// instant it is due (so a writer that falls behind shows as latency, not as
// a lower rate: no coordinated omission), and reads cx.timeline, where the
// resolver publishes an event after it is folded into its profile, in the
// same Kafka write as the profile's update on cx.profiles. The latency of
// an event is the instant its record is read minus its event time.
func measureLatency(ctx context.Context, cfg pipeline.Config, tenant string, targets []string, rate float64, d, grace time.Duration) (latencyStep, error) {
	step := latencyStep{Offered: rate}
	if len(targets) == 0 {
		return step, errors.New("no known people to send events for")
	}
	n := int(rate * d.Seconds())
	if n < 1 {
		return step, fmt.Errorf("rate %.0f for %s sends no event", rate, d)
	}
	enc, err := collect.NewEncoder(cfg.Identity, cfg.Kafka.Topics, cfg.Limits)
	if err != nil {
		return step, err
	}
	// Encode ahead: the bench's own encoding must not eat the CPU the
	// pipeline is measured on.
	runID := fmt.Sprintf("lat-%d-%d-", time.Now().UnixNano(), int(rate))
	begin := time.Now().Add(time.Second + time.Duration(float64(n)*2*float64(time.Microsecond)))
	due := make([]time.Time, n)
	msgs := make([]kafka.Message, n)
	for i := range n {
		due[i] = begin.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		body := fmt.Sprintf(`{"type":"track","event":"Product Viewed","userId":%q,"messageId":"%s%d","timestamp":%q,"properties":{"product_id":"p-%d"}}`,
			targets[i%len(targets)], runID, i, due[i].UTC().Format(time.RFC3339Nano), i%500)
		tm, err := tracking.DecodeMessage([]byte(body))
		if err != nil {
			return step, fmt.Errorf("latency event: %w", err)
		}
		if msgs[i], err = enc.Encode(tm, tracking.Source{Tenant: tenant, Channel: "web"}, due[i]); err != nil {
			return step, fmt.Errorf("latency event: %w", err)
		}
	}
	if time.Now().After(begin) {
		begin = time.Now() // encoding took longer than planned: the schedule starts late, evenly
		for i := range due {
			due[i] = begin.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		}
	}

	// Read cx.timeline from its current end on every partition.
	rctx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	var (
		mu        sync.Mutex
		latencies = make([]float64, 0, n)
		rerr      error
		wg        sync.WaitGroup
	)
	for p := range cfg.Kafka.Partitions {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Kafka.Brokers, Topic: cfg.Kafka.Topics.Timeline, Partition: p,
			MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 20 * time.Millisecond})
		if err := r.SetOffset(kafka.LastOffset); err != nil {
			r.Close()
			return step, err
		}
		wg.Add(1)
		go func() { // exits when rctx ends
			defer wg.Done()
			defer r.Close()
			for {
				m, err := r.ReadMessage(rctx)
				if err != nil {
					if rctx.Err() == nil {
						mu.Lock()
						rerr = err
						mu.Unlock()
					}
					return
				}
				seen := time.Now()
				if !strings.Contains(string(m.Value), runID) {
					continue
				}
				var rec struct {
					EventID   string    `json:"event_id"`
					EventTime time.Time `json:"event_time"`
				}
				if json.Unmarshal(m.Value, &rec) != nil || !strings.HasPrefix(rec.EventID, runID) {
					continue
				}
				mu.Lock()
				latencies = append(latencies, float64(seen.Sub(rec.EventTime))/float64(time.Millisecond))
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Until(begin)) // the readers are at the end before the first event

	// Write on schedule: every few milliseconds, whatever is due.
	w := kafkaio.NewWriter(cfg.Kafka)
	defer w.Close()
	next := 0
	for next < n {
		if err := ctx.Err(); err != nil {
			return step, err
		}
		upto := next
		now := time.Now()
		for upto < n && !due[upto].After(now) {
			upto++
		}
		if upto == next {
			time.Sleep(min(time.Until(due[next]), 5*time.Millisecond))
			continue
		}
		if err := w.WriteMessages(ctx, msgs[next:upto]...); err != nil {
			return step, fmt.Errorf("write to %s: %w", cfg.Kafka.Topics.Interactions, err)
		}
		next = upto
	}
	last := time.Now()
	step.Sent = n
	step.Achieved = float64(n) / last.Sub(begin).Seconds()

	// Wait for the step's events, at most grace after the last was due.
	deadline := due[n-1].Add(grace)
	for {
		mu.Lock()
		seen, err := len(latencies), rerr
		mu.Unlock()
		if err != nil {
			return step, fmt.Errorf("read %s: %w", cfg.Kafka.Topics.Timeline, err)
		}
		if seen >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopReading()
	wg.Wait()
	step.WaitedMs = float64(time.Since(due[n-1])) / float64(time.Millisecond)
	step.Seen = min(len(latencies), n)
	step.Unseen = n - step.Seen
	all := append(latencies[:step.Seen:step.Seen], slices.Repeat([]float64{math.Inf(1)}, step.Unseen)...)
	slices.Sort(all)
	step.P50, step.P95, step.P99, step.Max = percentile(all, 0.50), percentile(all, 0.95), percentile(all, 0.99), all[len(all)-1]
	return step, nil
}

// percentile returns the q-quantile of sorted values (nearest rank).
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
