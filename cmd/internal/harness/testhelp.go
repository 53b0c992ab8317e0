package harness

import (
	"net"
	"strconv"
	"strings"
	"testing"
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
