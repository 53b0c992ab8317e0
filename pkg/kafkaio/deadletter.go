package kafkaio

import (
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Dead-letter headers. The value of a dead letter is the original bytes,
// unchanged; the headers say why it was rejected and where it came from.
const (
	HeaderError           = "cx-error"
	HeaderStage           = "cx-stage"
	HeaderOriginTopic     = "cx-origin-topic"
	HeaderOriginPartition = "cx-origin-partition"
	HeaderOriginOffset    = "cx-origin-offset"
	HeaderTenant          = "cx-tenant"
	HeaderRejectedAt      = "cx-rejected-at"
	// HeaderVersion is on every cx.profiles message: the version of the
	// profile state it carries (of two messages of a key, the higher is the
	// newer).
	HeaderVersion = "cx-version"
)

// Origin is where a rejected message came from.
type Origin struct {
	Stage     string // collector, resolver, sink
	Topic     string // empty for HTTP input
	Partition int
	Offset    int64
	Tenant    string
}

// DeadLetter builds the cx.deadletter message for a rejected input.
func DeadLetter(topic string, key, value []byte, reason error, o Origin, now time.Time) kafka.Message {
	h := []kafka.Header{
		{Key: HeaderError, Value: []byte(reason.Error())},
		{Key: HeaderStage, Value: []byte(o.Stage)},
		{Key: HeaderRejectedAt, Value: []byte(now.UTC().Format(time.RFC3339Nano))},
	}
	if o.Topic != "" {
		h = append(h,
			kafka.Header{Key: HeaderOriginTopic, Value: []byte(o.Topic)},
			kafka.Header{Key: HeaderOriginPartition, Value: []byte(strconv.Itoa(o.Partition))},
			kafka.Header{Key: HeaderOriginOffset, Value: []byte(strconv.FormatInt(o.Offset, 10))},
		)
	}
	if o.Tenant != "" {
		h = append(h, kafka.Header{Key: HeaderTenant, Value: []byte(o.Tenant)})
	}
	return kafka.Message{Topic: topic, Key: key, Value: value, Headers: h}
}
