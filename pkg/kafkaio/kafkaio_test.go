package kafkaio_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/kafkaio/kafkaiotest"
	"github.com/cxstream/cxstream/pkg/testenv"
)

// testConfig returns a configuration whose topics are unique to the test.
func testConfig(t *testing.T) kafkaio.Config { return kafkaiotest.Config(t, 2) }

func TestIntegrationWriteFetchCommit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := testConfig(t)
	for range 2 { // creating the existing topics again is not an error
		if err := kafkaio.EnsureTopics(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	w := kafkaio.NewWriter(cfg)
	defer w.Close()
	var msgs []kafka.Message
	for i := range 50 {
		msgs = append(msgs, kafka.Message{Topic: cfg.Topics.Interactions, Key: []byte(fmt.Sprint("k", i%7)), Value: []byte(fmt.Sprint(i))})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	r := kafkaio.NewReader(cfg, "g-"+cfg.Topics.Interactions, cfg.Topics.Interactions)
	got := 0
	for got < 50 {
		batch, err := kafkaio.FetchBatch(ctx, r, 20, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) > 20 {
			t.Fatalf("batch of %d exceeds max 20", len(batch))
		}
		got += len(batch)
		if err := r.CommitMessages(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	// A new member of the group starts after the committed offsets.
	w.WriteMessages(ctx, kafka.Message{Topic: cfg.Topics.Interactions, Key: []byte("k"), Value: []byte("last")})
	r2 := kafkaio.NewReader(cfg, "g-"+cfg.Topics.Interactions, cfg.Topics.Interactions)
	defer r2.Close()
	batch, err := kafkaio.FetchBatch(ctx, r2, 100, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(batch) != 1 || string(batch[0].Value) != "last" {
		t.Errorf("after commit, got %d messages (first %q), want only the new one", len(batch), batch[0].Value)
	}
}

// TestIntegrationFetchBatchEndsWhenIdle: with a wait far longer than the
// test, a batch still ends once no message has come for the idle gap.
func TestIntegrationFetchBatchEndsWhenIdle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := testConfig(t)
	if err := kafkaio.EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	w := kafkaio.NewWriter(cfg)
	defer w.Close()
	var msgs []kafka.Message
	for i := range 30 {
		msgs = append(msgs, kafka.Message{Topic: cfg.Topics.Interactions, Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint(i))})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	r := kafkaio.NewReader(cfg, "g-"+cfg.Topics.Interactions, cfg.Topics.Interactions)
	defer r.Close()
	got := 0
	for got < len(msgs) {
		batch, err := kafkaio.FetchBatchUntilIdle(ctx, r, 1000, time.Hour, 300*time.Millisecond)
		if err != nil {
			t.Fatalf("after %d messages: %v", got, err)
		}
		if ctx.Err() != nil {
			t.Fatalf("the batch of %d ended with the test's context, not after the idle gap", len(batch))
		}
		got += len(batch)
	}
	if got != len(msgs) {
		t.Errorf("fetched %d messages, wrote %d", got, len(msgs))
	}
}

func TestFetchBatchHonoursContext(t *testing.T) {
	cfg := kafkaio.Default()
	cfg.Brokers = testenv.Kafka(t)
	r := kafkaio.NewReader(cfg, "g-empty", "cx.never-written."+t.Name())
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := kafkaio.FetchBatch(ctx, r, 10, time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
}

func TestDeadLetterKeepsBytesAndReason(t *testing.T) {
	m := kafkaio.DeadLetter("dlq", []byte("k"), []byte("\xff raw"), errors.New("tenant: required"),
		kafkaio.Origin{Stage: "resolver", Topic: "cx.interactions", Partition: 3, Offset: 99, Tenant: "acme"}, time.Unix(0, 0))
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	if string(m.Value) != "\xff raw" || h[kafkaio.HeaderError] != "tenant: required" || h[kafkaio.HeaderOriginOffset] != "99" ||
		h[kafkaio.HeaderOriginPartition] != "3" || h[kafkaio.HeaderStage] != "resolver" || h[kafkaio.HeaderTenant] != "acme" {
		t.Errorf("dead letter = %q %v", m.Value, h)
	}
}

func TestConfigValidate(t *testing.T) {
	c := kafkaio.Default()
	c.Brokers = nil
	c.Topics.Profiles = ""
	c.Partitions = 0
	if err := c.Validate(); err == nil {
		t.Fatal("invalid config accepted")
	}
	if err := kafkaio.Default().Validate(); err != nil {
		t.Fatal(err)
	}
}
