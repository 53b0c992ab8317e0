package kafkaio

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// EnsureTopics creates cxstream's topics that do not exist yet. cx.profiles
// is compacted (the latest profile per key is what consumers need); the
// others are retained by time. Existing topics are left unchanged.
func EnsureTopics(ctx context.Context, cfg Config) error {
	client := Client(cfg)
	var topics []kafka.TopicConfig
	for _, name := range cfg.Topics.Names() {
		tc := kafka.TopicConfig{Topic: name, NumPartitions: cfg.Partitions, ReplicationFactor: cfg.ReplicationFactor}
		if name == cfg.Topics.Profiles {
			tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}
		}
		topics = append(topics, tc)
	}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Addr: client.Addr, Topics: topics})
	if err != nil {
		return fmt.Errorf("create topics on %v: %w", cfg.Brokers, err)
	}
	var errs []error
	for topic, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", topic, err))
		}
	}
	return errors.Join(errs...)
}
