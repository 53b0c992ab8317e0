package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/kafkaio/kafkaiotest"
	"github.com/cxstream/cxstream/pkg/synth"
)

// With -to kafka every message of the population lands on cx.interactions
// as an envelope of the tenant, keyed by an identifier, with no collector,
// chunk after chunk.
func TestIntegrationRunToKafka(t *testing.T) {
	kcfg := kafkaiotest.Config(t, 2) // reads the broker from the environment first
	t.Setenv("CXSTREAM_CONFIG", "")
	for _, name := range pipeline.EnvVars() {
		t.Setenv(name, "")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "kafka:\n  brokers: [%s]\n  partitions: 2\n  topics:\n", strings.Join(kcfg.Brokers, ", "))
	fmt.Fprintf(&b, "    interactions: %s\n    deadletter: %s\n    timeline: %s\n    profiles: %s\n    identity: %s\n    triggers: %s\n",
		kcfg.Topics.Interactions, kcfg.Topics.DeadLetter, kcfg.Topics.Timeline, kcfg.Topics.Profiles, kcfg.Topics.Identity, kcfg.Topics.Triggers)
	b.WriteString("collector:\n  write_keys:\n    - {key: unused-web-key, tenant: demo, channel: web}\n")
	config := filepath.Join(t.TempDir(), "cxstream.yaml")
	if err := os.WriteFile(config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"-config", config, "-tenant", "bench", "-to", "kafka", "-people", "20", "-chunk", "8"}, &stdout); err != nil {
		t.Fatalf("run: %v\n%s", err, stdout.String())
	}
	gen := synth.Default()
	gen.People, gen.Seed = 20, 1
	want := 0
	for c := range gen.Chunks(8) {
		want += len(c.Messages)
	}
	if !strings.Contains(stdout.String(), fmt.Sprintf("messages=%d accepted=%d failed=0 ", want, want)) {
		t.Fatalf("summary %q, want all %d messages accepted", stdout.String(), want)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: kcfg.Brokers, GroupID: "check-" + kcfg.Topics.Interactions,
		Topic: kcfg.Topics.Interactions, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	channels := map[string]int{}
	for range want {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read back: %v (%v)", err, channels)
		}
		e, err := event.Decode(m.Value)
		if err != nil || e.Tenant != "bench" || len(m.Key) == 0 {
			t.Fatalf("message %s (key %q): %v", m.Value, m.Key, err)
		}
		channels[e.Channel]++
	}
	if len(channels) < 4 {
		t.Errorf("channels %v, want the population's several channels", channels)
	}
}
