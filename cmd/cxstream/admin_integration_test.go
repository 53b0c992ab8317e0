package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.yaml.in/yaml/v3"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/chstore/chstoretest"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/testenv"
	"github.com/cxstream/cxstream/pkg/trigger"
	"github.com/cxstream/cxstream/schemas"
)

// servicesConfig is a configuration on the real services with a ClickHouse
// database and Kafka topics of its own.
type servicesConfig struct {
	brokers    []string
	redis      string
	ch         chstore.Config
	topics     map[string]string
	fields     map[string]any // the YAML document
	path       string
	tenant     string
	partitions int
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newServicesConfig writes the configuration and drops its database when
// the test ends (its uniquely named topics are left).
func newServicesConfig(t *testing.T) *servicesConfig {
	t.Helper()
	id := randomHex(t, 6)
	s := &servicesConfig{
		brokers:    testenv.Kafka(t),
		redis:      testenv.Redis(t),
		ch:         chstore.Default(),
		tenant:     "cmdtest_" + id,
		partitions: 2,
		topics:     map[string]string{},
	}
	s.ch.Addr = testenv.ClickHouse(t)
	s.ch.Database = "cxstream_cmdtest_" + id
	for _, role := range []string{"interactions", "timeline", "profiles", "identity", "triggers", "deadletter"} {
		s.topics[role] = "cx." + role + ".cmdtest-" + id
	}
	// The environment overrides the file; CXSTREAM_CLICKHOUSE_DATABASE in
	// particular must not send these tests to someone's real database.
	t.Setenv("CXSTREAM_CLICKHOUSE_DATABASE", "")
	t.Setenv("CXSTREAM_CONFIG", "")
	t.Cleanup(func() { chstoretest.Drop(t, s.ch) })

	s.fields = map[string]any{
		"kafka":      map[string]any{"brokers": s.brokers, "partitions": s.partitions, "topics": s.topics},
		"redis":      map[string]any{"addr": s.redis},
		"clickhouse": map[string]any{"addr": s.ch.Addr, "database": s.ch.Database},
		"collector": map[string]any{"write_keys": []map[string]string{
			{"key": "cmdtest-web-" + id, "tenant": s.tenant, "channel": "web"},
		}},
	}
	s.path = s.write(t, "cxstream.yaml", nil)
	return s
}

// write writes the configuration with the given section replaced.
func (s *servicesConfig) write(t *testing.T, name string, override map[string]any) string {
	t.Helper()
	doc := map[string]any{}
	for k, v := range s.fields {
		doc[k] = v
	}
	for k, v := range override {
		doc[k] = v
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// cxstream runs the command line and returns what it printed.
func cxstream(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, args, &stdout, &stderr)
	if err != nil && stderr.Len() > 0 {
		t.Logf("stderr: %s", stderr.String())
	}
	return stdout.String(), err
}

var appliedLine = regexp.MustCompile(`clickhouse migrations applied: (\d+) `)

func migrationsApplied(t *testing.T, out string) int {
	t.Helper()
	m := appliedLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("migrate output has no %q line:\n%s", "clickhouse migrations applied", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestIntegrationAdminVerbs(t *testing.T) {
	s := newServicesConfig(t)
	ms, err := chstore.Migrations(schemas.ClickHouse)
	if err != nil || len(ms) == 0 {
		t.Fatalf("migrations: %d, %v", len(ms), err)
	}

	migrated := t.Run("migrate creates the topics and applies every migration", func(t *testing.T) {
		out, err := cxstream(t, "migrate", "-config", s.path)
		if err != nil {
			t.Fatalf("migrate: %v", err)
		}
		if !strings.Contains(out, "kafka topics ready") {
			t.Errorf("migrate output does not report the topics:\n%s", out)
		}
		if n := migrationsApplied(t, out); n != len(ms) {
			t.Errorf("first migrate applied %d migrations, want %d:\n%s", n, len(ms), out)
		}
		checkTopics(t, s)
	})
	if !migrated {
		t.FailNow()
	}

	t.Run("migrate again applies nothing", func(t *testing.T) {
		out, err := cxstream(t, "migrate", "-config", s.path)
		if err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		if n := migrationsApplied(t, out); n != 0 {
			t.Errorf("second migrate applied %d migrations, want 0:\n%s", n, out)
		}
	})

	t.Run("stats of an unknown tenant", func(t *testing.T) {
		tenant := "cmdtest_" + randomHex(t, 6)
		out, err := cxstream(t, "stats", "-config", s.path, "-tenant", tenant)
		if err != nil {
			t.Fatalf("stats: %v", err)
		}
		want := Stats{Tenant: tenant}
		if got := decodeStats(t, out); got != want {
			t.Errorf("stats = %+v, want %+v", got, want)
		}
	})

	t.Run("triggers lists one tenant's triggers", func(t *testing.T) {
		cfg, err := pipeline.Load(s.path, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		tenant, other := "cmdtest_"+randomHex(t, 6), "cmdtest_"+randomHex(t, 6)
		at := time.Date(2026, 3, 12, 18, 0, 0, 0, time.UTC)
		var msgs []kafka.Message
		for i, tn := range []string{tenant, other, tenant, tenant} {
			p := &profile.Profile{ProfileID: fmt.Sprint("p", i), Tenant: tn, Version: 1,
				Demographic: profile.Demographic{Email: fmt.Sprintf("c%d@example.com", i)}}
			tr := trigger.SegmentChange{Name: "vip"}.Trigger(p, i != 3, "", at.Add(time.Duration(i)*time.Minute), 0)
			v, _ := json.Marshal(tr)
			hs := tr.Headers()
			msgs = append(msgs, kafka.Message{Topic: cfg.Kafka.Topics.Triggers, Key: []byte(p.ProfileID), Value: v,
				Headers: []kafka.Header{kafka.Header(hs[0]), kafka.Header(hs[1])}})
		}
		w := kafkaio.NewWriter(cfg.Kafka)
		defer w.Close()
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			t.Fatal(err)
		}
		out, err := cxstream(t, "triggers", "-config", s.path, "-tenant", tenant, "-limit", "2")
		if err != nil {
			t.Fatalf("triggers: %v", err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		want := []string{
			`{"tenant":"` + tenant + `","total":3,"by_type":{"segment.entered":2,"segment.exited":1}}`,
			`{"at":"2026-03-12T18:02:00Z","type":"segment.entered","profile_id":"p2","email":"c2@example.com","reason":"entered segment vip"}`,
			`{"at":"2026-03-12T18:03:00Z","type":"segment.exited","profile_id":"p3","email":"c3@example.com","reason":"left segment vip"}`,
		}
		if !slices.Equal(lines, want) {
			t.Errorf("triggers printed\n%s\nwant\n%s", out, strings.Join(want, "\n"))
		}
	})

	for _, verb := range []string{"profile", "timeline", "forget", "export"} {
		t.Run(verb+" of an unknown identifier", func(t *testing.T) {
			tenant := "cmdtest_" + randomHex(t, 6)
			out, err := cxstream(t, verb, "-config", s.path, "-tenant", tenant, "email:nobody@example.com")
			if !errors.Is(err, redisstore.ErrNotFound) || !strings.Contains(err.Error(), "not found") {
				t.Errorf("%s: error %v, want %v", verb, err, redisstore.ErrNotFound)
			}
			if out != "" {
				t.Errorf("%s printed %q for an unknown profile", verb, out)
			}
		})
	}

	// The file names a Redis that does not answer; CXSTREAM_REDIS_ADDR, when
	// set, wins over it.
	t.Run("environment overrides the file", func(t *testing.T) {
		deadRedis := s.write(t, "dead-redis.yaml", map[string]any{"redis": map[string]any{"addr": "127.0.0.1:1"}})
		tests := []struct {
			name    string
			env     string
			wantErr string // "" for success
		}{
			{"env names the real redis", s.redis, ""},
			{"no env: the file's address is used", "", "127.0.0.1:1"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Setenv("CXSTREAM_REDIS_ADDR", tt.env)
				out, err := cxstream(t, "stats", "-config", deadRedis, "-tenant", s.tenant)
				switch {
				case tt.wantErr == "" && err != nil:
					t.Fatalf("stats: %v", err)
				case tt.wantErr == "":
					if got := decodeStats(t, out); got.Tenant != s.tenant {
						t.Errorf("stats tenant %q, want %q", got.Tenant, s.tenant)
					}
				case err == nil || !strings.Contains(err.Error(), tt.wantErr):
					t.Errorf("stats: error %v, want one containing %q", err, tt.wantErr)
				}
			})
		}
	})
}

// decodeStats decodes the one JSON object stats prints, refusing unknown
// fields.
func decodeStats(t *testing.T, out string) Stats {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var st Stats
	if err := dec.Decode(&st); err != nil {
		t.Fatalf("stats output is not a Stats JSON object: %v\n%s", err, out)
	}
	if dec.More() {
		t.Errorf("stats printed more than one JSON value:\n%s", out)
	}
	return st
}

// checkTopics asks the broker for the configured topics.
func checkTopics(t *testing.T, s *servicesConfig) {
	t.Helper()
	names := make([]string, 0, len(s.topics))
	for _, name := range s.topics {
		names = append(names, name)
	}
	client := &kafka.Client{Addr: kafka.TCP(s.brokers...)}
	meta, err := client.Metadata(t.Context(), &kafka.MetadataRequest{Topics: names})
	if err != nil {
		t.Fatalf("kafka metadata: %v", err)
	}
	found := map[string]kafka.Topic{}
	for _, tp := range meta.Topics {
		found[tp.Name] = tp
	}
	for _, name := range names {
		tp, ok := found[name]
		switch {
		case !ok || tp.Error != nil:
			t.Errorf("topic %s was not created (error %v)", name, tp.Error)
		case len(tp.Partitions) != s.partitions:
			t.Errorf("topic %s has %d partitions, want %d", name, len(tp.Partitions), s.partitions)
		}
	}
}
