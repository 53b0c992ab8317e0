package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/kafkaio"
)

// biItem is one entry a 400 answer must list.
type biItem struct {
	index  int
	field  string // Segment field name; "" when the body is not a message at all
	reason string // a substring of the reason
}

// biDead is one dead letter a 400 answer must have published: the original
// bytes of the rejected message (or of the whole body, index -1 for a
// single-message endpoint or a batch body rejected whole).
type biDead struct {
	index int // batch index; -1: no cx-batch-index header
	value []byte
	// cut is the length the value is cut to (max_message_bytes) when the
	// original is larger; 0: kept whole.
	cut int
}

// biCase is one bad request over the HTTP API.
type biCase struct {
	name    string
	path    string
	key     string // HTTP Basic user; "" sends none
	body    []byte
	headers []string
	chunked bool // send without Content-Length

	code int
	// errContains is a substring of the answer's "error" (the setting for a
	// 413, the header for a 415, "write key" for a 401).
	errContains string
	// For a 400: the listed problems, how many messages were accepted, and
	// the dead letters.
	items    []biItem
	accepted int
	dead     []biDead
	// eventTime, when set, is the event_time the one accepted envelope must
	// have.
	eventTime time.Time
}

// Timestamps relative to testNow, when every unit-test request arrives.
var (
	biFuture2d = testNow.Add(48 * time.Hour).Format(time.RFC3339Nano)
	biFuture3d = testNow.Add(72 * time.Hour).Format(time.RFC3339Nano)
	biNow      = testNow.Format(time.RFC3339Nano)
)

// biBatch renders a batch body around the raw items, so that each item's
// bytes are known exactly (the dead letter of an item is those bytes).
func biBatch(extra string, items ...string) []byte {
	return []byte(`{` + extra + `"batch":[` + strings.Join(items, ",\n ") + `]}`)
}

// biPad is a valid track message of about n bytes.
func biPad(id string, n int) string {
	return `{"type":"track","messageId":"` + id + `","userId":"u-pad","event":"E","properties":{"pad":"` +
		strings.Repeat("x", n) + `"}}`
}

