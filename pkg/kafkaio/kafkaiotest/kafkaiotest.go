// Package kafkaiotest gives tests a Kafka configuration on the real broker
// (from pkg/testenv) with topics of their own: created before the test,
// deleted after it.
package kafkaiotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/testenv"
)

// Config returns kafkaio.Default() pointed at the test broker, with every
// topic name suffixed ".test.<hex>" and created with the given number of
// partitions. The topics are deleted when t ends.
func Config(t testing.TB, partitions int) kafkaio.Config {
	t.Helper()
	cfg := kafkaio.Default()
	cfg.Brokers = testenv.Kafka(t)
	cfg.Partitions = partitions
	b := make([]byte, 6)
	rand.Read(b)
	suffix := ".test." + hex.EncodeToString(b)
	tp := &cfg.Topics
	for _, p := range []*string{&tp.Interactions, &tp.Timeline, &tp.Profiles, &tp.Identity, &tp.Triggers, &tp.DeadLetter} {
		*p += suffix
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafkaio.EnsureTopics(ctx, cfg); err != nil {
		t.Fatalf("create test topics: %v", err)
	}
	// A producer that writes right away can be told "unknown topic or
	// partition" while the new topics' leaders are being elected: wait for
	// the metadata to show a leader for every partition.
	client := kafkaio.Client(cfg)
	for {
		meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: cfg.Topics.Names()})
		if err == nil && ready(meta, partitions) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("test topics without leaders after 30 s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...)}
		if _, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: cfg.Topics.Names()}); err != nil {
			t.Logf("delete test topics: %v", err)
		}
	})
	return cfg
}

// ready says whether every topic of meta has its partitions, each with a
// leader.
func ready(meta *kafka.MetadataResponse, partitions int) bool {
	for _, tp := range meta.Topics {
		if tp.Error != nil || len(tp.Partitions) != partitions {
			return false
		}
		for _, p := range tp.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				return false
			}
		}
	}
	return len(meta.Topics) > 0
}
