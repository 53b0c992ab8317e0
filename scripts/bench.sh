#!/usr/bin/env bash
# End-to-end benchmark of the whole pipeline on real Kafka, Redis and
# ClickHouse (cmd/cxbench): throughput draining a preloaded backlog, latency
# at fixed input rates, Redis/Kafka/ClickHouse costs per event, CPU and
# memory per process, and accuracy against the synthetic population's
# ground truth, at each population size.
#
#   scripts/bench.sh            full: 10K, 100K and 1M people, 3 runs each;
#                               writes docs/BENCHMARKS.md and docs/benchmarks.png
#   scripts/bench.sh --quick    10K people, one run, 5 s latency steps (under
#                               3 minutes); writes .cache/bench/BENCHMARKS.md
#   scripts/bench.sh --people 10000,100000 --runs 3
#                               other sizes or run counts (full mode's output)
#   scripts/bench.sh --runs 3,3,1
#                               a run count per size: here one 1M run (~45 min, 9.8 GB of Redis)
#                               instead of three
#
# The report and chart are rewritten after every run, so a bench stopped or
# failed late keeps the runs it finished (and names the run that failed).
#
# Any other argument is passed to cxbench (see `go doc ./cmd/cxbench`). The
# last line printed is
#   bench: events_per_sec=N p99_ms=N redis_roundtrips_per_event=N precision=N recall=N
# from the medians of the first population size.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$CXSTREAM_ROOT"

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
  PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null || die "go is not installed (or not on PATH): install Go 1.26+ to build cxstream"

mode=full people=10000,100000,1000000 runs=3 extra=()
out=docs/BENCHMARKS.md chart=docs/benchmarks.png latency=5s
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) mode=quick people=10000 runs=1 latency=5s
      out=.cache/bench/BENCHMARKS.md chart=.cache/bench/benchmarks.png ;;
    --people) people=${2:?--people needs a list}; shift ;;
    --runs) runs=${2:?--runs needs a number}; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) extra+=("$1") ;;
  esac
  shift
done

step "services: scripts/services.sh up"
scripts/services.sh up
eval "$(scripts/services.sh env)"

bin=$CXSTREAM_ROOT/.cache/bench/bin
mkdir -p "$bin" "$(dirname "$out")"
step "build cxstream and cxbench ($(go version))"
go build -o "$bin/" ./cmd/cxstream ./cmd/cxbench

kafka_version=$(sed -n 's/^KAFKA_VERSION=//p' scripts/services.sh)
work=$CXSTREAM_ROOT/.cache/bench/work
rm -rf "$work"
step "cxbench: $mode mode, people $people, $runs run(s) each (logs in $work)"
start=$(now_ms)
line=$("$bin/cxbench" -cxstream "$bin/cxstream" -config docs/cxstream.example.yaml \
  -people "$people" -runs "$runs" -latency-for "$latency" -mode "$mode" \
  -kafka-version "$kafka_version" -work "$work" -out "$out" -chart "$chart" "${extra[@]}")
log "bench took $(since "$start") s; report: $out, chart: $chart"
echo "$line"