// biCases are the bad requests of TestBadInput and TestBadInputPublisherFails.
// Limits are Default()'s: 32 KiB per message, 500 KiB per batch.
func biCases(t *testing.T) []biCase {
	t.Helper()
	var (
		malformed      = []byte(`{"type":"track","messageId":"bi-1","userId":"u-1","event":`)
		array          = []byte(`[{"type":"track","messageId":"bi-2","userId":"u-1","event":"E"}]`)
		userIDObject   = []byte(`{"messageId":"bi-3","userId":{"id":"u-1"},"event":"E"}`)
		propsString    = []byte(`{"messageId":"bi-4","userId":"u-1","event":"E","properties":"revenue=10"}`)
		tsNumber       = []byte(`{"messageId":"bi-5","userId":"u-1","event":"E","timestamp":1772366400}`)
		emailNumber    = []byte(`{"messageId":"bi-6","userId":"u-1","traits":{"email":12345}}`)
		noIDs          = []byte(`{"messageId":"bi-7","event":"E","properties":{"a":1}}`)
		badUTF8        = []byte("{\"messageId\":\"bi-8\",\"userId\":\"u-\xff\xfe\",\"event\":\"E\"}")
		future         = []byte(`{"messageId":"bi-9","userId":"u-1","event":"E","timestamp":"` + biFuture2d + `","sentAt":"` + biNow + `"}`)
		futureNoSentAt = []byte(`{"messageId":"bi-10","userId":"u-1","event":"E","timestamp":"` + biFuture2d + `"}`)
		past           = []byte(`{"messageId":"bi-11","userId":"u-1","event":"E","timestamp":"2001-06-01T00:00:00Z","sentAt":"` + biNow + `"}`)
		pastNoSentAt   = []byte(`{"messageId":"bi-12","userId":"u-1","event":"E","timestamp":"2001-06-01T00:00:00Z"}`)
		skewed         = []byte(`{"messageId":"bi-13","userId":"u-1","event":"E","timestamp":"` + biFuture3d + `","sentAt":"` + biFuture3d + `"}`)
		badEmail       = []byte(`{"messageId":"bi-14","userId":"u-1","traits":{"email":"ann.example.com"}}`)
	)

	bigMessage := []byte(biPad("bi-big", 33<<10)) // > 32 KiB
	var hugeItems []string
	for i := 0; len(hugeItems)*1100 < 520<<10; i++ {
		hugeItems = append(hugeItems, biPad(fmt.Sprintf("bi-h%d", i), 1000))
	}
	hugeBatch := biBatch("", hugeItems...) // > 500 KiB, every item valid

	okItem0 := `{"type":"track","messageId":"bi-b0","userId":"u-1","event":"E"}`
	bigItem := biPad("bi-b1", 40<<10)
	okItem2 := `{"type":"identify","messageId":"bi-b2","anonymousId":"a-2","traits":{"email":"b@example.com"}}`
	wrongItem := `{"type":"track","messageId":"bi-c1","userId":"u-1","event":"E","properties":"x"}`
	noIDItem := `{"type":"page","messageId":"bi-c2","name":"Home"}`
	futureItem := `{"type":"track","messageId":"bi-c3","userId":"u-1","event":"E","timestamp":"` + biFuture2d + `"}`
	badUTF8Item := "{\"type\":\"track\",\"messageId\":\"bi-u1\",\"userId\":\"u-\xff\",\"event\":\"E\"}"
	malformedBatch := []byte(`{"batch":[` + okItem0 + `,{"type":`)

	bomb := gzipBytes(t, bytes.Repeat([]byte(" "), 4<<20))
	if len(bomb) > 32<<10 {
		t.Fatalf("gzip bomb is %d bytes compressed; it should be far smaller than the limit", len(bomb))
	}

	single := func(name, path string, body []byte, field, reason string) biCase {
		return biCase{
			name: name, path: path, key: "wk-web", body: body, code: 400,
			items: []biItem{{0, field, reason}},
			dead:  []biDead{{index: -1, value: body}},
		}
	}
	return []biCase{
		single("malformed JSON", "/v1/track", malformed, "", "malformed JSON"),
		single("JSON array on /v1/track", "/v1/track", array, "", "must be a JSON object"),
		single("userId is an object", "/v1/track", userIDObject, "userId", "must be a string or a number, got JSON object"),
		single("properties is a string", "/v1/track", propsString, "properties", "must be a JSON object"),
		single("timestamp is a number", "/v1/track", tsNumber, "timestamp", "must be a string, got JSON number"),
		single("traits.email is a number", "/v1/identify", emailNumber, "traits.email", "email must look like local@domain"),
		single("no identifiers", "/v1/track", noIDs, "userId", "userId or anonymousId is required"),
		// The answer names the field and the byte offset of the first
		// invalid byte.
		single("invalid UTF-8 in userId", "/v1/track", badUTF8, "userId", "not valid UTF-8 at byte 32 of the message"),
		// The client's clock is right (sentAt is now), so its timestamp
		// really is two days ahead.
		single("timestamp 2 days ahead, client clock right", "/v1/track", future, "timestamp", "after received_at"),
		single("timestamp 2 days ahead without sentAt", "/v1/track", futureNoSentAt, "timestamp", "after received_at"),
		single("timestamp in 2001, client clock right", "/v1/track", past, "timestamp", "before received_at"),
		single("timestamp in 2001 without sentAt", "/v1/track", pastNoSentAt, "timestamp", "before received_at"),
		single("invalid traits.email", "/v1/identify", badEmail, "traits.email", "email must look like local@domain"),
		// timestamp and sentAt equally far ahead: the client's clock is
		// fast by that much, and Segment's skew correction
		// (timestamp + receivedAt - sentAt) brings the event to now.
		{
			name: "timestamp 3 days ahead corrected by sentAt skew", path: "/v1/track", key: "wk-web", body: skewed,
			code: 200, accepted: 1, eventTime: testNow,
		},
		{
			name: "message over 32 KiB", path: "/v1/track", key: "wk-web", body: bigMessage,
			code: 413, errContains: "max_message_bytes",
		},
		{
			name: "message over 32 KiB without Content-Length", path: "/v1/track", key: "wk-web", body: bigMessage, chunked: true,
			code: 413, errContains: "max_message_bytes",
		},
		{
			name: "batch over 500 KiB", path: "/v1/batch", key: "wk-web", body: hugeBatch,
			code: 413, errContains: "max_batch_bytes",
		},
		{
			name: "batch over 500 KiB without Content-Length", path: "/v1/batch", key: "wk-web", body: hugeBatch, chunked: true,
			code: 413, errContains: "max_batch_bytes",
		},
		{
			name: "one item over 32 KiB in a batch", path: "/v1/batch", key: "wk-web",
			body: biBatch(`"sentAt":"`+biNow+`",`, okItem0, bigItem, okItem2),
			code: 400, accepted: 2,
			items: []biItem{{1, "", "max_message_bytes"}},
			dead:  []biDead{{index: 1, value: []byte(bigItem), cut: 32 << 10}},
		},
		{
			name: "partial batch", path: "/v1/import", key: "wk-web",
			body: biBatch("", okItem0, wrongItem, okItem2, noIDItem, futureItem),
			code: 400, accepted: 2,
			items: []biItem{{1, "properties", "must be a JSON object"}, {3, "userId", "is required"}, {4, "timestamp", "after received_at"}},
			dead: []biDead{
				{index: 1, value: []byte(wrongItem)},
				{index: 3, value: []byte(noIDItem)},
				{index: 4, value: []byte(futureItem)},
			},
		},
		{
			// Invalid UTF-8 in one item rejects that item, not the batch:
			// the offset is the item's own.
			name: "invalid UTF-8 in one batch item", path: "/v1/batch", key: "wk-web",
			body: biBatch(`"sentAt":"`+biNow+`",`, okItem0, badUTF8Item, okItem2),
			code: 400, accepted: 2,
			items: []biItem{{1, "userId", "not valid UTF-8 at byte 48 of the message"}},
			dead:  []biDead{{index: 1, value: []byte(badUTF8Item)}},
		},
		{
			name: "malformed batch body", path: "/v1/batch", key: "wk-web", body: malformedBatch,
			code: 400, errContains: "malformed JSON",
			dead: []biDead{{index: -1, value: malformedBatch}},
		},
		{
			name: "gzip bomb on /v1/track", path: "/v1/track", key: "wk-web", body: bomb,
			headers: []string{"Content-Encoding", "gzip"}, code: 413, errContains: "max_message_bytes",
		},
		{
			name: "gzip bomb on /v1/batch", path: "/v1/batch", key: "wk-web", body: bomb,
			headers: []string{"Content-Encoding", "gzip"}, code: 413, errContains: "max_batch_bytes",
		},
		{
			name: "Content-Encoding br", path: "/v1/track", key: "wk-web", body: []byte(trackBody),
			headers: []string{"Content-Encoding", "br"}, code: 415, errContains: "Content-Encoding",
		},
		{
			name: "Content-Encoding deflate on a batch", path: "/v1/batch", key: "wk-web", body: biBatch("", trackBody),
			headers: []string{"Content-Encoding", "deflate"}, code: 415, errContains: "Content-Encoding",
		},
		{
			name: "unknown write key in Basic auth", path: "/v1/track", key: "wk-nope", body: []byte(trackBody),
			code: 401, errContains: "write key",
		},
		{
			name: "unknown writeKey in the body", path: "/v1/track",
			body: []byte(`{"writeKey":"wk-nope","messageId":"bi-k","userId":"u-1","event":"E"}`),
			code: 401, errContains: "write key",
		},
		{
			name: "unknown writeKey in a batch body", path: "/v1/batch",
			body: biBatch(`"writeKey":"wk-nope",`, trackBody),
			code: 401, errContains: "write key",
		},
		{
			name: "no write key", path: "/v1/track", body: []byte(trackBody),
			code: 401, errContains: "missing write key",
		},
		{
			name: "no write key on a malformed body", path: "/v1/track", body: malformed,
			code: 401, errContains: "missing write key",
		},
	}
}

