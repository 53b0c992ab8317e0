package kafkaio

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// Marks are offsets per topic and partition.
type Marks map[string]map[int]int64

// HighWatermarks returns (client: Client), for each topic, the offset the next message of
// each partition will get: everything written so far lies below it.
func HighWatermarks(ctx context.Context, client *kafka.Client, topics ...string) (Marks, error) {
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("read metadata of %v: %w", topics, err)
	}
	req := map[string][]kafka.OffsetRequest{}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			req[t.Name] = append(req[t.Name], kafka.LastOffsetOf(p.ID))
		}
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %v: %w", topics, err)
	}
	out := Marks{}
	for t, ps := range res.Topics {
		out[t] = map[int]int64{}
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("offsets of %s/%d: %w", t, p.Partition, p.Error)
			}
			out[t][p.Partition] = p.LastOffset
		}
	}
	return out, nil
}

// Behind returns how many messages below marks the consumer group has not
// committed yet, over all the marks' partitions (0: it has consumed
// everything up to the marks).
func Behind(ctx context.Context, client *kafka.Client, group string, marks Marks) (int64, error) {
	req := map[string][]int{}
	for t, ps := range marks {
		for p := range ps {
			req[t] = append(req[t], p)
		}
	}
	res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: req})
	if err != nil {
		return 0, fmt.Errorf("fetch offsets of group %s: %w", group, err)
	}
	if res.Error != nil {
		return 0, fmt.Errorf("fetch offsets of group %s: %w", group, res.Error)
	}
	committed := Marks{}
	for t, ps := range res.Topics {
		committed[t] = map[int]int64{}
		for _, p := range ps {
			if p.Error != nil {
				return 0, fmt.Errorf("offset of group %s on %s/%d: %w", group, t, p.Partition, p.Error)
			}
			committed[t][p.Partition] = p.CommittedOffset
		}
	}
	var behind int64
	for t, ps := range marks {
		for p, mark := range ps {
			c, ok := committed[t][p]
			if !ok || c < 0 { // no commit yet: the group starts at the earliest offset
				c = 0
			}
			if c < mark {
				behind += mark - c
			}
		}
	}
	return behind, nil
}
