package collect

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/mapping"
)

// Dead-letter headers of rejected channel records (HTTP channel endpoints
// and `cxstream import`), beside kafkaio's: which mapping read the record,
// where it was in its input, and, for CSV, the header line that names its
// columns, so that the record can be corrected and replayed on its own.
const (
	headerMapping     = "cx-mapping"
	headerRecordIndex = "cx-record-index"
	headerRecordLine  = "cx-record-line"
	headerCSVHeader   = "cx-csv-header"
	headerSource      = "cx-source"
	// headerTruncated is set, to the original size in bytes, on a dead
	// letter whose value was cut to the size limit.
	headerTruncated = "cx-truncated"
)

// intake is the judgement every way into the pipeline applies to an event
// before it is published: the envelope's validation under the limits and
// the identity rules' normalisation, and at least one identifier that is
// not a blocked value. The resolver applies the same (see
// pipeline/resolve), so that what the collector accepts it accepts too.
type intake struct {
	policy *identity.Policy
	topics kafkaio.Topics
	limits event.Limits
}

func newIntake(rules identity.Rules, topics kafkaio.Topics, limits event.Limits) (*intake, error) {
	policy, err := rules.Compile()
	if err != nil {
		return nil, fmt.Errorf("identity rules: %w", err)
	}
	if topics.Interactions == "" || topics.DeadLetter == "" {
		return nil, errors.New("topics: the interactions and deadletter topics are required")
	}
	limits.Normalize = policy.Normalize
	return &intake{policy: policy, topics: topics, limits: limits}, nil
}

// admit encodes a prepared event as its interactions message, keyed by its
// strongest identifier that is not a blocked value; idFields names where
// its identifiers came from, for the error when all of them are blocked
// (called only then: it allocates).
func (in *intake) admit(e *event.Event, idFields func() string) (kafka.Message, error) {
	id, ok := in.policy.Strongest(e.Identifiers)
	if !ok {
		return kafka.Message{}, event.Errors{{Field: idFields(), Reason: event.AllBlocked}}
	}
	value, err := event.Encode(e)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("encode envelope: %w", err)
	}
	return kafka.Message{Topic: in.topics.Interactions, Key: []byte(id.String()), Value: value}, nil
}

// record maps one record, prepares and admits each of its events: their
// messages, or the record's errors (a record is taken whole or not at
// all). No messages and no error: the mapping skips the record.
func (in *intake) record(m *mapping.Mapping, rec mapping.Record, tenant string, now time.Time) ([]kafka.Message, error) {
	mapped, err := m.Map(rec, tenant, now)
	if err != nil {
		return nil, err
	}
	msgs := make([]kafka.Message, 0, len(mapped))
	for _, mp := range mapped {
		if err := mp.Prepare(in.limits); err != nil {
			return nil, err
		}
		msg, err := in.admit(mp.Event, mp.IdentifierFields)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

// deadLetter builds the dead letter of a rejected input: its bytes (cut to
// limit, with cx-truncated giving the original size), the reason, the
// stage and tenant, and extra headers.
func (in *intake) deadLetter(raw []byte, limit int, err error, stage, tenant string, now time.Time, extra ...kafka.Header) kafka.Message {
	var cut []kafka.Header
	if len(raw) > limit {
		cut = []kafka.Header{{Key: headerTruncated, Value: []byte(strconv.Itoa(len(raw)))}}
		raw = raw[:limit]
	}
	dl := kafkaio.DeadLetter(in.topics.DeadLetter, nil, raw, err, kafkaio.Origin{Stage: stage, Tenant: tenant}, now)
	dl.Headers = append(dl.Headers, extra...)
	dl.Headers = append(dl.Headers, cut...)
	return dl
}

// recordHeaders are the dead-letter headers locating a channel record, and
// giving its original size when the record was cut to the size limit.
func recordHeaders(m *mapping.Mapping, rec mapping.Record) []kafka.Header {
	h := []kafka.Header{
		{Key: headerMapping, Value: []byte(m.Name())},
		{Key: headerRecordIndex, Value: []byte(strconv.Itoa(rec.Index))},
	}
	if rec.Size > len(rec.Raw) {
		h = append(h, kafka.Header{Key: headerTruncated, Value: []byte(strconv.Itoa(rec.Size))})
	}
	if rec.Line > 0 {
		h = append(h, kafka.Header{Key: headerRecordLine, Value: []byte(strconv.Itoa(rec.Line))})
	}
	if rec.Header != nil {
		h = append(h, kafka.Header{Key: headerCSVHeader, Value: rec.Header})
	}
	return h
}

// fieldErrors is err as field errors: itself, or one error without a
// field.
func fieldErrors(err error) event.Errors {
	var fes event.Errors
	if !errors.As(err, &fes) {
		fes = event.Errors{{Reason: err.Error()}}
	}
	return fes
}
