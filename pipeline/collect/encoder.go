package collect

import (
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/tracking"
)

// Encoder turns Segment messages into cx.interactions messages exactly as
// the collector's tracking endpoints do (mapping, trait operations,
// validation, the key), without HTTP: for load generators and tools that
// write to Kafka directly (cmd/cxload -to kafka).
type Encoder struct{ in *intake }

// NewEncoder returns an encoder under the identity rules, topics and
// limits of a configuration.
func NewEncoder(rules identity.Rules, topics kafkaio.Topics, limits event.Limits) (*Encoder, error) {
	in, err := newIntake(rules, topics, limits)
	if err != nil {
		return nil, err
	}
	return &Encoder{in: in}, nil
}

// Encode maps m, sent by src and received at now, to its cx.interactions
// message, or returns why the collector would reject it (event.Errors).
func (enc *Encoder) Encode(m *tracking.Message, src tracking.Source, now time.Time) (kafka.Message, error) {
	e, err := envelope(m, src, now, enc.in.limits)
	if err != nil {
		return kafka.Message{}, err
	}
	return enc.in.admit(e, func() string { return tracking.IdentifierFields(e.Identifiers) })
}

// envelope maps a tracking message to a prepared envelope: tracking.Map,
// then the trait operations (mapTraitOps), then validation.
func envelope(m *tracking.Message, src tracking.Source, now time.Time, limits event.Limits) (*event.Event, error) {
	e, err := tracking.Map(m, src, now)
	if err != nil {
		return nil, err
	}
	ops, err := mapTraitOps(e)
	if err != nil {
		return nil, err
	}
	if err := ops.rename(tracking.Prepare(e, limits)); err != nil {
		return nil, err
	}
	return e, nil
}
