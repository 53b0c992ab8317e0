package collect

import (
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/tracking"
)

// Dead-letter headers the collector adds to those of kafkaio.DeadLetter, so
// that a dead letter can be replayed: a single-message body has no type of
// its own (the endpoint gives it), and the channel comes from the write key,
// which is not kept.
const (
	headerEndpoint = "cx-endpoint"
	headerChannel  = "cx-channel"
	headerIndex    = "cx-batch-index"
)

// request is what one HTTP request produced: the messages to publish in one
// call (envelopes and dead letters) and the answer's details.
type request struct {
	endpoint string
	typ      event.Type // forced by the endpoint; "" for a batch or channel records
	// batch marks a tracking-API batch, whose rejected items carry their
	// index in the cx-batch-index header.
	batch bool
	src   tracking.Source
	now   time.Time

	msgs     []kafka.Message
	errs     []itemError
	accepted int
	rejected int
	// batchErr is set when a batch body as a whole was rejected.
	batchErr error
}

// handleBatch maps every item of a batch. Invalid items do not stop the
// others: analytics.js and most Segment libraries drop a whole batch on a
// 4xx answer, so the valid items are published (and the invalid ones
// dead-lettered) in the same publish call, and the 400 answer lists the
// invalid items by index with the count accepted. A client that retries
// anyway (analytics-go retries any non-2xx answer) resends the valid items
// with the same messageId, and the resolver deduplicates them; the invalid
// ones are dead-lettered once per attempt.
func (c *Collector) handleBatch(req *request, b *tracking.Batch) {
	req.msgs = make([]kafka.Message, 0, len(b.Items))
	for i, raw := range b.Items {
		if len(raw) > c.cfg.MaxMessageBytes {
			c.reject(req, i, raw, c.cfg.MaxMessageBytes, event.Errors{{
				Reason: fmt.Sprintf("message larger than %d bytes (max_message_bytes)", c.cfg.MaxMessageBytes),
			}})
			continue
		}
		m, err := b.Item(i)
		if err != nil {
			c.reject(req, i, raw, c.cfg.MaxMessageBytes, err)
			continue
		}
		c.handle(req, i, raw, m)
	}
}

// handle maps (tracking.Map, then the trait operations: mapTraitOps),
// validates and encodes one message and queues it for the interactions
// topic, keyed by its strongest identifier, or rejects it.
func (c *Collector) handle(req *request, index int, raw []byte, m *tracking.Message) {
	if req.typ != "" {
		m.Type = string(req.typ)
	}
	e, err := envelope(m, req.src, req.now, c.in.limits)
	var msg kafka.Message
	if err == nil {
		msg, err = c.in.admit(e, func() string { return tracking.IdentifierFields(e.Identifiers) })
	}
	if err != nil {
		c.reject(req, index, raw, c.cfg.MaxMessageBytes, err)
		return
	}
	req.msgs = append(req.msgs, msg)
	req.accepted++
}

// reject records why a message (index >= 0) or a whole batch body
// (index -1) was rejected and queues its original bytes, cut to limit, for
// the dead-letter topic. A body that is not JSON at all is dead-lettered
// too: it came with a valid write key, so it is a client's data that a
// person may want to look at.
func (c *Collector) reject(req *request, index int, raw []byte, limit int, err error, extra ...kafka.Header) {
	fes := fieldErrors(err)
	req.rejected++
	if index < 0 {
		req.batchErr = err
	} else {
		for _, fe := range fes {
			req.errs = append(req.errs, itemError{Index: index, Field: fe.Field, Reason: fe.Reason})
		}
	}
	h := append([]kafka.Header{
		{Key: headerEndpoint, Value: []byte(req.endpoint)},
		{Key: headerChannel, Value: []byte(req.src.Channel)},
	}, extra...)
	if req.batch && index >= 0 {
		h = append(h, kafka.Header{Key: headerIndex, Value: fmt.Appendf(nil, "%d", index)})
	}
	req.msgs = append(req.msgs, c.in.deadLetter(raw, limit, err, "collector", req.src.Tenant, req.now, h...))
	c.log.Debug("message rejected", "endpoint", req.endpoint, "tenant", req.src.Tenant, "index", index, "fields", fieldNames(fes))
}

// fieldNames lists the fields of errs, for logs: reasons may quote values.
func fieldNames(errs event.Errors) []string {
	names := make([]string, len(errs))
	for i, fe := range errs {
		names[i] = fe.Field
	}
	return names
}
