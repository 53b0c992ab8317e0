// Package testenv gives integration tests the addresses of real Kafka, Redis
// and ClickHouse servers:
//
//  1. from CXSTREAM_KAFKA_BROKERS, CXSTREAM_REDIS_ADDR and
//     CXSTREAM_CLICKHOUSE_ADDR (scripts/test.sh sets them after
//     scripts/services.sh up);
//  2. else from containers started with testcontainers-go where a Docker
//     engine answers (one container per service per test binary, removed by
//     testcontainers' reaper when the binary exits);
//  3. else the test is skipped with a message, or fails when
//     CXSTREAM_REQUIRE_SERVICES=1 (set by scripts/test.sh and CI), so a
//     missing service can never turn into a silently green run.
//
// There are no in-memory stand-ins for these services.
package testenv

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Environment variables naming the services.
const (
	EnvKafka      = "CXSTREAM_KAFKA_BROKERS"
	EnvRedis      = "CXSTREAM_REDIS_ADDR"
	EnvClickHouse = "CXSTREAM_CLICKHOUSE_ADDR"
	EnvRequire    = "CXSTREAM_REQUIRE_SERVICES"
)

// Container images used when no address is given and Docker runs.
const (
	redisImage      = "redis:7.4"
	clickhouseImage = "clickhouse/clickhouse-server:24.8"
	kafkaImage      = "apache/kafka:4.1.1"
)

type started struct {
	once sync.Once
	addr string
	err  error
}

var kafkaC, redisC, clickhouseC started

// Kafka returns the bootstrap broker addresses.
func Kafka(t testing.TB) []string {
	t.Helper()
	var brokers []string
	for _, b := range strings.Split(address(t, EnvKafka, &kafkaC, startKafka), ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	return brokers
}

// Redis returns the address of a Redis server.
func Redis(t testing.TB) string {
	t.Helper()
	return address(t, EnvRedis, &redisC, func(ctx context.Context) (string, error) {
		return startGeneric(ctx, redisImage, "6379/tcp", wait.ForLog("Ready to accept connections"), nil)
	})
}

// ClickHouse returns the native-protocol address of a ClickHouse server.
func ClickHouse(t testing.TB) string {
	t.Helper()
	return address(t, EnvClickHouse, &clickhouseC, func(ctx context.Context) (string, error) {
		return startGeneric(ctx, clickhouseImage, "9000/tcp", wait.ForHTTP("/ping").WithPort("8123/tcp"),
			map[string]string{"CLICKHOUSE_SKIP_USER_SETUP": "1"})
	})
}

func address(t testing.TB, env string, c *started, start func(context.Context) (string, error)) string {
	t.Helper()
	if v := strings.TrimSpace(os.Getenv(env)); v != "" {
		return v
	}
	c.once.Do(func() {
		if !dockerAvailable() {
			c.err = fmt.Errorf("%s is not set and no Docker engine answers; run ./scripts/services.sh up and export the variables it prints, or use ./scripts/test.sh", env)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		c.addr, c.err = start(ctx)
	})
	if c.err != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("integration test needs a real service: %v", c.err)
		}
		t.Skipf("skipping integration test: %v", c.err)
	}
	return c.addr
}

func dockerAvailable() (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return false
	}
	defer p.Close()
	return p.Health(ctx) == nil
}

func startGeneric(ctx context.Context, image, port string, w wait.Strategy, env map[string]string) (string, error) {
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        image,
			ExposedPorts: []string{port},
			Env:          env,
			WaitingFor:   w,
		},
		Started: true,
	})
	if err != nil {
		return "", fmt.Errorf("start %s container: %w", image, err)
	}
	return c.PortEndpoint(ctx, port, "")
}

// startKafka runs a single-node KRaft broker. Kafka advertises its own
// address to clients, so the container port is bound to the same, free, host
// port and advertised as 127.0.0.1:<port>.
func startKafka(ctx context.Context) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port for kafka: %w", err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        kafkaImage,
			ExposedPorts: []string{port + "/tcp"},
			Env: map[string]string{
				"KAFKA_NODE_ID":                                  "1",
				"KAFKA_PROCESS_ROLES":                            "broker,controller",
				"KAFKA_LISTENERS":                                "PLAINTEXT://:" + port + ",CONTROLLER://:9093",
				"KAFKA_ADVERTISED_LISTENERS":                     "PLAINTEXT://127.0.0.1:" + port,
				"KAFKA_CONTROLLER_LISTENER_NAMES":                "CONTROLLER",
				"KAFKA_CONTROLLER_QUORUM_VOTERS":                 "1@localhost:9093",
				"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
				"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
				"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
				"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":         "0",
			},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.PortBindings = network.PortMap{network.MustParsePort(port + "/tcp"): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: port}}}
			},
			WaitingFor: wait.ForListeningPort(port + "/tcp"),
		},
		Started: true,
	})
	if err != nil {
		return "", fmt.Errorf("start %s container: %w", kafkaImage, err)
	}
	_ = c
	return "127.0.0.1:" + port, nil
}

// Program returns the path of a server program a test runs itself (a
// redis-server with TLS, a ClickHouse or Kafka of its own), found on PATH.
// Without it the test is skipped, or fails under CXSTREAM_REQUIRE_SERVICES=1
// (scripts/services.sh installs every program these tests run).
func Program(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%s is not on PATH (scripts/services.sh installs it): %v", name, err)
		}
		t.Skipf("skipping: %s is not on PATH; run scripts/services.sh up", name)
	}
	return path
}
