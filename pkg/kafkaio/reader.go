package kafkaio

import (
	"context"
	"errors"
	"time"

	"github.com/segmentio/kafka-go"
)

// NewReader returns a consumer-group reader of topic. Offsets are committed
// only by explicit CommitMessages calls (CommitInterval 0 with FetchMessage),
// after the batch's effects are durable; a new group starts at the earliest
// offset so that nothing produced before the first start is skipped.
func NewReader(cfg Config, group, topic string) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:        cfg.Brokers,
		GroupID:        group,
		Dialer:         cfg.dialer(),
		Topic:          topic,
		MinBytes:       1,
		MaxBytes:       16 << 20,
		MaxWait:        cfg.MaxWait,
		StartOffset:    kafka.FirstOffset,
		QueueCapacity:  1000,
		ReadBackoffMin: 10 * time.Millisecond,
		ReadBackoffMax: 500 * time.Millisecond,
	})
}

// FetchBatch blocks until one message is available, then keeps fetching until
// it has max messages or wait has passed since the first one. It returns what
// it has when ctx ends after the first message; with nothing fetched it
// returns ctx's error. Messages not returned stay queued in the reader.
func FetchBatch(ctx context.Context, r *kafka.Reader, max int, wait time.Duration) ([]kafka.Message, error) {
	return FetchBatchUntilIdle(ctx, r, max, wait, 0)
}

// FetchBatchUntilIdle is FetchBatch that also ends the batch when no message
// arrives for idle (0: never). A consumer that wants large batches under
// load (a long wait) then still hands over the tail of a burst promptly.
func FetchBatchUntilIdle(ctx context.Context, r *kafka.Reader, max int, wait, idle time.Duration) ([]kafka.Message, error) {
	first, err := r.FetchMessage(ctx)
	if err != nil {
		return nil, err
	}
	batch := append(make([]kafka.Message, 0, min(max, 1024)), first)
	deadline, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	fetch := deadline
	var idleTimer *time.Timer
	if idle > 0 {
		// One timer per batch, pushed back by each message: it ends the
		// batch by cancelling the fetch once the stream pauses for idle.
		var stop context.CancelFunc
		fetch, stop = context.WithCancel(deadline)
		defer stop()
		idleTimer = time.AfterFunc(idle, stop)
		defer idleTimer.Stop()
	}
	for len(batch) < max {
		m, err := r.FetchMessage(fetch)
		if err != nil {
			return endBatch(batch, err)
		}
		batch = append(batch, m)
		if idleTimer != nil {
			idleTimer.Reset(idle)
		}
	}
	return batch, nil
}

// endBatch ends a batch on a fetch error: a deadline or cancellation (the
// wait, the idle gap, or ctx) just ends it; another error is returned with
// what was fetched.
func endBatch(batch []kafka.Message, err error) ([]kafka.Message, error) {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return batch, nil
	}
	return batch, err
}