// biSend posts tc to h as a client would.
func biSend(t *testing.T, h http.Handler, tc biCase) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader = bytes.NewReader(tc.body)
	if tc.chunked {
		body = io.MultiReader(body) // hides the length
	}
	r := httptest.NewRequest(http.MethodPost, tc.path, body)
	if tc.chunked {
		r.ContentLength = -1
	}
	r.Header.Set("Content-Type", "application/json")
	if tc.key != "" {
		r.SetBasicAuth(tc.key, "")
	}
	for i := 0; i+1 < len(tc.headers); i += 2 {
		r.Header.Set(tc.headers[i], tc.headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestBadInput sends bad requests through the HTTP API and checks the
// answer (status, the field and reason in the JSON error) and what was
// published: for a 400 exactly the rejected messages as dead letters, byte
// for byte, and the valid ones of a batch; for 401, 413 and 415 nothing.
func TestBadInput(t *testing.T) {
	topics := kafkaio.DefaultTopics()
	for _, tc := range biCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{}
			c, _ := newTestCollector(t, testConfig(), pub)
			w := biSend(t, c.Handler(), tc)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d: %.500s", w.Code, tc.code, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			msgs := pub.published()
			if tc.code == 200 {
				biCheckAccepted(t, msgs, tc, topics)
				return
			}

			eb := decodeError(t, w)
			if !strings.Contains(eb.Error, tc.errContains) {
				t.Errorf("error %q does not contain %q", eb.Error, tc.errContains)
			}
			if tc.code != 400 {
				if len(pub.calls) != 0 {
					t.Fatalf("a %d answer published %d calls (%d messages), want none", tc.code, len(pub.calls), len(msgs))
				}
				if eb.Accepted != nil || len(eb.Errors) != 0 {
					t.Errorf("a %d answer lists messages: %s", tc.code, w.Body)
				}
				if tc.code == 401 && (strings.Contains(eb.Error, "wk-nope") || strings.Contains(eb.Error, "wk-web")) {
					t.Errorf("401 answer echoes the key: %s", eb.Error)
				}
				return
			}

			biCheckItems(t, eb, tc)
			if len(pub.calls) != 1 {
				t.Fatalf("%d publish calls, want one with the valid messages and the dead letters", len(pub.calls))
			}
			var dead, interactions []kafka.Message
			for _, m := range msgs {
				switch m.Topic {
				case topics.DeadLetter:
					dead = append(dead, m)
				case topics.Interactions:
					interactions = append(interactions, m)
				default:
					t.Errorf("message on unexpected topic %q", m.Topic)
				}
			}
			if len(interactions) != tc.accepted {
				t.Errorf("%d envelopes published, want %d", len(interactions), tc.accepted)
			}
			for _, m := range interactions {
				if _, err := event.DecodePrepared(m.Value, event.DefaultLimits()); err != nil {
					t.Errorf("published envelope is invalid: %v: %s", err, m.Value)
				}
			}
			biCheckDeadLetters(t, dead, tc, "acme", "web", testNow)
		})
	}
}

