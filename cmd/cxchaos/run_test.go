package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/cmd/internal/harness"
)

// The process faults of the suite on the real services: a resolver and a
// sink killed mid-work, and two racing resolvers with one killed for good.
// Every event must end in ClickHouse exactly once and every identity and
// profile equal the ground truth. The restarts of Redis, ClickHouse and
// Kafka run in scripts/chaos.sh, outside `go test`, where no other test
// shares the services.
func TestIntegrationProcessFaults(t *testing.T) {
	dir := t.TempDir()
	bin := harness.BuildForTest(t, dir)
	out := filepath.Join(dir, "RELIABILITY.md")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	err := run(ctx, []string{"-cxstream", bin, "-config", "../../docs/cxstream.example.yaml", "-work", dir,
		"-people", "300", "-rate", "600", "-kills", "1", "-faults", "kill-resolver,kill-sink,race-kill",
		"-redis-db", "6", "-clickhouse-database", "cxchaos_test", "-telemetry-port", strconv.Itoa(harness.FreePorts(t, 3)),
		"-timeout", "150s", "-out", out}, harness.TestLog{T: t})
	md, rerr := os.ReadFile(out)
	if rerr != nil {
		t.Fatalf("no report: %v (run: %v)", rerr, err)
	}
	t.Logf("report:\n%s", md)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"kill-resolver", "kill-sink", "race-kill"} {
		if !strings.Contains(string(md), "| "+f+" | pass |") {
			t.Errorf("%s did not pass", f)
		}
	}
}
