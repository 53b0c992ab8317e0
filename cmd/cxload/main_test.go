package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pkg/synth"
)

// batchBody is what the collector's /v1/batch receives.
type batchBody struct {
	Batch  []map[string]any `json:"batch"`
	SentAt string           `json:"sentAt"`
}

// received is one request as the fake collector saw it.
type received struct {
	user, password string
	authOK         bool
	path, method   string
	contentType    string
	body           batchBody
	decodeErr      error
}

// collector is a fake cxstream collector (our own HTTP API, not a backing
// service): it records every request and answers what answer says for the
// n-th request (from 0), or 200.
type collector struct {
	mu       sync.Mutex
	requests []received
	answer   func(n int, r received) (status int, body string)
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rec received
	rec.user, rec.password, rec.authOK = r.BasicAuth()
	rec.path, rec.method, rec.contentType = r.URL.Path, r.Method, r.Header.Get("Content-Type")
	b, _ := io.ReadAll(r.Body)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	rec.decodeErr = dec.Decode(&rec.body)
	c.mu.Lock()
	n := len(c.requests)
	c.requests = append(c.requests, rec)
	c.mu.Unlock()
	status, body := http.StatusOK, `{}`
	if c.answer != nil {
		status, body = c.answer(n, rec)
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (c *collector) received() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.requests...)
}

func population(t *testing.T, people int) synth.Population {
	t.Helper()
	cfg := synth.Default()
	cfg.People = people
	cfg.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pop := synth.Generate(cfg)
	if len(pop.Messages) == 0 {
		t.Fatal("synth generated no messages")
	}
	return pop
}

func messageID(t *testing.T, m map[string]any) string {
	t.Helper()
	id, ok := m["messageId"].(string)
	if !ok || id == "" {
		t.Fatalf("message without messageId: %v", m)
	}
	return id
}

func TestPost(t *testing.T) {
	msgs := population(t, 3).Messages[:3]
	tests := []struct {
		name     string
		answer   func(n int, r received) (int, string)
		cancel   bool
		wantErr  string // "" for success
		requests int
		accepted int // when wantErr is set
	}{
		{name: "accepted", requests: 1},
		{
			name: "client error is not retried",
			answer: func(int, received) (int, string) {
				return http.StatusBadRequest, "  invalid batch: item 2 has no type\n"
			},
			wantErr:  "collector answered 400: invalid batch: item 2 has no type",
			requests: 1,
		},
		{
			name: "a batch accepted in part",
			answer: func(int, received) (int, string) {
				return http.StatusBadRequest, `{"error":"1 of 3 messages rejected, 2 accepted","accepted":2,"errors":[{"index":2,"field":"timestamp","reason":"in the future"}]}`
			},
			wantErr:  "collector answered 400",
			requests: 1,
			accepted: 2,
		},
		{
			name:     "unauthorized is not retried",
			answer:   func(int, received) (int, string) { return http.StatusUnauthorized, "unknown write key" },
			wantErr:  "401: unknown write key",
			requests: 1,
		},
		{
			name: "unavailable twice, then accepted",
			answer: func(n int, _ received) (int, string) {
				if n < 2 {
					return http.StatusServiceUnavailable, "kafka unavailable"
				}
				return http.StatusOK, "{}"
			},
			requests: 3,
		},
		{
			name:     "cancelled context stops at once",
			answer:   func(int, received) (int, string) { return http.StatusServiceUnavailable, "" },
			cancel:   true,
			wantErr:  "context canceled",
			requests: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &collector{answer: tt.answer}
			srv := httptest.NewServer(c)
			defer srv.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			accepted, err := post(ctx, srv.Client(), srv.URL, "web-key", msgs)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("post: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("post: error %v, want one containing %q", err, tt.wantErr)
			}
			if want := map[bool]int{true: len(msgs), false: tt.accepted}[tt.wantErr == ""]; accepted != want {
				t.Errorf("post accepted %d, want %d", accepted, want)
			}
			reqs := c.received()
			if len(reqs) != tt.requests {
				t.Fatalf("collector got %d requests, want %d", len(reqs), tt.requests)
			}
			for i, r := range reqs {
				checkRequest(t, r, "web-key", msgs)
				// Retries resend the same body, so the collector can
				// recognise the messageIds.
				if i > 0 && r.body.SentAt != reqs[0].body.SentAt {
					t.Errorf("request %d sentAt %s, want the first request's %s", i, r.body.SentAt, reqs[0].body.SentAt)
				}
			}
		})
	}
}

