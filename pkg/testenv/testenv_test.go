package testenv_test

import (
	"slices"
	"testing"

	"github.com/cxstream/cxstream/pkg/testenv"
)

// Only the environment path is tested: it must win over testcontainers, and
// there is no Docker engine where these tests run.
func TestAddressesFromEnvironment(t *testing.T) {
	tests := []struct {
		name  string
		env   string
		value string
		get   func(testing.TB) []string
		want  []string
	}{
		{"redis", testenv.EnvRedis, "10.1.2.3:6380", one(testenv.Redis), []string{"10.1.2.3:6380"}},
		{"redis, spaces trimmed", testenv.EnvRedis, " redis.internal:6379\n", one(testenv.Redis), []string{"redis.internal:6379"}},
		{"clickhouse", testenv.EnvClickHouse, "ch.internal:19000", one(testenv.ClickHouse), []string{"ch.internal:19000"}},
		{"kafka, one broker", testenv.EnvKafka, "127.0.0.1:19092", testenv.Kafka, []string{"127.0.0.1:19092"}},
		{"kafka, a comma list", testenv.EnvKafka, "k1:9092,k2:9092,k3:9093", testenv.Kafka, []string{"k1:9092", "k2:9092", "k3:9093"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tt.env, tt.value)
			if got := tt.get(t); !slices.Equal(got, tt.want) {
				t.Errorf("with %s=%q: got %q, want %q", tt.env, tt.value, got, tt.want)
			}
		})
	}
}

func one(f func(testing.TB) string) func(testing.TB) []string {
	return func(t testing.TB) []string { return []string{f(t)} }
}

func TestKafkaTrimsBrokerList(t *testing.T) {
	t.Setenv(testenv.EnvKafka, " k1:9092 , k2:9092,")
	got := testenv.Kafka(t)
	if len(got) != 2 || got[0] != "k1:9092" || got[1] != "k2:9092" {
		t.Errorf("Kafka() = %q, want [k1:9092 k2:9092]", got)
	}
}
