package main

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseMetrics(t *testing.T) {
	text := `# HELP cxstream_resolver_events_total Events processed.
# TYPE cxstream_resolver_events_total counter
cxstream_resolver_events_total{outcome="ok"} 1500
cxstream_resolver_events_total{outcome="dup"} 20
cxstream_sink_rows_per_insert_sum{table="cx_events"} 12000
cxstream_sink_rows_per_insert_count{table="cx_events"} 3
cxstream_sink_rows_per_insert_sum{table="cx_identity"} 50
cxstream_redis_roundtrips_total 42 1700000000000
weird{label="a b}c"} 7
not_a_number NaNx
`
	m, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"cxstream_resolver_events_total", nil, 1520},
		{"cxstream_resolver_events_total", []string{`outcome="ok"`}, 1500},
		{"cxstream_sink_rows_per_insert_sum", []string{`table="cx_events"`}, 12000},
		{"cxstream_sink_rows_per_insert_count", nil, 3},
		{"cxstream_redis_roundtrips_total", nil, 42}, // a timestamp after the value
		{"weird", nil, 7},                    // a brace inside a label value
		{"cxstream_resolver_events", nil, 0}, // a prefix is not the name
		{"not_a_number", nil, 0},
	} {
		if got := m.sum(c.name, c.labels...); got != c.want {
			t.Errorf("sum(%s %v) = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if !m.has("cxstream_redis_roundtrips_total") || m.has("cxstream_kafka_commits_total") {
		t.Error("has: wrong answer")
	}
}

func TestRedisInfo(t *testing.T) {
	info := "# CPU\r\nused_cpu_sys:1.50\r\nused_cpu_user:2.25\r\n\r\n# Commandstats\r\ncmdstat_evalsha:calls=10,usec=500,usec_per_call=50.00\r\ncmdstat_hget:calls=290,usec=300,usec_per_call=1.03,rejected_calls=0\r\n"
	m := redisInfo(info)
	if got := infoFloat(m, "used_cpu_sys") + infoFloat(m, "used_cpu_user"); got != 3.75 {
		t.Errorf("cpu = %v, want 3.75", got)
	}
	if got := commandCalls(m); got != 300 {
		t.Errorf("commandCalls = %v, want 300", got)
	}
	if got := infoFloat(m, "missing"); got != 0 {
		t.Errorf("missing field = %v, want 0", got)
	}
}

func TestCPUOfStat(t *testing.T) {
	// A command name with spaces and parentheses; utime 250, stime 50 ticks.
	line := "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 100 1000 10"
	got, err := cpuOfStat([]byte(line))
	if err != nil || got != 3 {
		t.Errorf("cpuOfStat = %v, %v; want 3 s", got, err)
	}
	if _, err := cpuOfStat([]byte("1234 (x) S 1")); err == nil {
		t.Error("a short line: want an error")
	}
}

func TestReadProcOfThisProcess(t *testing.T) {
	before, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn a little CPU: the reading must move.
	x := 0.0
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
		x += math.Sqrt(x + 1)
	}
	after, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after.CPUSeconds <= before.CPUSeconds || after.RSSBytes <= 0 || after.PeakBytes < after.RSSBytes {
		t.Errorf("before %+v after %+v (x=%v): want CPU to grow and peak >= rss > 0", before, after, x)
	}
	if findProcess("cxbench-no-such-process-"+time.Now().Format("150405.000")) != 0 {
		t.Error("findProcess found a process that does not exist")
	}
}
