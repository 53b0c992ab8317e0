package collect

import (
	"context"

	"github.com/segmentio/kafka-go"
)

// Publisher stores messages in Kafka. A *kafka.Writer from kafkaio.NewWriter
// satisfies it.
//
// WriteMessages must block until every message is acknowledged by Kafka (or
// the write failed) and must be safe for concurrent use: the collector calls
// it from every request goroutine and answers the client only after it
// returned. A nil error means every message is stored; any error means some
// may not be, and the client is asked to retry the whole request (the
// resolver deduplicates the resent messages by event_id). It should return
// when ctx ends.
type Publisher interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}