// checkRequest checks one /v1/batch request: method, path, Basic auth with
// the write key as user name, and a {"batch": [...], "sentAt": ...} body
// holding msgs in order.
func checkRequest(t *testing.T, r received, key string, msgs []synth.Message) {
	t.Helper()
	if r.method != http.MethodPost || r.path != "/v1/batch" {
		t.Errorf("request %s %s, want POST /v1/batch", r.method, r.path)
	}
	if !r.authOK || r.user != key || r.password != "" {
		t.Errorf("basic auth (%q, %q, ok %v), want user %q and no password", r.user, r.password, r.authOK, key)
	}
	if r.contentType != "application/json" {
		t.Errorf("Content-Type %q, want application/json", r.contentType)
	}
	if r.decodeErr != nil {
		t.Fatalf("body is not {batch, sentAt}: %v", r.decodeErr)
	}
	if _, err := time.Parse(time.RFC3339Nano, r.body.SentAt); err != nil {
		t.Errorf("sentAt %q: want an RFC 3339 time: %v", r.body.SentAt, err)
	}
	if len(r.body.Batch) != len(msgs) {
		t.Fatalf("batch of %d messages, want %d", len(r.body.Batch), len(msgs))
	}
	for i, m := range msgs {
		var want map[string]any
		if err := json.Unmarshal(m.JSON(), &want); err != nil {
			t.Fatal(err)
		}
		if got := r.body.Batch[i]; messageID(t, got) != messageID(t, want) || got["type"] != want["type"] {
			t.Errorf("batch[%d] = %v, want %v", i, got, want)
		}
	}
}

func channelKeys() map[string]string {
	keys := map[string]string{}
	for _, ch := range synth.Channels {
		keys[ch] = "key-" + ch
	}
	return keys
}

func TestSend(t *testing.T) {
	pop := population(t, 20)
	channelOf := map[string]string{} // messageId -> channel
	perChannel := map[string]int{}
	for _, m := range pop.Messages {
		var body map[string]any
		if err := json.Unmarshal(m.JSON(), &body); err != nil {
			t.Fatal(err)
		}
		channelOf[messageID(t, body)] = m.Channel
		perChannel[m.Channel]++
	}
	if len(perChannel) < 2 {
		t.Fatalf("population uses %d channels; the test needs several", len(perChannel))
	}
	tests := []struct {
		name        string
		batch       int
		concurrency int
		reject      string // channel whose batches the collector refuses
		partial     string // channel whose batches the collector accepts but for the last item
	}{
		{"batches of one", 1, 1, "", ""},
		{"batches of seven, four in flight", 7, 4, "", ""},
		{"one batch per channel", len(pop.Messages), 2, "", ""},
		{"a refused channel counts as failed", 5, 3, "store", ""},
		{"items refused from a batch count as failed", 5, 3, "", "web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &collector{answer: func(_ int, r received) (int, string) {
				switch r.user {
				case "key-" + tt.reject:
					return http.StatusBadRequest, "refused"
				case "key-" + tt.partial:
					n := len(r.body.Batch)
					return http.StatusBadRequest, fmt.Sprintf(`{"error":"1 of %d messages rejected","accepted":%d,"errors":[{"index":%d,"reason":"bad"}]}`, n, n-1, n-1)
				}
				return http.StatusOK, "{}"
			}}
			srv := httptest.NewServer(c)
			defer srv.Close()
			o := options{collector: srv.URL, batch: tt.batch, concurrency: tt.concurrency}
			sent, failed := send(context.Background(), o, channelKeys(), pop)

			if tt.reject != "" && perChannel[tt.reject] == 0 {
				t.Fatalf("population has no %s messages to refuse", tt.reject)
			}
			wantFailed := int64(perChannel[tt.reject])
			if tt.partial != "" {
				wantFailed = int64((perChannel[tt.partial] + tt.batch - 1) / tt.batch) // one per batch
			}
			if sent != int64(len(pop.Messages))-wantFailed || failed != wantFailed {
				t.Errorf("send = (sent %d, failed %d), want (%d, %d)", sent, failed, int64(len(pop.Messages))-wantFailed, wantFailed)
			}
			// Full batches per channel, then one with the rest.
			wantRequests := 0
			for _, n := range perChannel {
				wantRequests += (n + tt.batch - 1) / tt.batch
			}
			reqs := c.received()
			if len(reqs) != wantRequests {
				t.Errorf("collector got %d requests, want %d", len(reqs), wantRequests)
			}
			seen := map[string]int{}
			for _, r := range reqs {
				if r.decodeErr != nil {
					t.Fatalf("bad body: %v", r.decodeErr)
				}
				if n := len(r.body.Batch); n == 0 || n > tt.batch {
					t.Errorf("batch of %d messages, want 1 to %d", n, tt.batch)
				}
				for _, m := range r.body.Batch {
					id := messageID(t, m)
					seen[id]++
					if ch := channelOf[id]; r.user != "key-"+ch {
						t.Errorf("message %s of channel %q sent with key %q", id, ch, r.user)
					}
				}
			}
			for id := range channelOf {
				if seen[id] != 1 {
					t.Errorf("message %s sent %d times, want once", id, seen[id])
				}
			}
			if len(seen) != len(channelOf) {
				t.Errorf("collector saw %d distinct messages, want %d", len(seen), len(channelOf))
			}
		})
	}
}

