package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/trigger"
)

// TriggerCounts is the first line `cxstream triggers` prints.
type TriggerCounts struct {
	Tenant string         `json:"tenant"`
	Total  int            `json:"total"`
	ByType map[string]int `json:"by_type"`
}

// TriggerLine is one trigger as `cxstream triggers` lists it.
type TriggerLine struct {
	At        time.Time `json:"at"`
	Type      string    `json:"type"`
	ProfileID string    `json:"profile_id"`
	Email     string    `json:"email,omitempty"`
	Reason    string    `json:"reason"`
}

// printTriggers reads cx.triggers from the start of each partition to its
// end as of now, and prints the tenant's counts per type, then its last
// limit triggers, oldest first (one JSON object per line).
func printTriggers(ctx context.Context, cfg pipeline.Config, tenant string, limit int, stdout io.Writer) error {
	topic := cfg.Kafka.Topics.Triggers
	conn, err := kafkaio.Dialer(cfg.Kafka).DialContext(ctx, "tcp", cfg.Kafka.Brokers[0])
	if err != nil {
		return fmt.Errorf("connect to kafka: %w", err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		return fmt.Errorf("partitions of %s: %w", topic, err)
	}
	counts := TriggerCounts{Tenant: tenant, ByType: map[string]int{}}
	var last []TriggerLine
	for _, p := range parts {
		if err := readPartition(ctx, cfg.Kafka, topic, p.ID, func(m kafka.Message) {
			if !slices.ContainsFunc(m.Headers, func(h kafka.Header) bool {
				return h.Key == trigger.HeaderTenant && string(h.Value) == tenant
			}) {
				return
			}
			var t trigger.Trigger
			if json.Unmarshal(m.Value, &t) != nil {
				return
			}
			counts.Total++
			counts.ByType[string(t.Type)]++
			last = append(last, TriggerLine{At: t.At, Type: string(t.Type), ProfileID: t.ProfileID, Email: t.Contact.Email, Reason: t.Reason})
		}); err != nil {
			return err
		}
	}
	slices.SortStableFunc(last, func(a, b TriggerLine) int { return a.At.Compare(b.At) })
	if len(last) > limit {
		last = last[len(last)-limit:]
	}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(counts); err != nil {
		return err
	}
	for _, l := range last {
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	return nil
}

// readPartition calls f with each message of one partition, from its
// first offset to its last as of the call.
func readPartition(ctx context.Context, kcfg kafkaio.Config, topic string, partition int, f func(kafka.Message)) error {
	leader, err := kafkaio.Dialer(kcfg).DialLeader(ctx, "tcp", kcfg.Brokers[0], topic, partition)
	if err != nil {
		return fmt.Errorf("connect to the leader of %s/%d: %w", topic, partition, err)
	}
	first, end, err := leader.ReadOffsets()
	leader.Close()
	if err != nil {
		return fmt.Errorf("offsets of %s/%d: %w", topic, partition, err)
	}
	if end <= first {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: kcfg.Brokers, Dialer: kafkaio.Dialer(kcfg), Topic: topic, Partition: partition, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		m, err := r.ReadMessage(rctx)
		if err != nil {
			return fmt.Errorf("read %s/%d: %w", topic, partition, err)
		}
		f(m)
		if m.Offset >= end-1 {
			return nil
		}
	}
}