// biCheckAccepted checks a 200 case: one envelope, with tc.eventTime.
func biCheckAccepted(t *testing.T, msgs []kafka.Message, tc biCase, topics kafkaio.Topics) {
	t.Helper()
	if len(msgs) != tc.accepted || len(msgs) != 1 || msgs[0].Topic != topics.Interactions {
		t.Fatalf("published %d messages, want one envelope", len(msgs))
	}
	e, err := event.DecodePrepared(msgs[0].Value, event.DefaultLimits())
	if err != nil {
		t.Fatalf("published envelope is invalid: %v: %s", err, msgs[0].Value)
	}
	if !tc.eventTime.IsZero() && !e.EventTime.Equal(tc.eventTime) {
		t.Errorf("event_time %v, want %v (skew-corrected)", e.EventTime, tc.eventTime)
	}
}

// biCheckItems checks the problems a 400 answer lists.
func biCheckItems(t *testing.T, eb errorBody, tc biCase) {
	t.Helper()
	if len(tc.items) == 0 {
		// A batch body rejected whole lists no items.
		if eb.Accepted != nil || len(eb.Errors) != 0 {
			t.Errorf("answer lists items: %+v", eb)
		}
		return
	}
	if eb.Accepted == nil || *eb.Accepted != tc.accepted {
		t.Errorf("accepted %v, want %d", eb.Accepted, tc.accepted)
	}
	if len(eb.Errors) != len(tc.items) {
		t.Fatalf("answer lists %d problems, want %d: %+v", len(eb.Errors), len(tc.items), eb.Errors)
	}
	for i, want := range tc.items {
		got := eb.Errors[i]
		if got.Index != want.index || got.Field != want.field || !strings.Contains(got.Reason, want.reason) {
			t.Errorf("problem %d is %+v, want index %d field %q reason containing %q", i, got, want.index, want.field, want.reason)
		}
		if got.Reason == "" {
			t.Errorf("problem %d has no reason", i)
		}
	}
	if want := fmt.Sprintf("%d of %d messages rejected", len(tc.dead), len(tc.dead)+tc.accepted); !strings.Contains(eb.Error, want) {
		t.Errorf("error %q does not say %q", eb.Error, want)
	}
}

