package collect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
)

// channelNow is when channel requests are received in tests: after every
// sample's events.
var channelNow = time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)

func newChannelCollector(t *testing.T, pub Publisher) *Collector {
	t.Helper()
	c, _ := newTestCollector(t, channelConfig(), pub)
	c.now = func() time.Time { return channelNow }
	return c
}

// channelConfig has a write key for every built-in mapping's channel.
func channelConfig() Config {
	cfg := testConfig()
	for _, ch := range []string{"call_center", "email", "survey", "social"} {
		cfg.WriteKeys = append(cfg.WriteKeys, WriteKey{Key: "wk-" + ch, Tenant: "acme", Channel: ch})
	}
	return cfg
}

func sample(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "schemas", "mappings", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func postChannel(t *testing.T, h http.Handler, target, key, contentType string, body []byte, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	if key != "" {
		r.SetBasicAuth(key, "")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestChannelSamples posts every shipped sample to its channel endpoint:
// each record's events are published, keyed by their strongest identifier,
// and the answer counts records, events and skipped records.
func TestChannelSamples(t *testing.T) {
	tests := []struct {
		file, mapping, key, contentType string
		records, events, skipped        int
	}{
		{"pos.ndjson", "pos", "wk-store", "application/x-ndjson", 3, 3, 0},
		{"pos.csv", "pos", "wk-store", "text/csv", 3, 3, 0},
		{"helpdesk.json", "helpdesk", "wk-call_center", "application/json", 3, 3, 0},
		{"email.json", "email", "wk-email", "", 7, 5, 2},
		{"survey.json", "survey", "wk-survey", "application/json; charset=utf-8", 3, 3, 0},
		{"social.json", "social", "wk-social", "application/json", 3, 2, 1},
	}
	policy, err := identity.DefaultRules().Compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			pub := &fakePublisher{}
			c := newChannelCollector(t, pub)
			w := postChannel(t, c.Handler(), "/v1/channels/"+tt.mapping, tt.key, tt.contentType, sample(t, tt.file))
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			var got channelAnswer
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if want := (channelAnswer{true, tt.records, tt.events, tt.skipped}); got != want {
				t.Errorf("answer %+v, want %+v", got, want)
			}
			msgs := pub.published()
			if len(msgs) != tt.events || len(pub.calls) != 1 {
				t.Fatalf("%d messages in %d calls, want %d in 1", len(msgs), len(pub.calls), tt.events)
			}
			for _, m := range msgs {
				e, err := event.Decode(m.Value)
				if err != nil {
					t.Fatal(err)
				}
				if m.Topic != kafkaio.DefaultTopics().Interactions || e.Tenant != "acme" || e.ReceivedAt != channelNow {
					t.Errorf("message on %s: tenant %s received %v", m.Topic, e.Tenant, e.ReceivedAt)
				}
				if err := event.Prepare(e, event.DefaultLimits()); err != nil {
					t.Errorf("published envelope fails validation: %v", err)
				}
				if id, _ := policy.Strongest(e.Identifiers); string(m.Key) != id.String() {
					t.Errorf("key %q, want the strongest identifier %s", m.Key, id)
				}
			}
		})
	}
}

// TestChannelSameResultAsImport: the HTTP endpoint and the importer make
// the same envelopes of the same records (one judgement for both ways in).
func TestChannelSameResultAsImport(t *testing.T) {
	pub := &fakePublisher{}
	c := newChannelCollector(t, pub)
	body := sample(t, "pos.csv")
	if w := postChannel(t, c.Handler(), "/v1/channels/pos", "wk-store", "text/csv", body); w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	imp := &fakePublisher{}
	im := newTestImporter(t, "pos", imp)
	if _, err := im.Import(t.Context(), "pos.csv", "csv", bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	a, b := pub.published(), imp.published()
	if len(a) != 3 || len(a) != len(b) {
		t.Fatalf("%d and %d messages", len(a), len(b))
	}
	for i := range a {
		if string(a[i].Key) != string(b[i].Key) || !bytes.Equal(a[i].Value, b[i].Value) {
			t.Errorf("message %d differs:\n%s %s\n%s %s", i, a[i].Key, a[i].Value, b[i].Key, b[i].Value)
		}
	}
}

func TestChannelRejections(t *testing.T) {
	pub := &fakePublisher{}
	c := newChannelCollector(t, pub)
	h := c.Handler()
	known := strings.Join(c.mappings.Names(), ", ")
	tests := []struct {
		name, target, key, contentType, body string
		code                                 int
		reason                               string
	}{
		{"unknown mapping", "/v1/channels/fax", "wk-store", "", `{}`, 404, `unknown mapping "fax" (known: ` + known + `)`},
		{"no key", "/v1/channels/pos", "", "", `{}`, 401, "missing write key"},
		{"unknown key", "/v1/channels/pos", "nope", "", `{}`, 401, "unknown write key"},
		{"unknown query key", "/v1/channels/pos?write_key=nope", "", "", `{}`, 401, "unknown write key"},
		{"web key for store", "/v1/channels/pos", "wk-web", "", `{}`, 403, "this write key is for channel web; mapping pos writes channel store"},
		{"xml", "/v1/channels/pos", "wk-store", "application/xml", `<a/>`, 415, "unsupported Content-Type"},
		{"too large", "/v1/channels/pos", "wk-store", "", `[` + strings.Repeat(`{"a":1},`, 70000) + `{}]`, 413, "max_batch_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := len(pub.published())
			w := postChannel(t, h, tt.target, tt.key, tt.contentType, []byte(tt.body))
			if w.Code != tt.code || !strings.Contains(decodeError(t, w).Error, tt.reason) {
				t.Errorf("status %d %s, want %d %q", w.Code, w.Body, tt.code, tt.reason)
			}
			if len(pub.published()) != n {
				t.Error("something was published")
			}
		})
	}
}

