package harness

import (
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cxstream/cxstream/pkg/testenv"
)

// TestLog is an io.Writer that sends a harness's progress lines to a
// test's log.
type TestLog struct{ T testing.TB }

func (w TestLog) Write(b []byte) (int, error) {
	w.T.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// FreePorts returns the first of n consecutive free TCP ports on
// 127.0.0.1, for the telemetry addresses of a test's processes.
func FreePorts(t testing.TB, n int) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		free := true
		for i := 1; i < n && free; i++ {
			l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+i))
			if free = err == nil; free {
				l2.Close()
			}
		}
		if free {
			return port
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// BuildForTest points the environment at the real services (skipping or
// failing the test as pkg/testenv decides when they are missing) and
// builds cxstream into dir; it returns the binary's path.
func BuildForTest(t testing.TB, dir string) string {
	t.Helper()
	t.Setenv("CXSTREAM_KAFKA_BROKERS", strings.Join(testenv.Kafka(t), ","))
	t.Setenv("CXSTREAM_REDIS_ADDR", testenv.Redis(t))
	t.Setenv("CXSTREAM_CLICKHOUSE_ADDR", testenv.ClickHouse(t))
	bin := filepath.Join(dir, "cxstream")
	build := exec.Command("go", "build", "-o", bin, "github.com/cxstream/cxstream/cmd/cxstream")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build cxstream: %v\n%s", err, out)
	}
	return bin
}
