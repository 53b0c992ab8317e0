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
	for len(batch) < max {
		fctx, fcancel := deadline, context.CancelFunc(func() {})
		if idle > 0 {
			fctx, fcancel = context.WithTimeout(deadline, idle)
		}
		m, err := r.FetchMessage(fctx)
		fcancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return batch, nil
			}
			return batch, err
		}
		batch = append(batch, m)
	}
	return batch, nil
}
