package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/cxstream/cxstream/cmd/internal/harness"
)

// result is what one scenario kept against the truth.
type result struct {
	Fault    string
	Skipped  string // why the scenario did not run
	Error    string // why it could not finish
	Injected string // what the fault did

	Sent        int64 // distinct events of the population
	Written     int64 // messages the load wrote, copies of retried writes included
	WriteErrors int   // writes that failed and were retried
	Restarts    int   // processes that exited by themselves and were restarted
	RecoverySec float64

	Measured        bool
	Stored          int64 // distinct event ids in cx_events
	Rows, RowsFinal int64 // cx_events rows as stored, and with FINAL
	Accuracy        harness.Accuracy

	// Rebuilt is set by redis-loss: RebuildDiffs profiles of
	// RebuildProfiles differ from the snapshot before the loss (the first
	// few described in RebuildShown).
	Rebuilt         bool
	RebuildProfiles int
	RebuildDiffs    int
	RebuildShown    []string
}

// Lost is how many events sent are not in ClickHouse; Extra how many
// event ids it holds that were never sent.
func (r result) Lost() int64  { return max(r.Sent-r.Stored, 0) }
func (r result) Extra() int64 { return max(r.Stored-r.Sent, 0) }

// Duplicates are the rows beyond one per event as stored; ReplacingMergeTree
// collapses them in merges and FINAL reads them once.
func (r result) Duplicates() int64 { return r.Rows - r.Stored }

// Passed reports whether the scenario ran, lost nothing, counted nothing
// twice and attributed everything rightly.
func (r result) Passed() bool {
	if r.Skipped != "" {
		return true
	}
	a := r.Accuracy
	return r.Error == "" && r.Measured && r.Lost() == 0 && r.Extra() == 0 && r.RowsFinal >= r.Stored &&
		a.Precision == 1 && a.Recall == 1 && a.OrdersWrong == 0 && a.RevenueWrong == 0 && a.JunkLinked == 0 && a.Checked > 0 &&
		r.RebuildDiffs == 0 && r.Restarts == 0
}

func (r result) verdict() string {
	switch {
	case r.Skipped != "":
		return "skipped"
	case r.Passed():
		return "pass"
	default:
		return "**FAIL**"
	}
}

// Line is the scenario's one-line summary.
func (r result) Line() string {
	if r.Skipped != "" {
		return fmt.Sprintf("%s: skipped (%s)", r.Fault, r.Skipped)
	}
	s := fmt.Sprintf("%s: %s: sent %d, stored %d, duplicate rows %d (with FINAL: %d rows), lost %d; precision %.4f recall %.4f; wrong orders %d, wrong LTV %d; restarts %d",
		r.Fault, r.verdict(), r.Sent, r.Stored, r.Duplicates(), r.RowsFinal, r.Lost(), r.Accuracy.Precision, r.Accuracy.Recall,
		r.Accuracy.OrdersWrong, r.Accuracy.RevenueWrong, r.Restarts)
	if r.Rebuilt {
		s += fmt.Sprintf("; after the rebuild %d of %d profiles differ from before the loss", r.RebuildDiffs, r.RebuildProfiles)
	}
	if r.Error != "" {
		s += "; error: " + r.Error
	}
	return s
}

// environment is what the report says about the run.
type environment struct {
	Date, Label string
	People      int
	Rate        float64
	Kills       int
	Seed        uint64
	WallClock   time.Duration
}

