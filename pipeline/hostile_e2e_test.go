package pipeline_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pipeline/api"
	"github.com/cxstream/cxstream/pipeline/collect"
	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/profile"
)

// The answers below are what the code does (pkg/event, pkg/tracking,
// pipeline/collect); docs/SECURITY.md lists them.
const (
	reasonControl    = "must not contain control characters"
	reasonWhiteSpace = "email must not contain white space or control characters"
	reasonLong128    = "must be valid UTF-8 of at most 128 bytes"
	reasonLong256    = "must be valid UTF-8 of at most 256 bytes"
	reasonTenant     = "tenant: required, must match"
	reasonDepth      = "exceeded max depth"
)

// hostileString is one injection string and how each probe field judges
// it: the probes named in rejected are answered 400 with that reason (a
// substring), every other probe is accepted and stored verbatim.
type hostileString struct {
	name     string
	s        string
	rejected map[string]string
	// id is what userId and anonymousId become (they are trimmed); "": s.
	id string
}

func (h hostileString) idValue() string {
	if h.id != "" {
		return h.id
	}
	return h.s
}

// email is what the traits.email probe sends.
func (h hostileString) email() string { return h.s + "@example.com" }

func hostileStrings() []hostileString {
	big := strings.Repeat("0123456789abcdef", 640) // 10 KiB
	onlyEmail := func(reason string) map[string]string { return map[string]string{"traits.email": reason} }
	ids := map[string]string{"userId": reasonControl, "anonymousId": reasonControl, "traits.email": reasonControl}
	return []hostileString{
		{name: "sql quote", s: `' OR '1'='1`, rejected: onlyEmail(reasonWhiteSpace)},
		{name: "sql drop", s: `'; DROP TABLE cx_events; --`, rejected: onlyEmail(reasonWhiteSpace)},
		{name: "clickhouse parameter", s: `{tenant:String}`},
		{name: "question mark", s: `?`},
		{name: "backslashes", s: `\\x\'\?\0\N`},
		{name: "redis glob", s: `*`},
		{name: "lua long bracket", s: `]]`},
		{name: "key glob", s: `tenant:*`},
		{name: "hash tag", s: `{x}`},
		{name: "leading CRLF", s: "\r\nX-Injected: 1", id: "X-Injected: 1", rejected: onlyEmail(reasonWhiteSpace)},
		{name: "embedded CRLF", s: "ok\r\nX-Injected: 1", rejected: ids},
		{name: "html", s: `<script>alert(1)</script>`},
		{name: "template", s: `{{7*7}}`},
		{name: "jndi", s: `${jndi:ldap://x/a}`},
		{name: "NUL", s: "nul\x00byte", rejected: ids},
		{name: "right-to-left override", s: "user\u202egnp.exe"},
		{name: "10 KiB", s: big, rejected: map[string]string{
			"messageId": reasonLong128, "event": "at most 256 bytes", "userId": reasonLong256, "anonymousId": reasonLong256,
			"traits key": "trait names must be 1 to 128 bytes", "traits.email": reasonLong256,
		}},
	}
}

// storedEvent is an event as ClickHouse or the Profile API gives it back.
type storedEvent struct {
	Tenant, EventID, Name       string
	IDs                         []event.Identifier
	Traits, Properties, Context json.RawMessage
}

// probe puts a hostile string into one field of a Segment message.
type probe struct {
	field    string // the name in hostileString.rejected
	errField string // the field a 400 answer names
	path     string
	set      func(m map[string]any, s string)
	// stored checks the accepted probe's event as stored.
	stored func(ev storedEvent, h hostileString) error
}

func hostileProbes() []probe {
	ctx := func(m map[string]any) map[string]any { return m["context"].(map[string]any) }
	return []probe{
		{field: "messageId", errField: "messageId", path: "/v1/track",
			set:    func(m map[string]any, s string) { m["messageId"] = s },
			stored: func(storedEvent, hostileString) error { return nil }}, // found by its id
		{field: "event", errField: "event", path: "/v1/track",
			set: func(m map[string]any, s string) { m["event"] = s },
			stored: func(ev storedEvent, h hostileString) error {
				return want("name", ev.Name, h.s)
			}},
		{field: "properties key", path: "/v1/track",
			set: func(m map[string]any, s string) { m["properties"].(map[string]any)[s] = "v" },
			stored: func(ev storedEvent, h hostileString) error {
				return wantMember("properties", ev.Properties, []string{h.s}, "v")
			}},
		{field: "properties value", path: "/v1/track",
			set: func(m map[string]any, s string) { m["properties"].(map[string]any)["v"] = s },
			stored: func(ev storedEvent, h hostileString) error {
				return wantMember("properties", ev.Properties, []string{"v"}, h.s)
			}},
		{field: "context.page.url", path: "/v1/track",
			set: func(m map[string]any, s string) { ctx(m)["page"] = map[string]any{"url": s} },
			stored: func(ev storedEvent, h hostileString) error {
				return wantMember("context", ev.Context, []string{"page", "url"}, h.s)
			}},
		{field: "context.userAgent", path: "/v1/track",
			set: func(m map[string]any, s string) { ctx(m)["userAgent"] = s },
			stored: func(ev storedEvent, h hostileString) error {
				return wantMember("context", ev.Context, []string{"userAgent"}, h.s)
			}},
		{field: "context.ip", path: "/v1/track",
			set: func(m map[string]any, s string) { ctx(m)["ip"] = s },
			stored: func(ev storedEvent, h hostileString) error {
				return wantMember("context", ev.Context, []string{"ip"}, h.s)
			}},
		{field: "userId", errField: "userId", path: "/v1/identify",
			set: func(m map[string]any, s string) { m["userId"] = s },
			stored: func(ev storedEvent, h hostileString) error {
				return wantID(ev, event.IDUserID, h.idValue())
			}},
		{field: "anonymousId", errField: "anonymousId", path: "/v1/identify",
			set: func(m map[string]any, s string) { m["anonymousId"] = s },
			stored: func(ev storedEvent, h hostileString) error {
				return wantID(ev, event.IDAnonymousID, h.idValue())
			}},
		{field: "traits key", errField: "traits", path: "/v1/identify",
			set: func(m map[string]any, s string) { m["traits"] = map[string]any{s: "v"} },
			stored: func(ev storedEvent, h hostileString) error {
				return wantMember("traits", ev.Traits, []string{h.s}, "v")
			}},
		{field: "traits value", path: "/v1/identify",
			set: func(m map[string]any, s string) { m["traits"] = map[string]any{"probe_value": s} },
			stored: func(ev storedEvent, h hostileString) error {
				return wantMember("traits", ev.Traits, []string{"probe_value"}, h.s)
			}},
		{field: "traits.email", errField: "traits.email", path: "/v1/identify",
			set: func(m map[string]any, s string) { m["traits"] = map[string]any{"email": s + "@example.com"} },
			stored: func(ev storedEvent, h hostileString) error {
				if err := wantMember("traits", ev.Traits, []string{"email"}, h.email()); err != nil {
					return err
				}
				return wantID(ev, event.IDEmail, strings.ToLower(h.email()))
			}},
	}
}

