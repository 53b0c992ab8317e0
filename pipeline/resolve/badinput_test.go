package resolve_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pipeline/resolve"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/kafkaio/kafkaiotest"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore/redisstoretest"
)

// badInput is one message a direct producer writes to cx.interactions.
// A valid one (field and reason empty) must reach cx.timeline; any other
// must be dead-lettered once, with a cx-error naming field (when the
// problem has one) and containing reason.
type badInput struct {
	name   string
	value  []byte
	field  string // expected in cx-error; "" for problems of the whole message
	reason string // a word of the reason, expected in cx-error
	id     string // event id of a valid input, looked for on cx.timeline
	noRcv  bool   // valid input without received_at: the message time stands in
	// tenant: the envelope decoded with a valid tenant, which its dead
	// letter carries as cx-tenant; otherwise the dead letter has none.
	tenant bool
}

func (c badInput) valid() bool { return c.reason == "" }

// TestIntegrationDirectProducerBadInput plays a direct producer that writes
// bad messages, interleaved with valid envelopes, to one partition of
// cx.interactions. Every bad message must land on cx.deadletter exactly once,
// byte for byte, with headers that say why and where it came from; every
// valid envelope, including those after the bad ones, must be resolved.
func TestIntegrationDirectProducerBadInput(t *testing.T) {
	kcfg := kafkaiotest.Config(t, 4)
	store, tenant := redisstoretest.New(t)
	b := make([]byte, 4)
	rand.Read(b)
	sfx := hex.EncodeToString(b)
	ctx := context.Background()

	now := time.Now().UTC()
	t0 := now.Add(-time.Hour)
	// env returns a valid envelope (a track with received_at) changed by
	// mod, which may set or delete any field, with any JSON type.
	env := func(id string, mod func(m map[string]any)) []byte {
		m := map[string]any{
			"event_id":    id + "-" + sfx,
			"tenant":      tenant,
			"channel":     "backend",
			"type":        "track",
			"name":        "Order Completed",
			"event_time":  t0.Format(time.RFC3339Nano),
			"received_at": now.Format(time.RFC3339Nano),
			"identifiers": []map[string]string{{"type": "user_id", "value": id + "-" + sfx}},
			"properties":  map[string]any{"revenue": 12.5, "currency": "EUR"},
		}
		if mod != nil {
			mod(m)
		}
		v, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ok := func(id string, mod func(m map[string]any)) badInput {
		return badInput{name: "valid " + id, value: env(id, mod), id: id + "-" + sfx}
	}
	ids := func(pairs ...string) func(m map[string]any) {
		return func(m map[string]any) {
			var l []map[string]string
			for i := 0; i < len(pairs); i += 2 {
				l = append(l, map[string]string{"type": pairs[i], "value": pairs[i+1]})
			}
			m["identifiers"] = l
		}
	}
	set := func(k string, v any) func(m map[string]any) { return func(m map[string]any) { m[k] = v } }
	del := func(k string) func(m map[string]any) { return func(m map[string]any) { delete(m, k) } }

	whole := env("truncated", nil)
	badUTF8 := bytes.Replace(env("utf8", set("name", "Caf@@")), []byte("@@"), []byte{0xff, 0xfe}, 1)
	noRcv := ok("no-received-at", del("received_at"))
	noRcv.noRcv = true

	// A direct producer whose clock, or whose received_at, is years ahead:
	// event_time is within limits of received_at, and received_at is
	// bounded by the Kafka message time.
	farFuture := func(m map[string]any) {
		m["event_time"] = now.AddDate(10, 0, 0).Format(time.RFC3339Nano)
		m["received_at"] = now.AddDate(10, 0, 0).Add(time.Minute).Format(time.RFC3339Nano)
	}
	cases := []badInput{
		ok("first", nil),
		{name: "truncated JSON", value: whole[:len(whole)/2], reason: "malformed JSON"},
		{name: "JSON array", value: append(append([]byte("["), env("array", nil)...), ']'), field: "(root)", reason: "object"},
		{name: "event_time not RFC 3339", value: env("et-text", set("event_time", "yesterday")), field: "event_time", reason: "RFC 3339"},
		{name: "event_time a number", value: env("et-number", set("event_time", now.Unix())), field: "event_time", reason: "must be an RFC 3339 time string, got JSON number"},
		{name: "received_at an object", value: env("rcv-object", set("received_at", map[string]int{"seconds": 1})), field: "received_at", reason: "must be an RFC 3339 time string, got JSON object"},
		ok("second", ids("email", "Jane."+sfx+"@Example.com", "anonymous_id", "a-"+sfx)),
		{name: "identifiers a string", value: env("ids-string", set("identifiers", "email:jane@example.com")), field: "identifiers", reason: "array"},
		{name: "increment a string", value: env("inc-string", set("traits_increment", map[string]any{"points": "ten"})), field: "traits_increment.points", reason: "number"},
		{name: "increment a quoted number", value: env("inc-quoted", set("traits_increment", map[string]any{"points": "5"})), field: "traits_increment.points", reason: "number"},
		{name: "identifiers missing", value: env("no-ids", del("identifiers")), field: "identifiers", reason: "required", tenant: true},
		ok("third", set("traits_increment", map[string]any{"points": 5})),
		{name: "invalid email", value: env("bad-email", ids("email", "jane.example.com", "anonymous_id", "a2-"+sfx)), field: "identifiers[0].value", reason: "local@domain", tenant: true},
		{name: "empty identifier value", value: env("empty-id", ids("anonymous_id", "", "anonymous_id", "a3-"+sfx)), field: "identifiers[0].value", reason: "empty", tenant: true},
		{name: "only blocked identifiers", value: env("blocked", ids("anonymous_id", "undefined", "email", "test@test.com")), field: "identifiers", reason: "blocked", tenant: true},
		{name: "invalid UTF-8 in a string", value: badUTF8, field: "name", reason: "not valid UTF-8 at byte"},
		noRcv,
		{name: "unknown type", value: env("bad-type", set("type", "purchase")), field: "type", reason: "one of", tenant: true},
		{name: "tenant missing", value: env("no-tenant", del("tenant")), field: "tenant", reason: "required"},
		{name: "tenant invalid", value: env("bad-tenant", set("tenant", "Acme Corp")), field: "tenant", reason: "must match"},
		{name: "track without name", value: env("no-name", del("name")), field: "name", reason: "required", tenant: true},
		{name: "event_time 48h after received_at", value: env("future", set("event_time", now.Add(48*time.Hour).Format(time.RFC3339))), field: "event_time", reason: "after received_at", tenant: true},
		{name: "event_time 11y before received_at", value: env("past", set("event_time", now.AddDate(-11, 0, 0).Format(time.RFC3339))), field: "event_time", reason: "before received_at", tenant: true},
		{name: "event_time and received_at 10y ahead", value: env("far-future", farFuture), field: "received_at", reason: "more than 24h0m0s after the Kafka message time", tenant: true},
		ok("received-ahead", set("received_at", now.Add(time.Hour).Format(time.RFC3339Nano))), // within max_future of the message time
		{name: "properties an array", value: env("props-array", set("properties", []int{1, 2})), field: "properties", reason: "object", tenant: true},
		{name: "empty value", value: []byte{}, reason: "malformed JSON"},
		ok("last-1", nil),
		ok("last-2", ids("phone", fmt.Sprintf("+49 151 %08d", int(b[0])<<16|int(b[1])<<8|int(b[2])), "anonymous_id", "a4-"+sfx)),
	}
	byValue := map[string]int{}
	for i, c := range cases {
		if j, dup := byValue[string(c.value)]; dup {
			t.Fatalf("cases %q and %q have the same value", cases[j].name, c.name)
		}
		byValue[string(c.value)] = i
	}

	// A direct producer: kafka-go with the settings docs/producers.md
	// recommends, one key for every message, so one partition.
	key := []byte("user_id:producer-" + sfx)
	w := &kafka.Writer{Addr: kafka.TCP(kcfg.Brokers...), Topic: kcfg.Topics.Interactions,
		Balancer: kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	for _, c := range cases { // one at a time: the offsets follow the table
		if err := w.WriteMessages(ctx, kafka.Message{Key: key, Value: c.value}); err != nil {
			t.Fatalf("write %s: %v", c.name, err)
		}
	}
	// Where each input landed, as a plain reader of cx.interactions sees it.
	type at struct {
		partition int
		offset    int64
		time      time.Time
		null      bool // read back as a null value
	}
	origin := make([]at, len(cases))
	for _, m := range badReadN(t, kcfg.Brokers, kcfg.Topics.Interactions, len(cases)) {
		i, found := byValue[string(m.Value)]
		if !found {
			t.Fatalf("cx.interactions holds a message not written: %q", m.Value)
		}
		origin[i] = at{m.Partition, m.Offset, m.Time, m.Value == nil}
	}
	for i := range cases {
		if origin[i].partition != origin[0].partition || (i > 0 && origin[i].offset <= origin[i-1].offset) {
			t.Fatalf("inputs not on one partition in write order: %+v", origin)
		}
	}

	cfg := resolve.Default()
	cfg.Group += "." + sfx
	r, err := resolve.New(cfg, kcfg, identity.DefaultRules(), profile.Default(), store, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	defer stop()

	// The partition moves on: every valid input, those after the bad ones
	// too, is resolved.
	want := map[string]int{}
	for i, c := range cases {
		if c.valid() {
			want[c.id] = i
		}
	}
	for _, m := range badReadN(t, kcfg.Brokers, kcfg.Topics.Timeline, len(want)) {
		var e event.Resolved
		if err := json.Unmarshal(m.Value, &e); err != nil {
			t.Fatal(err)
		}
		i, found := want[e.EventID]
		if !found {
			t.Errorf("cx.timeline has %q, not a valid input (or resolved twice)", e.EventID)
			continue
		}
		delete(want, e.EventID)
		if e.ProfileID == "" || string(m.Key) != e.ProfileID {
			t.Errorf("%s: timeline key %q, profile %q", cases[i].name, m.Key, e.ProfileID)
		}
		if cases[i].noRcv && !e.ReceivedAt.Equal(origin[i].time) {
			t.Errorf("%s: received_at %v, want the message time %v", cases[i].name, e.ReceivedAt, origin[i].time)
		}
	}
	resolved := time.Since(start)

	// Stop the resolver: Run returns after publishing and committing the batch
	// in hand, so every dead letter is on the topic.
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("resolver did not stop")
	}
	bad := 0
	for _, c := range cases {
		if !c.valid() {
			bad++
		}
	}
	if n := badTopicSize(t, kcfg.Brokers, kcfg.Topics.Timeline, kcfg.Partitions); n != int64(len(cases)-bad) {
		t.Errorf("cx.timeline holds %d messages, want %d", n, len(cases)-bad)
	}
	if n := badTopicSize(t, kcfg.Brokers, kcfg.Topics.DeadLetter, kcfg.Partitions); n != int64(bad) {
		t.Errorf("cx.deadletter holds %d messages, want %d (one per bad input)", n, bad)
	}
	seen := map[int]int{}
	for _, m := range badReadN(t, kcfg.Brokers, kcfg.Topics.DeadLetter, bad) {
		i, found := byValue[string(m.Value)]
		if !found {
			t.Errorf("dead letter whose value is no input: %q", m.Value)
			continue
		}
		c := cases[i]
		seen[i]++
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		cxErr := h[kafkaio.HeaderError]
		t.Logf("dead letter %-34s offset %2d  cx-error: %s", c.name, origin[i].offset, cxErr)
		if c.valid() {
			t.Errorf("%s: valid input dead-lettered: %s", c.name, cxErr)
			continue
		}
		if !strings.Contains(cxErr, c.field) || !strings.Contains(cxErr, c.reason) {
			t.Errorf("%s: cx-error %q, want field %q and reason %q", c.name, cxErr, c.field, c.reason)
		}
		if (m.Value == nil) != origin[i].null {
			t.Errorf("%s: dead letter value null=%v, the original's %v", c.name, m.Value == nil, origin[i].null)
		}
		if !bytes.Equal(m.Key, key) {
			t.Errorf("%s: dead letter key %q, want the original %q", c.name, m.Key, key)
		}
		if h[kafkaio.HeaderStage] != "resolver" ||
			h[kafkaio.HeaderOriginTopic] != kcfg.Topics.Interactions ||
			h[kafkaio.HeaderOriginPartition] != strconv.Itoa(origin[i].partition) ||
			h[kafkaio.HeaderOriginOffset] != strconv.FormatInt(origin[i].offset, 10) {
			t.Errorf("%s: written at %s/%d@%d, dead letter headers %v", c.name, kcfg.Topics.Interactions, origin[i].partition, origin[i].offset, h)
		}
		if tn, has := h[kafkaio.HeaderTenant]; c.tenant && tn != tenant {
			t.Errorf("%s: %s header %q, want the envelope's tenant %q", c.name, kafkaio.HeaderTenant, tn, tenant)
		} else if !c.tenant && has {
			t.Errorf("%s: %s header %q, want none (no valid tenant decoded)", c.name, kafkaio.HeaderTenant, tn)
		}
		if _, err := time.Parse(time.RFC3339Nano, h[kafkaio.HeaderRejectedAt]); err != nil {
			t.Errorf("%s: %s header %q: %v", c.name, kafkaio.HeaderRejectedAt, h[kafkaio.HeaderRejectedAt], err)
		}
	}
	for i, c := range cases {
		if !c.valid() && seen[i] != 1 {
			t.Errorf("%s: %d dead letters, want 1", c.name, seen[i])
		}
	}
	t.Logf("%d inputs on partition %d (%d bad, %d valid): resolved in %v", len(cases), origin[0].partition, bad, len(cases)-bad, resolved.Round(time.Millisecond))
}

// badReadN reads n messages of topic from the start, through a consumer
// group of its own.
func badReadN(t *testing.T, brokers []string, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: "check-" + topic, Topic: topic,
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("%s: got %d of %d messages: %v", topic, len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

// badTopicSize is how many messages topic holds, from its partitions'
// offsets.
func badTopicSize(t *testing.T, brokers []string, topic string, partitions int) int64 {
	t.Helper()
	var req []kafka.OffsetRequest
	for p := range partitions {
		req = append(req, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: req}})
	if err != nil {
		t.Fatalf("%s: list offsets: %v", topic, err)
	}
	var n int64
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("%s/%d: list offsets: %v", topic, po.Partition, po.Error)
		}
		n += po.LastOffset - po.FirstOffset
	}
	return n
}