// biCheckDeadLetters checks that dead holds exactly tc's dead letters (in
// any order), each with the collector's headers.
func biCheckDeadLetters(t *testing.T, dead []kafka.Message, tc biCase, tenant, channel string, rejectedAt time.Time) {
	t.Helper()
	if len(dead) != len(tc.dead) {
		t.Fatalf("%d dead letters, want %d", len(dead), len(tc.dead))
	}
	byIndex := make(map[int]kafka.Message, len(dead))
	for _, m := range dead {
		idx := -1
		if h := header(m, headerIndex); h != "" {
			n, err := strconv.Atoi(h)
			if err != nil {
				t.Fatalf("%s header %q is not a number", headerIndex, h)
			}
			idx = n
		}
		if _, dup := byIndex[idx]; dup {
			t.Fatalf("two dead letters for index %d", idx)
		}
		byIndex[idx] = m
	}
	for _, want := range tc.dead {
		m, ok := byIndex[want.index]
		if !ok {
			t.Errorf("no dead letter for index %d (%s header)", want.index, headerIndex)
			continue
		}
		value := want.value
		if want.cut > 0 {
			if len(value) <= want.cut {
				t.Fatalf("test case: value of %d bytes is not over the cut of %d", len(value), want.cut)
			}
			value = value[:want.cut]
		}
		if !bytes.Equal(m.Value, value) {
			t.Errorf("dead letter %d: value %.200q (%d bytes), want the original bytes %.200q (%d bytes)",
				want.index, m.Value, len(m.Value), value, len(value))
		}
		if m.Key != nil {
			t.Errorf("dead letter %d has key %q", want.index, m.Key)
		}
		if reason := header(m, kafkaio.HeaderError); reason == "" {
			t.Errorf("dead letter %d: no %s header", want.index, kafkaio.HeaderError)
		} else {
			for _, it := range tc.items {
				if it.index == want.index && (!strings.Contains(reason, it.reason) || !strings.HasPrefix(reason, it.field)) {
					t.Errorf("dead letter %d: %s %q does not give %s: %s", want.index, kafkaio.HeaderError, reason, it.field, it.reason)
				}
			}
			if len(tc.items) == 0 && !strings.Contains(reason, tc.errContains) {
				t.Errorf("dead letter %d: %s %q does not contain %q", want.index, kafkaio.HeaderError, reason, tc.errContains)
			}
		}
		for k, v := range map[string]string{
			kafkaio.HeaderStage:  "collector",
			kafkaio.HeaderTenant: tenant,
			headerEndpoint:       tc.path,
			headerChannel:        channel,
		} {
			if got := header(m, k); got != v {
				t.Errorf("dead letter %d: header %s = %q, want %q", want.index, k, got, v)
			}
		}
		at, err := time.Parse(time.RFC3339Nano, header(m, kafkaio.HeaderRejectedAt))
		if err != nil {
			t.Errorf("dead letter %d: %s: %v", want.index, kafkaio.HeaderRejectedAt, err)
		} else if d := at.Sub(rejectedAt).Abs(); d > time.Minute {
			t.Errorf("dead letter %d: rejected at %v, want about %v", want.index, at, rejectedAt)
		}
		if header(m, kafkaio.HeaderOriginTopic) != "" {
			t.Errorf("dead letter %d of an HTTP request has an origin topic", want.index)
		}
	}
}

// biSlowPublisher holds every write until its context ends.
type biSlowPublisher struct{}

