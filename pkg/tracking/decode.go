package tracking

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/cxstream/cxstream/pkg/event"
)

// DecodeMessage parses the body of a single tracking call (or one item of a
// batch). Unknown fields are ignored, as Segment does. Errors are
// event.Errors naming the field that had the wrong JSON type.
func DecodeMessage(b []byte) (*Message, error) {
	if err := checkObject(b, "message"); err != nil {
		return nil, err
	}
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, jsonError(err)
	}
	return &m, nil
}

// DecodeBatch parses the body of a /v1/batch call. It checks the batch-level
// fields (the batch array, writeKey, sentAt, context) but not the items:
// decode each with Item, so that one bad item (invalid UTF-8 too) does not
// take the others with it.
func DecodeBatch(b []byte) (*Batch, error) {
	if !isObject(b) {
		return nil, event.Errors{{Reason: "batch body must be a JSON object"}}
	}
	var bt Batch
	if err := json.Unmarshal(b, &bt); err != nil {
		return nil, jsonError(err)
	}
	var errs event.Errors
	badSentAt := false
	if !utf8.Valid(b) {
		// encoding/json keeps an item's bytes as they are (json.RawMessage)
		// but replaces invalid UTF-8 in a string with U+FFFD: check the
		// batch-level fields that are used.
		for _, p := range event.FindBadUTF8(b) {
			for _, field := range []string{"writeKey", "sentAt", "context"} {
				if strings.EqualFold(p.Key, field) {
					fe := p.FieldError("batch body")
					fe.Field = field
					errs = append(errs, fe)
					badSentAt = badSentAt || field == "sentAt"
				}
			}
		}
	}
	if bt.Items == nil {
		errs = append(errs, event.FieldError{Field: "batch", Reason: "required: an array of messages"})
	}
	if bt.SentAt != "" && !badSentAt {
		if _, err := parseTime(bt.SentAt); err != nil {
			errs = append(errs, event.FieldError{Field: "sentAt", Reason: err.Error()})
		}
	}
	if !isNull(bt.Context) && !isObject(bt.Context) {
		errs = append(errs, event.FieldError{Field: "context", Reason: "must be a JSON object"})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &bt, nil
}

// Item decodes the i-th message of the batch and gives it the batch's sentAt
// when it has none, and the batch's context with the item's own context keys
// laid over it (a shallow merge: the item's "device" replaces the batch's
// "device" whole).
func (b *Batch) Item(i int) (*Message, error) {
	if i < 0 || i >= len(b.Items) {
		return nil, fmt.Errorf("batch item %d of %d: out of range", i, len(b.Items))
	}
	m, err := DecodeMessage(b.Items[i])
	if err != nil {
		return nil, err
	}
	if m.SentAt == "" {
		m.SentAt = b.SentAt
	}
	ctx, err := mergeContext(b.Context, m.Context)
	if err != nil {
		return nil, err
	}
	m.Context = ctx
	return m, nil
}

// BodyWriteKey returns the writeKey field of a message or batch body, or ""
// when there is none or the body is not a JSON object. It is for
// authenticating a request whose body failed to decode, so that the body can
// still be dead-lettered under the right tenant.
func BodyWriteKey(b []byte) string {
	var k struct {
		WriteKey string `json:"writeKey"`
	}
	if json.Unmarshal(b, &k) != nil {
		return ""
	}
	return k.WriteKey
}

func mergeContext(batch, item json.RawMessage) (json.RawMessage, error) {
	switch {
	case isNull(batch):
		return item, nil
	case isNull(item):
		return batch, nil
	}
	var base, over map[string]json.RawMessage
	if err := json.Unmarshal(batch, &base); err != nil {
		return nil, event.Errors{{Field: "context", Reason: "batch context must be a JSON object"}}
	}
	if err := json.Unmarshal(item, &over); err != nil {
		return nil, event.Errors{{Field: "context", Reason: "must be a JSON object"}}
	}
	for k, v := range over {
		base[k] = v
	}
	merged, err := json.Marshal(base)
	if err != nil {
		return nil, fmt.Errorf("encode merged context: %w", err)
	}
	return merged, nil
}

func checkObject(b []byte, what string) error {
	if !utf8.Valid(b) {
		return event.Errors{event.FindBadUTF8(b)[0].FieldError(what)}
	}
	if !isObject(b) {
		return event.Errors{{Reason: what + " must be a JSON object"}}
	}
	return nil
}

// jsonError turns an encoding/json error into field errors named by their
// JSON path in Segment's names ("context.device").
func jsonError(err error) error { return event.JSONErrors(err) }

// isNull reports whether raw is absent or JSON null.
func isNull(raw []byte) bool {
	s := trimSpace(raw)
	return len(s) == 0 || string(s) == "null"
}

func isObject(raw []byte) bool {
	s := trimSpace(raw)
	return len(s) > 0 && s[0] == '{'
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
