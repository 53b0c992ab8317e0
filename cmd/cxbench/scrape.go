package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// metrics is one scrape of a process's /metrics: each sample's name with
// its labels, as exposed ("name{a=\"b\"}"), and its value.
type metrics map[string]float64

// parseMetrics reads the Prometheus text exposition format. Comment lines
// and samples it cannot read are skipped.
func parseMetrics(r io.Reader) (metrics, error) {
	m := metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		// name{labels} value [timestamp]; label values may hold spaces.
		name, rest := line, ""
		if end := strings.LastIndexByte(line, '}'); end >= 0 {
			name, rest = line[:end+1], line[end+1:]
		} else if i := strings.IndexAny(line, " \t"); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		m[name] = v
	}
	return m, sc.Err()
}

// sum adds the samples of a metric name over all label sets whose labels
// contain every one of labels (e.g. `table="cx_events"`).
func (m metrics) sum(name string, labels ...string) float64 {
	var s float64
	for k, v := range m {
		base, rest, _ := strings.Cut(k, "{")
		if base != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
				break
			}
		}
		if ok {
			s += v
		}
	}
	return s
}

// has reports whether the scrape holds any sample of the metric.
func (m metrics) has(name string) bool {
	for k := range m {
		if base, _, _ := strings.Cut(k, "{"); base == name {
			return true
		}
	}
	return false
}

var scrapeClient = &http.Client{Timeout: 5 * time.Second}

// scrape reads http://addr/metrics.
func scrape(ctx context.Context, addr string) (metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", addr, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// redisInfo parses the answer of Redis INFO: "key:value" lines.
func redisInfo(s string) map[string]string {
	out := map[string]string{}
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, ":"); ok && line[0] != '#' {
			out[k] = v
		}
	}
	return out
}

// infoFloat returns a numeric INFO field, 0 if absent.
func infoFloat(info map[string]string, key string) float64 {
	v, _ := strconv.ParseFloat(info[key], 64)
	return v
}

// commandCalls sums the calls of every command in INFO commandstats
// ("cmdstat_hget:calls=12,usec=..."): commands from clients and from
// scripts alike.
func commandCalls(info map[string]string) float64 {
	var n float64
	for k, v := range info {
		if !strings.HasPrefix(k, "cmdstat_") {
			continue
		}
		for kv := range strings.SplitSeq(v, ",") {
			if c, ok := strings.CutPrefix(kv, "calls="); ok {
				f, _ := strconv.ParseFloat(c, 64)
				n += f
			}
		}
	}
	return n
}