func (biSlowPublisher) WriteMessages(ctx context.Context, _ ...kafka.Message) error {
	<-ctx.Done()
	return ctx.Err()
}

// biPartialPublisher fails the last message of every write, as kafka-go's
// Writer reports a partly failed write.
type biPartialPublisher struct{}

func (biPartialPublisher) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	errs := make(kafka.WriteErrors, len(msgs))
	errs[len(errs)-1] = kafka.NotLeaderForPartition
	return errs
}

// TestBadInputPublisherFails: whatever the request, the collector never
// answers 200 when Kafka did not acknowledge every message it had to
// publish (envelopes and dead letters alike); it answers 503 with
// Retry-After so that the client retries. Requests that publish nothing
// (401, 413, 415) keep their answer.
func TestBadInputPublisherFails(t *testing.T) {
	cases := append(biCases(t),
		biCase{name: "valid track", path: "/v1/track", key: "wk-web", body: []byte(trackBody), code: 200},
		biCase{name: "valid batch", path: "/v1/batch", key: "wk-web", body: biBatch("", trackBody, trackBody), code: 200},
		biCase{name: "valid identify with body writeKey", path: "/v1/identify",
			body: []byte(`{"writeKey":"wk-store","messageId":"bi-i","anonymousId":"a-1","traits":{"email":"a@example.com"}}`), code: 200},
	)
	publishers := []struct {
		name string
		pub  Publisher
	}{
		{"error", &fakePublisher{err: errors.New("kafka: leader not available")}},
		{"partial write", biPartialPublisher{}},
		{"timeout", biSlowPublisher{}},
	}
	for _, p := range publishers {
		t.Run(p.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.PublishTimeout = 20 * time.Millisecond
			c, _ := newTestCollector(t, cfg, p.pub)
			h := c.Handler()
			for _, tc := range cases {
				w := biSend(t, h, tc)
				if w.Code == http.StatusOK {
					t.Errorf("%s: answered 200 although nothing was stored: %s", tc.name, w.Body)
					continue
				}
				want := tc.code
				if want == 200 || want == 400 {
					want = http.StatusServiceUnavailable
				}
				if w.Code != want {
					t.Errorf("%s: status %d, want %d: %.300s", tc.name, w.Code, want, w.Body)
					continue
				}
				eb := decodeError(t, w)
				if want == http.StatusServiceUnavailable {
					if ra := w.Header().Get("Retry-After"); ra == "" {
						t.Errorf("%s: 503 without Retry-After", tc.name)
					}
					if eb.Accepted != nil || len(eb.Errors) != 0 {
						t.Errorf("%s: 503 answer lists messages as if some were stored: %s", tc.name, w.Body)
					}
				}
			}
		})
	}
}