// writeKeysConfig writes a cxstream configuration whose collector has a
// write key for each of channels, for tenant.
func writeKeysConfig(t *testing.T, tenant string, channels []string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("collector:\n  write_keys:\n")
	for _, ch := range channels {
		fmt.Fprintf(&b, "    - {key: %s-%s-key, tenant: %s, channel: %s}\n", tenant, ch, tenant, ch)
	}
	path := filepath.Join(t.TempDir(), "cxstream.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRun(t *testing.T) {
	t.Setenv("CXSTREAM_CONFIG", "")
	for _, name := range pipeline.EnvVars() {
		t.Setenv(name, "")
	}
	without := func(drop string) []string {
		var chs []string
		for _, ch := range synth.Channels {
			if ch != drop {
				chs = append(chs, ch)
			}
		}
		return chs
	}
	tests := []struct {
		name    string
		config  string
		tenant  string
		wantErr string // "" for success
	}{
		{"every channel has a key", writeKeysConfig(t, "demo", synth.Channels), "demo", ""},
		{"a channel without a key", writeKeysConfig(t, "demo", without("survey")), "demo", `no write key for tenant "demo" channel "survey"`},
		{"keys of another tenant", writeKeysConfig(t, "other", synth.Channels), "demo", `no write key for tenant "demo" channel "web"`},
		{"invalid configuration", writeKeysConfig(t, "demo", nil), "demo", "collector.write_keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				io.Copy(io.Discard, r.Body)
			}))
			defer srv.Close()
			truth := filepath.Join(t.TempDir(), "truth.jsonl")
			var stdout bytes.Buffer
			err := run(context.Background(), []string{"-config", tt.config, "-tenant", tt.tenant,
				"-collector", srv.URL, "-people", "10", "-truth", truth}, &stdout)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("run: error %v, want one containing %q", err, tt.wantErr)
				}
				if n := requests.Load(); n != 0 {
					t.Errorf("run sent %d requests before failing on its configuration", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if requests.Load() == 0 {
				t.Error("run sent nothing")
			}
			if !strings.Contains(stdout.String(), "people=10 ") || !strings.Contains(stdout.String(), " failed=0 ") {
				t.Errorf("summary %q, want people=10 and failed=0", stdout.String())
			}
			b, err := os.ReadFile(truth)
			if err != nil {
				t.Fatalf("ground truth: %v", err)
			}
			if n := strings.Count(string(b), "\n"); n != 10 {
				t.Errorf("ground truth has %d lines, want one per person (10)", n)
			}
		})
	}
}

// With a population larger than -chunk, run generates and sends it chunk
// by chunk: the collector gets exactly the messages of the population's
// chunks, and the ground truth lists every person once, in order. The load
// flags shape it.
func TestRunInChunks(t *testing.T) {
	t.Setenv("CXSTREAM_CONFIG", "")
	for _, name := range pipeline.EnvVars() {
		t.Setenv(name, "")
	}
	c := &collector{}
	srv := httptest.NewServer(c)
	defer srv.Close()
	truth := filepath.Join(t.TempDir(), "truth.jsonl")
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"-config", writeKeysConfig(t, "demo", synth.Channels), "-collector", srv.URL,
		"-people", "50", "-chunk", "20", "-seed", "3", "-events", "12", "-merge-rate", "0.5", "-hot-keys", "2", "-hot-share", "0.3",
		"-truth", truth}, &stdout)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stdout.String())
	}

	gen := synth.Default()
	gen.People, gen.Seed, gen.Events, gen.MergeRate, gen.HotKeys, gen.HotShare = 50, 3, 12, 0.5, 2, 0.3
	want := map[string]bool{}
	var hot, filler, merges int
	for pop := range gen.Chunks(20) {
		for _, m := range pop.Messages {
			want[m.ID()] = true
			if m.Filler {
				filler++
				if m.Person < 2 {
					hot++
				}
			}
		}
		for _, p := range pop.People {
			if p.ExtraBrowser != "" {
				merges++
			}
		}
	}
	got := map[string]int{}
	for _, r := range c.received() {
		for _, m := range r.body.Batch {
			got[messageID(t, m)]++
		}
	}
	if len(got) != len(want) || len(want) != 600 {
		t.Errorf("collector got %d distinct messages, the chunks hold %d (want 50 people × 12)", len(got), len(want))
	}
	for id, n := range got {
		if !want[id] || n != 1 {
			t.Fatalf("message %s sent %d times; in the chunks: %v", id, n, want[id])
		}
	}
	for _, line := range []string{
		"people=50 messages=600 accepted=600 failed=0 expected_profiles=50 ",
		fmt.Sprintf("cxload: load chunks=3 chunk_people=20 events_per_person=12.00 filler=%d extra_browser_merges=%d hot_people=2 hot_events=%d\n", filler, merges, hot),
	} {
		if !strings.Contains(stdout.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, stdout.String())
		}
	}
	if hot == 0 || merges == 0 {
		t.Errorf("%d hot events, %d merges: the flags did not reach the population", hot, merges)
	}
	b, err := os.ReadFile(truth)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 50 {
		t.Fatalf("ground truth has %d lines, want 50", len(lines))
	}
	for i, line := range lines {
		var p synth.Person
		if err := json.Unmarshal([]byte(line), &p); err != nil || p.Index != i {
			t.Fatalf("ground truth line %d: person %d (%v)", i, p.Index, err)
		}
	}
}