func want(what, got, want string) error {
	if got != want {
		return fmt.Errorf("%s = %.80q, want %.80q", what, got, want)
	}
	return nil
}

// wantMember checks that the JSON object raw holds the string value at path.
func wantMember(what string, raw json.RawMessage, path []string, value string) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("%s is not JSON: %v: %.200s", what, err, raw)
	}
	for _, k := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: no object holding %.80q in %.200s", what, k, raw)
		}
		if v, ok = obj[k]; !ok {
			return fmt.Errorf("%s: no key %.80q in %.200s", what, k, raw)
		}
	}
	if s, ok := v.(string); !ok || s != value {
		return fmt.Errorf("%s%q = %.80q, want %.80q", what, path, v, value)
	}
	return nil
}

func wantID(ev storedEvent, typ, value string) error {
	if !slices.Contains(ev.IDs, event.Identifier{Type: typ, Value: value}) {
		return fmt.Errorf("identifiers %.300q lack %s:%.80q", ev.IDs, typ, value)
	}
	return nil
}

// collectAnswer is the collector's JSON answer.
type collectAnswer struct {
	Success  bool   `json:"success"`
	Error    string `json:"error"`
	Accepted *int   `json:"accepted"`
	Errors   []struct {
		Index  int    `json:"index"`
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"errors"`
	Records int `json:"records"`
	Events  int `json:"events"`
}

// post sends body to the collector with key as the HTTP Basic user. It may
// run on any goroutine.
func post(addr, path, key, contentType string, body []byte) (int, collectAnswer, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return 0, collectAnswer{}, err
	}
	req.SetBasicAuth(key, "")
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, collectAnswer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, collectAnswer{}, err
	}
	var a collectAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return resp.StatusCode, a, fmt.Errorf("answer %d is not JSON: %.300s", resp.StatusCode, b)
	}
	return resp.StatusCode, a, nil
}

// apiGet is get with the bearer token of any tenant.
func apiGet(t *testing.T, token, u string) (int, []byte) {
	t.Helper()
	return apiDo(t, http.MethodGet, token, u)
}

// hostileEnv is the running pipeline and the ways into and out of it.
type hostileEnv struct {
	cfg               pipeline.Config
	tenantA, tenantB  string
	keyA, keyB, keyCC string
	suffix            string
	tokenA, tokenB    string
	ch                driver.Conn
	rdb               *redis.Client
	kw                *kafka.Writer
}

func (h *hostileEnv) base() string { return "http://" + h.cfg.API.Addr + "/v1/profiles/" }

// profile returns the profile ref names for token's tenant, once it has at
// least events events.
func (h *hostileEnv) profile(t *testing.T, token, ref string, events int64) profile.Profile {
	t.Helper()
	var p profile.Profile
	eventually(t, 30*time.Second, "profile "+strings.ToValidUTF8(ref, "?"), func() (bool, string) {
		p = profile.Profile{}
		code, body := apiGet(t, token, h.base()+url.PathEscape(ref))
		if code == http.StatusOK {
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("GET %s: %v", ref, err)
			}
		}
		return code == http.StatusOK && p.Behavioral.Events >= events, fmt.Sprintf("%d, %d events", code, p.Behavioral.Events)
	})
	return p
}

// timeline returns every event of a profile through the API, a page at a
// time.
func (h *hostileEnv) timeline(t *testing.T, token, profileID string, limit int) []storedEvent {
	t.Helper()
	var out []storedEvent
	cursor := ""
	for range 1000 {
		u := fmt.Sprintf("%s%s/events?limit=%d", h.base(), profileID, limit)
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		code, body := apiGet(t, token, u)
		var page chstore.TimelinePage
		if code != http.StatusOK || json.Unmarshal(body, &page) != nil {
			t.Fatalf("GET %s: %d %.300s", u, code, body)
		}
		for _, e := range page.Events {
			out = append(out, storedEvent{Tenant: "", EventID: e.EventID, Name: e.Name, IDs: e.Identifiers,
				Traits: e.Traits, Properties: e.Properties, Context: e.Context})
		}
		if cursor = page.Next; cursor == "" {
			return out
		}
	}
	t.Fatalf("timeline of %s: more than 1000 pages", profileID)
	return nil
}

// rows returns the tenant's cx_events rows by event id, straight from
// ClickHouse.
func (h *hostileEnv) rows(t *testing.T, tenant string) map[string]storedEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rows, err := h.ch.Query(ctx, `SELECT tenant, event_id, name, id_types, id_values, traits, properties, context
FROM cx_events WHERE tenant = ? LIMIT 1 BY event_id`, tenant)
	if err != nil {
		t.Fatalf("query cx_events: %v", err)
	}
	defer rows.Close()
	out := map[string]storedEvent{}
	for rows.Next() {
		var (
			ev                   storedEvent
			types, values        []string
			traits, props, ctxts string
		)
		if err := rows.Scan(&ev.Tenant, &ev.EventID, &ev.Name, &types, &values, &traits, &props, &ctxts); err != nil {
			t.Fatalf("scan cx_events: %v", err)
		}
		for i := range min(len(types), len(values)) {
			ev.IDs = append(ev.IDs, event.Identifier{Type: types[i], Value: values[i]})
		}
		ev.Traits, ev.Properties, ev.Context = json.RawMessage(traits), json.RawMessage(props), json.RawMessage(ctxts)
		out[ev.EventID] = ev
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read cx_events: %v", err)
	}
	return out
}

// waitRows waits until ClickHouse holds every one of ids for the tenant.
func (h *hostileEnv) waitRows(t *testing.T, tenant string, ids []string) map[string]storedEvent {
	t.Helper()
	var got map[string]storedEvent
	eventually(t, 40*time.Second, fmt.Sprintf("%d events of %s in ClickHouse", len(ids), tenant), func() (bool, string) {
		got = h.rows(t, tenant)
		missing := 0
		for _, id := range ids {
			if _, ok := got[id]; !ok {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d missing", missing, len(ids))
	})
	return got
}

// column returns the one string column of a query's rows.
func (h *hostileEnv) column(t *testing.T, q string, args ...any) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rows, err := h.ch.Query(ctx, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

func (h *hostileEnv) query(t *testing.T, dst any, q string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.ch.QueryRow(ctx, q, args...).Scan(dst); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// deadLetters reads the whole dead-letter topic as it stands.
func (h *hostileEnv) deadLetters(t *testing.T) []kafka.Message {
	t.Helper()
	topic := h.cfg.Kafka.Topics.DeadLetter
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(h.cfg.Kafka.Brokers...)}
	var reqs []kafka.OffsetRequest
	for p := range h.cfg.Kafka.Partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatalf("%s offsets: %v", topic, err)
	}
	var out []kafka.Message
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("%s/%d offsets: %v", topic, po.Partition, po.Error)
		}
		if po.FirstOffset >= po.LastOffset {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: h.cfg.Kafka.Brokers, Topic: topic, Partition: po.Partition,
			MaxWait: 100 * time.Millisecond, MaxBytes: 16 << 20})
		if err := r.SetOffset(po.FirstOffset); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("%s/%d: read up to offset %d: %v", topic, po.Partition, po.LastOffset, err)
			}
			out = append(out, m)
			if m.Offset >= po.LastOffset-1 {
				break
			}
		}
		r.Close()
	}
	return out
}

// dlHeader returns a header of a dead letter.
func dlHeader(m kafka.Message, key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// deadLetterOf finds the dead letter whose value is value.
func deadLetterOf(dead []kafka.Message, value []byte) (kafka.Message, int) {
	var found kafka.Message
	n := 0
	for _, m := range dead {
		if bytes.Equal(m.Value, value) {
			found = m
			n++
		}
	}
	return found, n
}

// TestIntegrationHostileInputs sends hostile input through the whole
// pipeline against the real Kafka, Redis and ClickHouse: injection strings
// in every field of the Segment API and of a channel webhook, in the
// Profile API's parameters, deeply nested and very wide JSON, and attempts
// to write or read across tenants. Each input is either rejected (400
// naming the field, and dead-lettered byte for byte) or stored verbatim in
// ClickHouse and given back verbatim by the Profile API (identifiers as
// their type normalises them: trimmed, emails lower-cased); nothing reaches
// another tenant, the tables stay, and events keep flowing. Size, gzip,
// invalid UTF-8 and write-key cases are pipeline/collect's TestBadInput;
// malformed envelopes of direct producers pipeline/resolve's
// TestIntegrationDirectProducerBadInput (docs/SECURITY.md).
func TestIntegrationHostileInputs(t *testing.T) {
	cfg, suffix := testConfig(t)
	h := &hostileEnv{
		cfg: cfg, tenantA: cfg.API.Tokens[0].Tenant, tenantB: "e2e-" + suffix + "-b",
		keyA: "web-" + suffix, keyB: "web-b-" + suffix, keyCC: "cc-" + suffix, suffix: suffix,
		tokenA: apiToken, tokenB: "e2e-token-b-0123456789abcdef",
	}
	h.cfg.Collector.WriteKeys = append(h.cfg.Collector.WriteKeys,
		collect.WriteKey{Key: h.keyB, Tenant: h.tenantB, Channel: "web"},
		collect.WriteKey{Key: h.keyCC, Tenant: h.tenantA, Channel: "call_center"})
	h.cfg.API.Tokens = append(h.cfg.API.Tokens, api.Token{Token: h.tokenB, Tenant: h.tenantB})
	startPipeline(t, h.cfg)

	ch, err := clickhouse.Open(&clickhouse.Options{Addr: []string{cfg.ClickHouse.Addr}, Auth: clickhouse.Auth{
		Database: cfg.ClickHouse.Database, Username: cfg.ClickHouse.Username, Password: cfg.ClickHouse.Password}})
	if err != nil {
		t.Fatal(err)
	}
	h.ch = ch
	t.Cleanup(func() { ch.Close() })
	h.rdb = redis.NewClient(&redis.Options{Addr: cfg.Redis.Addr, DB: cfg.Redis.DB})
	t.Cleanup(func() { h.rdb.Close() })
	h.kw = kafkaio.NewWriter(cfg.Kafka)
	t.Cleanup(func() { h.kw.Close() })

	tables := h.tables(t)
	// Tenant B's customer shares identifiers and an event id with tenant A's
	// (see "wrong tenants"); its state is taken before any hostile input and
	// must not change.
	if code, a, err := post(cfg.Collector.Addr, "/v1/identify", h.keyB, "application/json", mustMarshal(t, map[string]any{
		"messageId": "shared-1", "userId": "shared-user", "traits": map[string]any{"email": "shared@example.com", "name": "Bea"},
	})); err != nil || code != http.StatusOK {
		t.Fatalf("seed tenant B: %d %+v %v", code, a, err)
	}
	beaBefore := h.profile(t, h.tokenB, "user_id:shared-user", 1)
	h.waitRows(t, h.tenantB, []string{"shared-1"})
	beaEventsBefore := h.timeline(t, h.tokenB, beaBefore.ProfileID, 100)

	t.Run("injection strings in every field", func(t *testing.T) { h.injection(t) })
	t.Run("injection strings through a channel webhook", func(t *testing.T) { h.channel(t) })
	t.Run("injection strings in Profile API parameters", func(t *testing.T) { h.apiParameters(t) })
	t.Run("deep and wide JSON", func(t *testing.T) { h.deepAndWide(t) })

	t.Run("another tenant unchanged", func(t *testing.T) {
		code, body := apiGet(t, h.tokenB, h.base()+beaBefore.ProfileID)
		if code != http.StatusOK {
			t.Fatalf("tenant B's profile: %d %s", code, body)
		}
		var bea profile.Profile
		if err := json.Unmarshal(body, &bea); err != nil {
			t.Fatal(err)
		}
		if before, after := normalized(t, beaBefore), normalized(t, bea); !equalJSON(before, after) {
			t.Errorf("tenant B's profile changed:\nbefore %s\nafter  %s", mustJSON(before), mustJSON(after))
		}
		if got := h.timeline(t, h.tokenB, beaBefore.ProfileID, 100); !equalJSON(got, beaEventsBefore) {
			t.Errorf("tenant B's timeline changed:\nbefore %s\nafter  %s", mustJSON(beaEventsBefore), mustJSON(got))
		}
		if rows := h.rows(t, h.tenantB); len(rows) != 1 {
			t.Errorf("tenant B has %d rows in cx_events, want its 1: %v", len(rows), slices.Collect(maps.Keys(rows)))
		}
	})
	t.Run("wrong tenants", func(t *testing.T) { h.wrongTenants(t, beaBefore.ProfileID) })

	t.Run("tables intact", func(t *testing.T) {
		if after := h.tables(t); !slices.Equal(after, tables) {
			t.Errorf("tables of %s: %v, before the hostile input %v", cfg.ClickHouse.Database, after, tables)
		}
		tenants := h.column(t, "SELECT DISTINCT tenant FROM cx_events ORDER BY tenant")
		if want := []string{h.tenantA, h.tenantB}; !slices.Equal(tenants, want) {
			t.Errorf("cx_events holds tenants %q, want %q", tenants, want)
		}
	})
}

func (h *hostileEnv) tables(t *testing.T) []string {
	t.Helper()
	names := h.column(t, "SELECT name FROM system.tables WHERE database = ? ORDER BY name", h.cfg.ClickHouse.Database)
	if !slices.Contains(names, "cx_events") || !slices.Contains(names, "cx_identity") {
		t.Fatalf("tables of %s: %v", h.cfg.ClickHouse.Database, names)
	}
	return names
}

// probeResult is one probe as sent and answered.
type probeResult struct {
	str   int // index into hostileStrings
	probe probe
	id    string // the event id: the messageId sent
	body  []byte
	code  int
	ans   collectAnswer
	err   error
}

// injection sends every hostile string in every probe field, each probe a
// message of its own under a profile per string (anchored by a device id),
// and checks the answer, the dead letters, ClickHouse and the Profile API.
func (h *hostileEnv) injection(t *testing.T) {
	strs, probes := hostileStrings(), hostileProbes()
	var results []*probeResult
	for i, hs := range strs {
		for _, p := range probes {
			id := fmt.Sprintf("inj-%02d-%s", i, strings.ReplaceAll(p.field, " ", "-"))
			m := map[string]any{
				"messageId": id, "event": "Hostile Probe",
				"properties": map[string]any{"probe": p.field},
				"context":    map[string]any{"device": map[string]any{"id": fmt.Sprintf("hostile-%02d", i)}},
			}
			if p.path == "/v1/identify" {
				delete(m, "event")
				delete(m, "properties")
			}
			p.set(m, hs.s)
			if p.field == "messageId" {
				id = hs.s
			}
			results = append(results, &probeResult{str: i, probe: p, id: id, body: mustMarshal(t, m)})
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, r := range results {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r.code, r.ans, r.err = post(h.cfg.Collector.Addr, r.probe.path, h.keyA, "application/json", r.body)
		}()
	}
	wg.Wait()

	// The answers: 200, or 400 naming exactly the field with the reason.
	accepted := map[int][]*probeResult{}
	var rejected []*probeResult
	for _, r := range results {
		hs := strs[r.str]
		what := fmt.Sprintf("%s in %s", hs.name, r.probe.field)
		if r.err != nil {
			t.Errorf("%s: %v", what, r.err)
			continue
		}
		reason, reject := hs.rejected[r.probe.field]
		switch {
		case !reject && (r.code != http.StatusOK || !r.ans.Success):
			t.Errorf("%s: %d %+v, want 200 and stored", what, r.code, r.ans)
		case !reject:
			accepted[r.str] = append(accepted[r.str], r)
		case r.code != http.StatusBadRequest || len(r.ans.Errors) != 1 || r.ans.Accepted == nil || *r.ans.Accepted != 0:
			t.Errorf("%s: %d %+v, want 400 with one problem, nothing accepted", what, r.code, r.ans)
		case r.ans.Errors[0].Field != r.probe.errField || !strings.Contains(r.ans.Errors[0].Reason, reason):
			t.Errorf("%s: problem %+v, want field %q and reason %q", what, r.ans.Errors[0], r.probe.errField, reason)
		default:
			rejected = append(rejected, r)
		}
	}
	t.Logf("%d probes: %d rejected as documented", len(results), len(rejected))

	// Each rejected message is a dead letter, byte for byte, with the field
	// in cx-error; no accepted one is.
	dead := h.deadLetters(t)
	for _, r := range rejected {
		m, n := deadLetterOf(dead, r.body)
		what := fmt.Sprintf("%s in %s", strs[r.str].name, r.probe.field)
		if n != 1 {
			t.Errorf("%s: %d dead letters, want 1", what, n)
			continue
		}
		cxErr, _ := dlHeader(m, kafkaio.HeaderError)
		tenant, _ := dlHeader(m, kafkaio.HeaderTenant)
		stage, _ := dlHeader(m, kafkaio.HeaderStage)
		if !strings.HasPrefix(cxErr, r.probe.errField+": ") || !strings.Contains(cxErr, strs[r.str].rejected[r.probe.field]) ||
			tenant != h.tenantA || stage != "collector" {
			t.Errorf("%s: dead letter cx-error %.200q, tenant %q, stage %q", what, cxErr, tenant, stage)
		}
	}
	for _, rs := range accepted {
		for _, r := range rs {
			if _, n := deadLetterOf(dead, r.body); n != 0 {
				t.Errorf("%s in %s: accepted and dead-lettered", strs[r.str].name, r.probe.field)
			}
		}
	}

	// ClickHouse holds every accepted value verbatim, and no rejected one.
	var ids []string
	for _, rs := range accepted {
		for _, r := range rs {
			ids = append(ids, r.id)
		}
	}
	rows := h.waitRows(t, h.tenantA, ids)
	for _, r := range rejected {
		if _, ok := rows[r.id]; ok {
			t.Errorf("%s in %s: rejected but stored as %.80q", strs[r.str].name, r.probe.field, r.id)
		}
	}
	for _, rs := range accepted {
		for _, r := range rs {
			if err := r.probe.stored(rows[r.id], strs[r.str]); err != nil {
				t.Errorf("%s in %s: ClickHouse: %v", strs[r.str].name, r.probe.field, err)
			}
		}
	}

	// The Profile API: one profile per string, found by each identifier
	// the string became, holding exactly the accepted probes, each event
	// as it was sent, its timeline paged through one event at a time (the
	// cursor carries the hostile event ids).
	for i, hs := range strs {
		t.Run(hs.name, func(t *testing.T) {
			mine := accepted[i]
			p := h.profile(t, h.tokenA, fmt.Sprintf("device_id:hostile-%02d", i), int64(len(mine)))
			if p.Behavioral.Events != int64(len(mine)) {
				t.Errorf("profile has %d events, want the %d accepted probes", p.Behavioral.Events, len(mine))
			}
			wantIDs := map[string][]string{event.IDDeviceID: {fmt.Sprintf("hostile-%02d", i)}}
			wantTraits := map[string]string{}
			refs := []string{}
			for _, r := range mine {
				switch r.probe.field {
				case "userId":
					wantIDs[event.IDUserID] = []string{hs.idValue()}
					refs = append(refs, "user_id:"+hs.idValue())
				case "anonymousId":
					wantIDs[event.IDAnonymousID] = []string{hs.idValue()}
					refs = append(refs, "anonymous_id:"+hs.idValue())
				case "traits.email":
					wantIDs[event.IDEmail] = []string{strings.ToLower(hs.email())}
					wantTraits["email"] = hs.email()
					refs = append(refs, "email:"+hs.email()) // normalised by the look-up
				case "traits key":
					wantTraits[hs.s] = "v"
				case "traits value":
					wantTraits["probe_value"] = hs.s
				}
			}
			if !maps.EqualFunc(p.Identifiers, wantIDs, slices.Equal) {
				t.Errorf("identifiers %.300q, want %.300q", p.Identifiers, wantIDs)
			}
			traits := map[string]string{}
			for k, v := range p.Traits {
				var s string
				if err := json.Unmarshal(v, &s); err != nil {
					t.Errorf("trait %.80q = %.80s: %v", k, v, err)
				}
				traits[k] = s
			}
			if !maps.Equal(traits, wantTraits) {
				t.Errorf("traits %.300q, want %.300q", traits, wantTraits)
			}
			if e, ok := wantTraits["email"]; ok && p.Demographic.Email != e {
				t.Errorf("demographic.email %.80q, want %.80q", p.Demographic.Email, e)
			}
			for _, ref := range refs {
				var other profile.Profile
				code, body := apiGet(t, h.tokenA, h.base()+url.PathEscape(ref))
				if code != http.StatusOK || json.Unmarshal(body, &other) != nil || other.ProfileID != p.ProfileID {
					t.Errorf("GET %.80q: %d, profile %s, want %s", ref, code, other.ProfileID, p.ProfileID)
				}
			}

			events := h.timeline(t, h.tokenA, p.ProfileID, 1)
			got := make(map[string]storedEvent, len(events))
			for _, e := range events {
				if _, dup := got[e.EventID]; dup {
					t.Errorf("timeline pages give %.80q twice", e.EventID)
				}
				got[e.EventID] = e
			}
			if len(got) != len(mine) {
				t.Errorf("timeline has %d events, want %d", len(got), len(mine))
			}
			for _, r := range mine {
				e, ok := got[r.id]
				if !ok {
					t.Errorf("%s: event %.80q not in the timeline", r.probe.field, r.id)
					continue
				}
				if err := r.probe.stored(e, hs); err != nil {
					t.Errorf("%s: API: %v", r.probe.field, err)
				}
			}
		})
	}
}

// channel posts a help-desk webhook whose ticket subject, tag and
// requester name are the hostile strings, one record each.
func (h *hostileEnv) channel(t *testing.T) {
	strs := hostileStrings()
	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Second).Format(time.RFC3339)
	var records []any
	for i, hs := range strs {
		records = append(records, map[string]any{
			"event": "ticket.created", "occurred_at": at,
			"ticket": map[string]any{"id": 5000 + i, "subject": hs.s, "status": "new", "tags": []string{hs.s},
				"requester": map[string]any{"id": fmt.Sprintf("hd-%02d", i), "name": hs.s}},
		})
	}
	code, ans, err := post(h.cfg.Collector.Addr, "/v1/channels/helpdesk", h.keyCC, "application/json", mustMarshal(t, records))
	if err != nil || code != http.StatusOK || ans.Records != len(strs) || ans.Events != len(strs) {
		t.Fatalf("POST /v1/channels/helpdesk: %d %+v %v, want 200 with %d records and events", code, ans, err, len(strs))
	}
	for i, hs := range strs {
		p := h.profile(t, h.tokenA, fmt.Sprintf("helpdesk_id:hd-%02d", i), 1)
		var name string
		if err := json.Unmarshal(p.Traits["name"], &name); err != nil || name != hs.s || p.Demographic.Name != strings.TrimSpace(hs.s) {
			t.Errorf("%s: traits.name %.80s (%v), demographic.name %.80q; want the name verbatim, trimmed", hs.name, p.Traits["name"], err, p.Demographic.Name)
		}
		eventually(t, 30*time.Second, hs.name+": the ticket in the timeline", func() (bool, string) {
			events := h.timeline(t, h.tokenA, p.ProfileID, 10)
			if len(events) != 1 {
				return false, fmt.Sprintf("%d events", len(events))
			}
			e := events[0]
			if e.EventID != fmt.Sprintf("helpdesk-%d-ticket.created-%s", 5000+i, at) || e.Name != "Ticket Opened" {
				t.Fatalf("%s: event %q %q", hs.name, e.EventID, e.Name)
			}
			var props struct {
				Subject string   `json:"subject"`
				Tags    []string `json:"tags"`
			}
			if err := json.Unmarshal(e.Properties, &props); err != nil || props.Subject != hs.s || !slices.Equal(props.Tags, []string{hs.s}) {
				t.Errorf("%s: properties %.300s (%v), want subject and tag verbatim", hs.name, e.Properties, err)
			}
			return true, ""
		})
	}
}

// apiParameters puts injection strings into the Profile API's token,
// reference and query parameters.
func (h *hostileEnv) apiParameters(t *testing.T) {
	p := h.profile(t, h.tokenA, "device_id:hostile-00", 1)
	events := h.base() + p.ProfileID + "/events"
	for _, c := range []struct {
		name, url string
		code      int
		contains  string
	}{
		// A filter that an injection would turn true matches nothing.
		{"channel filter", events + "?channel=" + url.QueryEscape(`' OR '1'='1`), http.StatusOK, `"events":[]`},
		{"type filter", events + "?type=" + url.QueryEscape(`track' OR 1=1 --`), http.StatusOK, `"events":[]`},
		{"channel placeholder", events + "?channel=" + url.QueryEscape(`{tenant:String}`), http.StatusOK, `"events":[]`},
		{"cursor", events + "?cursor=" + url.QueryEscape(`' OR 1=1 --`), http.StatusBadRequest, "cursor is not one this server returned"},
		{"forged cursor", events + "?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("c1:x:' OR 1=1")), http.StatusBadRequest, "cursor is not one this server returned"},
		{"limit", events + "?limit=" + url.QueryEscape("1; DROP TABLE cx_events"), http.StatusBadRequest, "limit: must be a whole number"},
		{"from", events + "?from=" + url.QueryEscape("' OR 1=1"), http.StatusBadRequest, "from: must be an RFC 3339 time"},
		// A glob is no pattern: "*" is not a profile id, and user_id:*
		// finds the one profile whose user id is "*".
		{"glob as profile id", h.base() + "*", http.StatusNotFound, `no profile for \"*\"`},
		{"glob as identifier", h.base() + "user_id:" + url.PathEscape("tenant:*"), http.StatusOK, `"user_id":["tenant:*"]`},
		{"path traversal", h.base() + url.PathEscape("../../x"), http.StatusNotFound, ""},
		{"bad phone", h.base() + url.PathEscape("phone:' OR 1=1"), http.StatusBadRequest, "bad profile reference"},
	} {
		code, body := apiGet(t, h.tokenA, c.url)
		if code != c.code || !strings.Contains(string(body), c.contains) || (code != http.StatusOK && strings.Contains(string(body), "profile_id")) {
			t.Errorf("%s: GET %s: %d %.300s; want %d containing %q", c.name, c.url, code, body, c.code, c.contains)
		}
	}
	if code, body := apiGet(t, `' OR '1'='1`, h.base()+p.ProfileID); code != http.StatusUnauthorized {
		t.Errorf("injection as the bearer token: %d %.200s, want 401", code, body)
	}
}

// nested returns a JSON value nested depth levels deep: arrays ("[[...]]")
// or objects ({"n":{"n":...}}) around "bottom".
func nested(depth int, arrays bool) string {
	if arrays {
		return strings.Repeat("[", depth) + strings.Repeat("]", depth)
	}
	return strings.Repeat(`{"n":`, depth) + `"bottom"` + strings.Repeat("}", depth)
}

// wide returns a JSON object of n keys k0, k1, ... with value 0.
func wide(n int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":0`, i)
	}
	b.WriteByte('}')
	return b.String()
}