// TestChannelBadRecords: a body with good and bad records publishes the
// good ones, dead-letters each bad one with its original bytes and where it
// was, and answers 400 naming each bad record's index, line and field.
func TestChannelBadRecords(t *testing.T) {
	pub := &fakePublisher{}
	c := newChannelCollector(t, pub)
	csv := "kind,receipt_id,store_id,completed_at,loyalty_card,total\n" +
		"sale,R-1,S1,2026-02-27 10:00:00,LC-1,10.00\n" +
		"sale,R-2,S1,2026-02-27 10:05:00,LC-2,\"1,5\"\n" +
		"sale,R-3,S1,2026-02-27 10:06:00,,3\n" +
		"sale,R-4,S1,2026-02-27 10:07:00,LC-4,4\n"
	w := postChannel(t, c.Handler(), "/v1/channels/pos?write_key=wk-store", "", "text/csv", gzipBytes(t, []byte(csv)), "Content-Encoding", "gzip")
	if w.Code != http.StatusBadRequest {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	got := decodeError(t, w)
	want := `{"error":"2 of 4 records rejected, 2 accepted, 0 skipped","accepted":2,"errors":[` +
		`{"index":1,"line":3,"field":"total","reason":"\"1,5\" is not a number (write it like 12.50) (for properties.revenue)"},` +
		`{"index":2,"line":4,"field":"loyalty_card, email, phone","reason":"the record has none of these identifiers; at least one is required"}]}`
	if b, _ := json.Marshal(got); string(b) != want {
		t.Errorf("answer\n%s\nwant\n%s", b, want)
	}
	msgs := pub.published()
	var envelopes, dead []kafka.Message
	for _, m := range msgs {
		if m.Topic == kafkaio.DefaultTopics().DeadLetter {
			dead = append(dead, m)
		} else {
			envelopes = append(envelopes, m)
		}
	}
	if len(envelopes) != 2 || len(dead) != 2 {
		t.Fatalf("%d envelopes, %d dead letters", len(envelopes), len(dead))
	}
	wantDead := []struct{ value, index, line, errText string }{
		{`sale,R-2,S1,2026-02-27 10:05:00,LC-2,"1,5"`, "1", "3", `total: "1,5" is not a number`},
		{`sale,R-3,S1,2026-02-27 10:06:00,,3`, "2", "4", "loyalty_card, email, phone: the record has none"},
	}
	for i, d := range dead {
		wd := wantDead[i]
		h := map[string]string{}
		for _, x := range d.Headers {
			h[x.Key] = string(x.Value)
		}
		if string(d.Value) != wd.value || h[headerRecordIndex] != wd.index || h[headerRecordLine] != wd.line ||
			!strings.HasPrefix(h[kafkaio.HeaderError], wd.errText) || h[headerMapping] != "pos" || h[headerChannel] != "store" ||
			h[headerCSVHeader] != "kind,receipt_id,store_id,completed_at,loyalty_card,total" || h[kafkaio.HeaderStage] != "collector" ||
			h[kafkaio.HeaderTenant] != "acme" || h[headerEndpoint] != "/v1/channels/pos" {
			t.Errorf("dead letter %d: %s %v", i, d.Value, h)
		}
	}

	// A body that cannot be read as a whole is dead-lettered whole.
	pub2 := &fakePublisher{}
	c2 := newChannelCollector(t, pub2)
	w = postChannel(t, c2.Handler(), "/v1/channels/helpdesk", "wk-call_center", "application/json", []byte(`[{"event":`))
	if w.Code != http.StatusBadRequest || !strings.Contains(decodeError(t, w).Error, "unreadable json body: the body is not a JSON array of records") {
		t.Errorf("status %d %s", w.Code, w.Body)
	}
	if d := pub2.published(); len(d) != 1 || string(d[0].Value) != `[{"event":` || header(d[0], headerMapping) != "helpdesk" {
		t.Errorf("dead letters %v", d)
	}
}

// TestChannelOversizedRecord: a record over max_message_bytes is rejected,
// and its dead letter, cut to the limit, says how large it was.
func TestChannelOversizedRecord(t *testing.T) {
	pub := &fakePublisher{}
	c := newChannelCollector(t, pub)
	big := `{"kind":"sale","note":"` + strings.Repeat("x", 40<<10) + `"}`
	w := postChannel(t, c.Handler(), "/v1/channels/pos", "wk-store", "application/x-ndjson", []byte(big+"\n"))
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "larger than 32768") {
		t.Fatalf("status %d %s", w.Code, w.Body)
	}
	d := pub.published()
	if len(d) != 1 || len(d[0].Value) != 32<<10 || header(d[0], headerTruncated) != strconv.Itoa(len(big)) || header(d[0], headerRecordLine) != "1" {
		t.Errorf("dead letter of %d bytes, headers %v", len(d[0].Value), d[0].Headers)
	}
	if n := strings.Count(fmt.Sprint(d[0].Headers), headerChannel); n != 1 {
		t.Errorf("%s %d times in %v", headerChannel, n, d[0].Headers)
	}
}
