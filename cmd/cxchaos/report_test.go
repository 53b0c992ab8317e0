package main

import (
	"strings"
	"testing"

	"github.com/cxstream/cxstream/cmd/internal/harness"
)

func exact(people int) harness.Accuracy {
	return harness.Accuracy{Precision: 1, Recall: 1, People: people, Profiles: people, Checked: people}
}

func TestPassedNeedsNothingLostDuplicatedOrMisattributed(t *testing.T) {
	good := result{Fault: "kill-sink", Sent: 100, Stored: 100, Rows: 130, RowsFinal: 100, Measured: true, Accuracy: exact(10)}
	if !good.Passed() {
		t.Fatalf("%s: want pass (copies as stored are read once by event id)", good.Line())
	}
	if good.Duplicates() != 30 || good.Lost() != 0 || good.Extra() != 0 {
		t.Errorf("duplicates %d lost %d extra %d, want 30 0 0", good.Duplicates(), good.Lost(), good.Extra())
	}
	cases := map[string]func(*result){
		"lost":                  func(r *result) { r.Stored, r.RowsFinal = 99, 99 },
		"extra":                 func(r *result) { r.Stored, r.RowsFinal = 101, 101 },
		"FINAL short of stored": func(r *result) { r.RowsFinal = 99 },
		"over-merged":           func(r *result) { r.Accuracy.Precision = 0.99 },
		"split":                 func(r *result) { r.Accuracy.Recall = 0.99 },
		"order folded twice":    func(r *result) { r.Accuracy.OrdersWrong = 1 },
		"revenue wrong":         func(r *result) { r.Accuracy.RevenueWrong = 1 },
		"junk linked":           func(r *result) { r.Accuracy.JunkLinked = 1 },
		"nothing checked":       func(r *result) { r.Accuracy.Checked = 0 },
		"not measured":          func(r *result) { r.Measured = false },
		"error":                 func(r *result) { r.Error = "timeout" },
		"rebuild differs":       func(r *result) { r.Rebuilt, r.RebuildDiffs = true, 1 },
	}
	for name, spoil := range cases {
		r := good
		spoil(&r)
		if r.Passed() {
			t.Errorf("%s: passed, want a failure: %s", name, r.Line())
		}
	}
	if !(result{Fault: "restart-kafka", Skipped: "no command"}).Passed() {
		t.Error("a skipped scenario fails the suite")
	}
}

func TestReportListsEveryScenario(t *testing.T) {
	rs := []result{
		{Fault: "kill-resolver", Injected: "SIGKILL resolver-1 3 times", Sent: 800, Written: 900, WriteErrors: 1, Stored: 800, Rows: 800, RowsFinal: 800, Measured: true, Accuracy: exact(100), RecoverySec: 12.5},
		{Fault: "kill-sink", Sent: 800, Written: 800, Stored: 790, Rows: 790, RowsFinal: 790, Measured: true, Accuracy: exact(100), Error: "not every event reached ClickHouse"},
		{Fault: "restart-kafka", Skipped: "no -restart-kafka command"},
	}
	md := report(environment{Date: "2026-11-23 10:00 UTC", Label: "ci", People: 100, Rate: 500, Kills: 3, Seed: 1}, rs)
	for _, want := range []string{
		"| kill-resolver | pass | 800 | 800 | 0 | 0 | 800 | 1.0000 / 1.0000 | 0 / 0 | 0 | 12.5 s |",
		"| kill-sink | **FAIL** | 800 | 790 | 10 |",
		"| restart-kafka | skipped: no -restart-kafka command |",
		"SIGKILL resolver-1 3 times.",
		"The load wrote 900 messages: 1 writes failed",
		"The load wrote 800 messages; no write failed.",
		"Error: not every event reached ClickHouse.",
		"ci mode",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

func TestParseFaults(t *testing.T) {
	fs, err := parseFaults("kill-resolver, restart-kafka")
	if err != nil || len(fs) != 2 || fs[0].name != "kill-resolver" || fs[1].service != "kafka" {
		t.Fatalf("parseFaults = %v, %v", fs, err)
	}
	if _, err := parseFaults("kill-everything"); err == nil || !strings.Contains(err.Error(), "unknown fault \"kill-everything\"") {
		t.Errorf("unknown fault: err = %v", err)
	}
	if _, err := parseFaults(" , "); err == nil {
		t.Error("an empty list is accepted")
	}
	if got := len(faultNames()); got != 7 {
		t.Errorf("%d faults, want 7", got)
	}
}