// deepAndWide sends nested and wide JSON. encoding/json, which every stage
// decodes with, refuses a document nested more than 10,000 levels deep;
// a message at that depth is accepted and must flow through every stage.
// Sizes are bounded by max_message_bytes (32 KiB) first.
func (h *hostileEnv) deepAndWide(t *testing.T) {
	type deepCase struct {
		name     string
		path     string
		key      string // the web write key when empty
		body     string
		code     int
		field    string // the field a 400 names
		contains string // in the problem's reason or the error
		// stored: the event id whose ClickHouse row must hold the value
		// (column properties or traits) byte for byte.
		id, column, value string
	}
	limitProps := `{"n":` + nested(9998, true) + `}`     // the message is 10,000 levels deep
	overProps := `{"n":` + nested(9999, true) + `}`      // 10,001
	limitTraits := `{"deep":` + nested(9998, true) + `}` // 10,000
	msg := func(fields string) string { return `{"anonymousId":"deep-json",` + fields + `}` }
	cases := []deepCase{
		{name: "properties nested 100 levels", path: "/v1/track", code: http.StatusOK,
			body: msg(`"messageId":"deep-100","event":"Deep","properties":` + nested(100, false)),
			id:   "deep-100", column: "properties", value: nested(100, false)},
		{name: "properties nested to the limit (message 10,000 levels)", path: "/v1/track", code: http.StatusOK,
			body: msg(`"messageId":"deep-limit","event":"Deep","properties":` + limitProps),
			id:   "deep-limit", column: "properties", value: limitProps},
		{name: "traits nested to the limit", path: "/v1/identify", code: http.StatusOK,
			body: msg(`"messageId":"deep-traits","traits":` + limitTraits),
			id:   "deep-traits", column: "traits", value: limitTraits},
		{name: "properties nested 10,000 levels (message 10,001)", path: "/v1/track", code: http.StatusBadRequest, contains: reasonDepth,
			body: msg(`"messageId":"deep-over","event":"Deep","properties":` + overProps)},
		{name: "properties of objects nested 10,000 levels (60 KB)", path: "/v1/track", code: http.StatusRequestEntityTooLarge, contains: "max_message_bytes",
			body: msg(`"messageId":"deep-objects","event":"Deep","properties":` + nested(10000, false))},
		// A group call's traits become the properties' "traits": one level
		// deeper in the envelope than in the message.
		{name: "group traits nested to the limit", path: "/v1/group", code: http.StatusBadRequest, field: "traits", contains: "nested more than 10000 levels",
			body: msg(`"messageId":"deep-group","groupId":"g-1","traits":` + limitTraits)},
		// A survey tool's NDJSON line becomes properties: its fields are
		// one level deeper in the envelope than in the line. The problem
		// names the envelope's field: no one record field fills it.
		{name: "survey NDJSON field nested to the limit", path: "/v1/channels/survey", key: "survey-" + h.suffix, code: http.StatusBadRequest,
			field: "properties", contains: "nested more than 10000 levels",
			body: `{"response_id":"r-deep","survey":"nps","score":5,"submitted_at":"` + time.Now().UTC().Format(time.RFC3339) +
				`","person":{"customer_id":"deep-survey"},"tags":` + nested(9999, true) + `}`},
		{name: "properties of 3,000 keys", path: "/v1/track", code: http.StatusOK,
			body: msg(`"messageId":"wide-props","event":"Wide","properties":` + wide(3000)),
			id:   "wide-props", column: "properties", value: wide(3000)},
		{name: "traits of 3,000 keys", path: "/v1/identify", code: http.StatusOK,
			body: msg(`"messageId":"wide-traits","traits":` + wide(3000)),
			id:   "wide-traits", column: "traits", value: wide(3000)},
		{name: "properties of 100,000 keys", path: "/v1/track", code: http.StatusRequestEntityTooLarge, contains: "max_message_bytes",
			body: msg(`"messageId":"wide-100k","event":"Wide","properties":` + wide(100000))},
		{name: "batch of one message of 100,000 keys", path: "/v1/batch", code: http.StatusRequestEntityTooLarge, contains: "max_batch_bytes",
			body: `{"batch":[` + msg(`"type":"track","messageId":"wide-100k-b","event":"Wide","properties":`+wide(100000)) + `]}`},
	}
	var stored []string
	dead := map[string][]byte{}
	for _, c := range cases {
		key, contentType := h.keyA, "application/json"
		if c.key != "" {
			key, contentType = c.key, "application/x-ndjson"
		}
		code, ans, err := post(h.cfg.Collector.Addr, c.path, key, contentType, []byte(c.body))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		switch {
		case code != c.code:
			t.Errorf("%s: %d %.300s, want %d", c.name, code, mustJSON(ans), c.code)
		case code == http.StatusOK:
			stored = append(stored, c.id)
		case code == http.StatusBadRequest:
			if len(ans.Errors) != 1 || ans.Errors[0].Field != c.field || !strings.Contains(ans.Errors[0].Reason, c.contains) {
				t.Errorf("%s: %.300s, want one problem of field %q saying %q", c.name, mustJSON(ans), c.field, c.contains)
			}
			dead[c.name] = []byte(c.body)
		case !strings.Contains(ans.Error, c.contains):
			t.Errorf("%s: error %q, want %q", c.name, ans.Error, c.contains)
		}
		t.Logf("%s (%d bytes): %d %.160s", c.name, len(c.body), code, strings.TrimSpace(mustJSON(ans)))
	}
	all := h.deadLetters(t)
	for name, body := range dead {
		if m, n := deadLetterOf(all, body); n != 1 {
			t.Errorf("%s: %d dead letters, want 1", name, n)
		} else if stage, _ := dlHeader(m, kafkaio.HeaderStage); stage != "collector" {
			t.Errorf("%s: dead-lettered by the %s", name, stage)
		}
	}

	// Accepted values reach ClickHouse byte for byte, through the resolver
	// and the sink; the profile holds the deep and the wide traits.
	rows := h.waitRows(t, h.tenantA, stored)
	for _, c := range cases {
		if c.id == "" {
			continue
		}
		// Properties pass through byte for byte; traits are a map of
		// values, each kept byte for byte, with the keys sorted.
		got := map[string]json.RawMessage{"properties": rows[c.id].Properties, "traits": rows[c.id].Traits}[c.column]
		var gotTraits, wantTraits map[string]json.RawMessage
		switch {
		case c.column == "properties" && string(got) != c.value:
			t.Errorf("%s: cx_events.properties is %d bytes %.100s..., want the %d bytes sent", c.name, len(got), got, len(c.value))
		case c.column == "traits" && (json.Unmarshal(got, &gotTraits) != nil || json.Unmarshal([]byte(c.value), &wantTraits) != nil ||
			!maps.EqualFunc(gotTraits, wantTraits, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) })):
			t.Errorf("%s: cx_events.traits is %d bytes %.100s..., want the %d traits sent", c.name, len(got), got, len(wantTraits))
		}
	}
	p := h.profile(t, h.tokenA, "anonymous_id:deep-json", int64(len(stored)))
	if p.Behavioral.Events != int64(len(stored)) || string(p.Traits["deep"]) != nested(9998, true) || len(p.Traits) != 3001 {
		t.Errorf("profile: %d events, traits.deep %d bytes, %d traits; want %d events, the deep trait, 3,001 traits",
			p.Behavioral.Events, len(p.Traits["deep"]), len(p.Traits), len(stored))
	}
	// The timeline page holding the deepest properties is 10,002 levels
	// deep: more than encoding/json decodes, so it is checked as bytes.
	code, body := apiGet(t, h.tokenA, h.base()+p.ProfileID+"/events?limit=1000")
	if code != http.StatusOK || !bytes.Contains(body, []byte(`"properties":`+limitProps)) || !bytes.HasSuffix(body, []byte("}\n")) {
		t.Errorf("timeline: %d, %d bytes, want 200 with the deepest properties verbatim", code, len(body))
	}
	// The snapshot of the profile, from cx.profiles, holds the deep trait.
	eventually(t, 30*time.Second, "profile snapshot with the deep trait", func() (bool, string) {
		var n uint64
		h.query(t, &n, "SELECT count() FROM cx_profile_snapshots WHERE tenant = ? AND profile_id = ? AND position(profile, ?) > 0",
			h.tenantA, p.ProfileID, `"deep":`+nested(9998, true))
		return n > 0, fmt.Sprintf("%d snapshots", n)
	})

	// The process is up and events still flow.
	resp, err := http.Get("http://" + h.cfg.Telemetry.Addr + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz after the deep input: %v %v", resp, err)
	}
	resp.Body.Close()
	if code, ans, err := post(h.cfg.Collector.Addr, "/v1/track", h.keyA, "application/json",
		[]byte(`{"messageId":"after-deep","anonymousId":"after-deep","event":"Still Flowing"}`)); err != nil || code != http.StatusOK {
		t.Fatalf("after the deep input: %d %+v %v", code, ans, err)
	}
	h.profile(t, h.tokenA, "anonymous_id:after-deep", 1)

	// The collector and the resolver judge alike: of everything sent so
	// far, the resolver dead-lettered nothing (a group call's deep traits
	// were accepted with 200 and then dead-lettered by the resolver as
	// malformed JSON before the depth check in event.Prepare).
	for _, m := range h.deadLetters(t) {
		if stage, _ := dlHeader(m, kafkaio.HeaderStage); stage != "collector" {
			cxErr, _ := dlHeader(m, kafkaio.HeaderError)
			t.Errorf("dead letter of the %s (%d bytes): %s", stage, len(m.Value), cxErr)
		}
	}
}

