package kafkaiotest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/kafkaio/kafkaiotest"
)

func TestIntegrationTopicsLiveAsLongAsTheTest(t *testing.T) {
	var cfg kafkaio.Config
	t.Run("inner", func(t *testing.T) {
		cfg = kafkaiotest.Config(t, 3)
		meta := metadata(t, cfg)
		if len(meta.Topics) != 6 {
			t.Fatalf("got %d topics, want 6", len(meta.Topics))
		}
		for _, tp := range meta.Topics {
			if tp.Error != nil || len(tp.Partitions) != 3 {
				t.Errorf("topic %s: error %v, %d partitions, want 3", tp.Name, tp.Error, len(tp.Partitions))
			}
		}
	})
	if other := kafkaiotest.Config(t, 1); other.Topics.Interactions == cfg.Topics.Interactions {
		t.Error("two calls gave the same topic names")
	}
	for _, tp := range metadata(t, cfg).Topics {
		if !errors.Is(tp.Error, kafka.UnknownTopicOrPartition) {
			t.Errorf("topic %s still exists after its test ended (error %v)", tp.Name, tp.Error)
		}
	}
}

func metadata(t *testing.T, cfg kafkaio.Config) *kafka.MetadataResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...)}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: cfg.Topics.Names()})
	if err != nil {
		t.Fatal(err)
	}
	return meta
}