// TestIntegrationBadInputDeadLetters sends bad requests to a collector
// publishing to the real Kafka and reads the dead letters back from the
// dead-letter topic: each rejected message once, byte for byte, with the
// collector's headers; and the batch's valid items on the interactions
// topic.
func TestIntegrationBadInputDeadLetters(t *testing.T) {
	cfg := kafkaTopics(t)
	srv := collectorServer(t, cfg)

	now := time.Now().UTC()
	future := now.Add(48 * time.Hour).Format(time.RFC3339Nano)
	sentAt := now.Format(time.RFC3339Nano)
	okItem := `{"type":"track","messageId":"ibi-b0","userId":"u-1","event":"Order Completed","properties":{"revenue":5}}`
	okItem2 := `{"type":"identify","messageId":"ibi-b2","anonymousId":"a-2","traits":{"email":"it@example.com"}}`
	wrongItem := `{"type":"track","messageId":"ibi-b1","userId":"u-1","event":"E","properties":"revenue=5"}`
	noIDItem := `{"type":"page","messageId":"ibi-b3","name":"Home"}`

	single := func(name string, body []byte, field, reason string) biCase {
		return biCase{name: name, path: "/v1/track", key: "wk-web", body: body, code: 400,
			items: []biItem{{0, field, reason}}, dead: []biDead{{index: -1, value: body}}}
	}
	cases := []biCase{
		single("malformed JSON", []byte(`{"type":"track","messageId":"ibi-1","userId":"u-1","event":`), "", "malformed JSON"),
		single("userId is an object", []byte(`{"messageId":"ibi-2","userId":{"id":1},"event":"E"}`), "userId", "got JSON object"),
		single("no identifiers", []byte(`{"messageId":"ibi-3","event":"E"}`), "userId", "is required"),
		single("invalid UTF-8", []byte("{\"messageId\":\"ibi-4\",\"userId\":\"u-\xff\",\"event\":\"E\"}"), "userId", "not valid UTF-8 at byte 33 of the message"),
		single("timestamp 2 days ahead", []byte(`{"messageId":"ibi-5","userId":"u-1","event":"E","timestamp":"`+future+`","sentAt":"`+sentAt+`"}`), "timestamp", "after received_at"),
		{
			name: "partial batch", path: "/v1/batch", key: "wk-store",
			body: biBatch(`"sentAt":"`+sentAt+`",`, okItem, wrongItem, okItem2, noIDItem),
			code: 400, accepted: 2,
			items: []biItem{{1, "properties", "must be a JSON object"}, {3, "userId", "is required"}},
			dead:  []biDead{{index: 1, value: []byte(wrongItem)}, {index: 3, value: []byte(noIDItem)}},
		},
	}

	client := &http.Client{Timeout: 30 * time.Second}
	wantDead := 0
	for _, tc := range cases {
		req, err := http.NewRequest(http.MethodPost, srv.URL+tc.path, bytes.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(tc.key, "")
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var eb errorBody
		if resp.StatusCode != tc.code || json.Unmarshal(body, &eb) != nil {
			t.Fatalf("%s: status %d: %s; want %d with a JSON error", tc.name, resp.StatusCode, body, tc.code)
		}
		biCheckItems(t, eb, tc)
		wantDead += len(tc.dead)
	}

	// Every request was answered after Kafka acknowledged its messages, so
	// the topics' end offsets are final: exactly the rejected messages are
	// dead letters and exactly the batch's valid items are envelopes.
	if n := biTopicSize(t, cfg, cfg.Topics.DeadLetter); n != int64(wantDead) {
		t.Errorf("%s holds %d messages, want %d", cfg.Topics.DeadLetter, n, wantDead)
	}
	if n := biTopicSize(t, cfg, cfg.Topics.Interactions); n != 2 {
		t.Errorf("%s holds %d messages, want the batch's 2 valid items", cfg.Topics.Interactions, n)
	}

	dead := readTopic(t, cfg, cfg.Topics.DeadLetter, wantDead)
	for _, m := range dead {
		hs := make([]string, len(m.Headers))
		for i, h := range m.Headers {
			hs[i] = fmt.Sprintf("%s=%q", h.Key, h.Value)
		}
		t.Logf("dead letter partition %d offset %d: value %q\n\theaders: %s", m.Partition, m.Offset, m.Value, strings.Join(hs, " "))
	}
	for _, tc := range cases {
		// The dead letters of this request: those whose value is one of
		// its rejected messages.
		var mine []kafka.Message
		for _, m := range dead {
			for _, d := range tc.dead {
				if bytes.Equal(m.Value, d.value) {
					mine = append(mine, m)
					break
				}
			}
		}
		channel := "web"
		if tc.key == "wk-store" {
			channel = "store"
		}
		t.Run(tc.name, func(t *testing.T) {
			biCheckDeadLetters(t, mine, tc, "acme", channel, now)
		})
	}
	for _, m := range readTopic(t, cfg, cfg.Topics.Interactions, 2) {
		e, err := event.DecodePrepared(m.Value, event.DefaultLimits())
		if err != nil || (e.EventID != "ibi-b0" && e.EventID != "ibi-b2") || e.Channel != "store" {
			t.Errorf("unexpected envelope (%v): %s", err, m.Value)
		}
	}
}

// biTopicSize is how many messages topic holds (the sum of its partitions'
// end offsets; the test topics are new).
func biTopicSize(t *testing.T, cfg kafkaio.Config, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...)}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		t.Fatalf("metadata of %s: %v %+v", topic, err, meta)
	}
	var reqs []kafka.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatalf("offsets of %s: %v", topic, err)
	}
	var n int64
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("offsets of %s partition %d: %v", topic, p.Partition, p.Error)
		}
		n += p.LastOffset
	}
	return n
}