// envelope is a direct producer's track envelope.
func envelope(t *testing.T, id, tenant, name string, ids ...string) []byte {
	t.Helper()
	now := time.Now().UTC()
	var list []map[string]string
	for i := 0; i+1 < len(ids); i += 2 {
		list = append(list, map[string]string{"type": ids[i], "value": ids[i+1]})
	}
	return mustMarshal(t, map[string]any{
		"event_id": id, "tenant": tenant, "channel": "backend", "type": "track", "name": name,
		"event_time": now.Add(-time.Minute).Format(time.RFC3339Nano), "received_at": now.Format(time.RFC3339Nano),
		"identifiers": list, "properties": map[string]any{"secret": tenant + "-only"},
	})
}

// wrongTenants writes and reads across tenants: A's customer and B's share a
// user id, an email and an event id.
func (h *hostileEnv) wrongTenants(t *testing.T, beaID string) {
	addr := h.cfg.Collector.Addr
	send := func(path, key string, m map[string]any) {
		t.Helper()
		if code, a, err := post(addr, path, key, "application/json", mustMarshal(t, m)); err != nil || code != http.StatusOK {
			t.Fatalf("POST %s: %d %+v %v", path, code, a, err)
		}
	}
	send("/v1/identify", h.keyA, map[string]any{"messageId": "shared-1", "userId": "shared-user",
		"traits": map[string]any{"email": "shared@example.com", "name": "Ann"}})
	send("/v1/track", h.keyA, map[string]any{"messageId": "shared-a-2", "userId": "shared-user", "event": "Ann Only"})
	// (a) A's write key; the body claims tenant B in every way a body can.
	send("/v1/track", h.keyA, map[string]any{"messageId": "claims-b", "userId": "shared-user", "event": "Claims B",
		"tenant": h.tenantB, "writeKey": h.keyB, "context": map[string]any{"tenant": h.tenantB},
		"properties": map[string]any{"tenant": h.tenantB}})

	// (c) A direct producer writes for tenant B with A's customer's
	// identifiers, and a phone only B knows. (d) Then envelopes whose
	// tenant holds key separators, globs or paths, and a valid one for A
	// behind them on the same partition.
	badTenants := []string{"a:b", "a*", "../x", "{x}", h.tenantA + "}:x", strings.ToUpper(h.tenantA), h.tenantA + " ", "*"}
	key := []byte("user_id:shared-user")
	msgs := []kafka.Message{{Key: key, Value: envelope(t, "shared-direct", h.tenantB, "Direct B",
		"user_id", "shared-user", "email", "shared@example.com", "phone", "+4915100000001")}}
	bad := map[string][]byte{}
	for i, tn := range badTenants {
		v := envelope(t, fmt.Sprintf("bad-tenant-%d", i), tn, "Bad Tenant", "user_id", "shared-user")
		bad[tn] = v
		msgs = append(msgs, kafka.Message{Key: key, Value: v})
	}
	msgs = append(msgs, kafka.Message{Key: key, Value: envelope(t, "after-bad-tenants", h.tenantA, "After", "user_id", "shared-user")})
	for i := range msgs {
		msgs[i].Topic = h.cfg.Kafka.Topics.Interactions
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.kw.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	wantA := []string{"after-bad-tenants", "claims-b", "shared-1", "shared-a-2"}
	wantB := []string{"shared-1", "shared-direct"}
	ann := h.profile(t, h.tokenA, "user_id:shared-user", int64(len(wantA)))
	bea := h.profile(t, h.tokenB, "user_id:shared-user", int64(len(wantB)))
	rowsA := h.waitRows(t, h.tenantA, wantA)
	rowsB := h.waitRows(t, h.tenantB, wantB)

	t.Run("a: a body claiming another tenant is stored under the write key's", func(t *testing.T) {
		c := rowsA["claims-b"]
		if err := wantMember("context", c.Context, []string{"tenant"}, h.tenantB); err != nil {
			t.Errorf("claims-b: the claim is kept as data: %v", err)
		}
		if _, ok := rowsB["claims-b"]; ok {
			t.Error("claims-b stored under tenant B")
		}
	})
	t.Run("b: a token reads its own tenant only", func(t *testing.T) {
		if ann.ProfileID == bea.ProfileID || ann.Tenant != h.tenantA || bea.Tenant != h.tenantB {
			t.Fatalf("A's profile %s (%s), B's %s (%s)", ann.ProfileID, ann.Tenant, bea.ProfileID, bea.Tenant)
		}
		if _, ok := ann.Identifiers["phone"]; ok || ann.Behavioral.Events != int64(len(wantA)) {
			t.Errorf("A's profile: identifiers %v, %d events; want no phone, %d events", ann.Identifiers, ann.Behavioral.Events, len(wantA))
		}
		for _, ref := range []string{"phone:+4915100000001", bea.ProfileID, bea.ProfileID + "/events", bea.ProfileID + "/identity", beaID} {
			code, body := apiGet(t, h.tokenA, h.base()+ref)
			var answer map[string]any
			if code != http.StatusNotFound || json.Unmarshal(body, &answer) != nil || len(answer) != 1 || answer["error"] == nil ||
				bytes.Contains(body, []byte("Direct B")) || bytes.Contains(body, []byte("Bea")) {
				t.Errorf("A's token, GET %s: %d %s; want 404 with an error only", ref, code, body)
			}
		}
		if code, body := apiGet(t, h.tokenB, h.base()+ann.ProfileID); code != http.StatusNotFound {
			t.Errorf("B's token, GET A's profile: %d %.200s", code, body)
		}
		for token, want := range map[string][]string{h.tokenA: wantA, h.tokenB: wantB} {
			id := map[string]string{h.tokenA: ann.ProfileID, h.tokenB: bea.ProfileID}[token]
			var got []string
			for _, e := range h.timeline(t, token, id, 100) {
				got = append(got, e.EventID)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("timeline of %s: %q, want %q", id, got, want)
			}
		}
	})
	t.Run("c: the same identifiers in two tenants are two profiles", func(t *testing.T) {
		ids := map[string][]string{"email": {"shared@example.com"}, "phone": {"+4915100000001"}, "user_id": {"shared-user"}}
		if !maps.EqualFunc(bea.Identifiers, ids, slices.Equal) || bea.Behavioral.Events != 2 || len(bea.MergedFrom) != 0 {
			t.Errorf("B's profile: identifiers %v, %d events, merged %v", bea.Identifiers, bea.Behavioral.Events, bea.MergedFrom)
		}
		if bea.ProfileID != beaID {
			t.Errorf("B's profile is %s, was %s", bea.ProfileID, beaID)
		}
		// One event id in two tenants: two events, each with its own data.
		if len(rowsB) != len(wantB) {
			t.Errorf("cx_events: B has %d rows, want %d", len(rowsB), len(wantB))
		}
		if err := wantMember("traits", rowsA["shared-1"].Traits, []string{"name"}, "Ann"); err != nil {
			t.Errorf("A's shared-1: %v", err)
		}
		if err := wantMember("traits", rowsB["shared-1"].Traits, []string{"name"}, "Bea"); err != nil {
			t.Errorf("B's shared-1: %v", err)
		}
	})
	t.Run("d: a tenant with key separators or globs is dead-lettered", func(t *testing.T) {
		var dead []kafka.Message
		eventually(t, 30*time.Second, "dead letters of the bad tenants", func() (bool, string) {
			dead = h.deadLetters(t)
			n := 0
			for _, v := range bad {
				if _, c := deadLetterOf(dead, v); c > 0 {
					n++
				}
			}
			return n == len(bad), fmt.Sprintf("%d of %d", n, len(bad))
		})
		for tn, v := range bad {
			m, n := deadLetterOf(dead, v)
			cxErr, _ := dlHeader(m, kafkaio.HeaderError)
			stage, _ := dlHeader(m, kafkaio.HeaderStage)
			tenant, has := dlHeader(m, kafkaio.HeaderTenant)
			if n != 1 || !strings.Contains(cxErr, reasonTenant) || stage != "resolver" || has {
				t.Errorf("tenant %q: %d dead letters, cx-error %q, stage %q, cx-tenant %q", tn, n, cxErr, stage, tenant)
			}
			for _, k := range []string{"meta", "idx"} {
				if n, err := h.rdb.Exists(context.Background(), "cx:{"+tn+"}:"+k).Result(); err != nil || n != 0 {
					t.Errorf("tenant %q: Redis key %s exists (%d, %v)", tn, k, n, err)
				}
			}
		}
	})
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// equalJSON compares two values by their JSON.
func equalJSON(a, b any) bool { return mustJSON(a) == mustJSON(b) }