// report renders the suite's results as Markdown.
func report(env environment, rs []result) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Reliability\n\n")
	p("Written by `scripts/chaos.sh` (`cmd/cxchaos`) on %s", env.Date)
	if env.Label != "" {
		p(", %s mode", env.Label)
	}
	p(", from one real run against Kafka, Redis and ClickHouse\n")
	p("on this machine (%s/%s, %d CPUs). Do not edit it by hand: run the script again.\n\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	p("Each scenario plays %d people (pkg/synth, seed %d) into its own cx.interactions topic at %.0f events/s\n", env.People, env.Seed, env.Rate)
	p("while one `cxstream sink` and one or two `cxstream resolver` processes run, injects its fault once a third\n")
	p("of the load is written, waits until every event id is in ClickHouse and the row count has settled, stops\n")
	p("the pipeline with SIGTERM, and compares what is stored with the ground truth. The harness restarts a\n")
	p("process that exits by itself, as a supervisor would, counts it, and fails the scenario.\n\n")

	p("| fault | verdict | events sent | stored (distinct) | lost | duplicate rows as stored | rows read with FINAL | precision / recall | wrong orders / LTV | restarts | all stored after |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		if r.Skipped != "" {
			p("| %s | skipped: %s | | | | | | | | | |\n", r.Fault, r.Skipped)
			continue
		}
		a := r.Accuracy
		p("| %s | %s | %d | %d | %d | %d | %d | %.4f / %.4f | %d / %d | %d | %.1f s |\n", r.Fault, r.verdict(), r.Sent, r.Stored, r.Lost(),
			r.Duplicates(), r.RowsFinal, a.Precision, a.Recall, a.OrdersWrong, a.RevenueWrong, r.Restarts, r.RecoverySec)
	}
	p("\n## What each scenario did\n\n")
	for _, r := range rs {
		p("- **%s**: ", r.Fault)
		switch {
		case r.Skipped != "":
			p("skipped: %s.\n", r.Skipped)
			continue
		case r.Injected != "":
			p("%s.", r.Injected)
		default:
			p("the fault was not injected.")
		}
		if r.WriteErrors == 0 {
			p(" The load wrote %d messages; no write failed.", r.Written)
		} else {
			p(" The load wrote %d messages: %d writes failed and were retried whole, so some events were written twice.", r.Written, r.WriteErrors)
		}
		a := r.Accuracy
		p(" %d people in %d profiles; over-merged %d, split %d, unresolved %d, junk linked %d; %d profiles checked.", a.People, a.Profiles,
			a.OverMerged, a.Split, a.Unresolved, a.JunkLinked, a.Checked)
		if r.Error != "" {
			p(" Error: %s.", r.Error)
		}
		p("\n")
		for _, d := range r.RebuildShown {
			p("\n  ```\n  %s\n  ```\n", strings.ReplaceAll(d, "\n", "\n  "))
		}
	}
	p("\n## How to read it\n\n")
	p(`- **stored (distinct)** is uniqExact(event_id) of the tenant's cx_events rows; **lost** is sent minus stored.
- **duplicate rows as stored** are rows beyond one per event id: a sink killed after an insert and
  before its offset commit inserts that batch again on redelivery, and a resolver killed after
  publishing and before committing publishes it again. cx_events is a ReplacingMergeTree whose key
  ends in the event id, so merges (and reads with FINAL) collapse copies with the same profile id;
  a copy re-attributed to another profile by a merge in between keeps its row, which is why every
  query deduplicates by event id (` + "`LIMIT 1 BY event_id`" + `, ` + "`uniqExact(event_id)`" + `; docs/analytics.md).
  Read that way each event counts once: **stored (distinct)**. **rows read with FINAL** shows what
  is left after collapsing; it is not a pass criterion.
- **precision / recall** are pairwise over the identity partition (every identifier of the ground truth
  looked up in Redis): 1.0 / 1.0 means no join and no split the identity rules would not make.
- **wrong orders / LTV** are profiles whose order count or lifetime value differs from the sum of the
  purchases of the people they hold: an event folded twice or missed shows here.
- **redis-loss** runs no fault under load: once everything is stored and the pipeline stopped, it
  snapshots every profile (identifiers and contents, without profile ids and versions), flushes Redis
  and runs ` + "`cxstream rebuild`" + `; it passes only if the rebuilt state equals the snapshot.
- **restarts** are pipeline processes that exited by themselves (not the ones the fault killed): a
  process must ride out a dependency's outage, so any restart fails the scenario.
- A scenario passes when every event id sent is stored and none other (nothing lost or extra),
  precision and recall are 1.0, no profile's orders or lifetime value is wrong, and no process exited
  by itself.
`)
	p("\nThe suite's wall clock: %s.\n", env.WallClock.Round(time.Second))
	return b.String()
}
