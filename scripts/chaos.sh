#!/usr/bin/env bash
# Fault suite of the whole pipeline on real Kafka, Redis and ClickHouse
# (cmd/cxchaos): SIGKILL the resolver and the sink mid-work, two resolvers
# racing with one killed, and restarts of Redis (AOF on), ClickHouse and the
# Kafka broker under load. After each: every event in ClickHouse exactly
# once, identities and every profile's orders and lifetime value equal to
# the ground truth. Exits non-zero if any scenario fails.
#
#   scripts/chaos.sh            2,000 people per scenario; writes docs/RELIABILITY.md
#   scripts/chaos.sh --ci       500 people per scenario (what scripts/test.sh runs);
#                               writes .cache/chaos/RELIABILITY.md
#   scripts/chaos.sh --faults kill-resolver,restart-kafka
#                               only these scenarios (output as the mode's)
#
# Any other argument is passed to cxchaos (see `go doc ./cmd/cxchaos`).
# The restarts go through `scripts/services.sh restart NAME`, so run it only
# where these services are yours to restart.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$CXSTREAM_ROOT"

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
  PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null || die "go is not installed (or not on PATH): install Go 1.26+ to build cxstream"

mode=full people=2000 rate=1000 out=docs/RELIABILITY.md extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --ci) mode=ci people=500 rate=500 out=.cache/chaos/RELIABILITY.md ;;
    --faults) extra+=(-faults "${2:?--faults needs a list}"); shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) extra+=("$1") ;;
  esac
  shift
done

step "services: scripts/services.sh up"
scripts/services.sh up
eval "$(scripts/services.sh env)"

bin=$CXSTREAM_ROOT/.cache/chaos/bin
work=$CXSTREAM_ROOT/.cache/chaos/work
rm -rf "$work"
mkdir -p "$bin" "$work" "$(dirname "$out")"
step "build cxstream and cxchaos ($(go version))"
go build -o "$bin/" ./cmd/cxstream ./cmd/cxchaos

svc=$CXSTREAM_ROOT/scripts/services.sh
step "cxchaos: $mode mode, $people people per scenario (logs in $work)"
start=$(now_ms)
rc=0
"$bin/cxchaos" -cxstream "$bin/cxstream" -config docs/cxstream.example.yaml \
  -people "$people" -rate "$rate" -label "$mode" -work "$work" -out "$out" \
  -restart-redis "$svc restart redis" \
  -restart-clickhouse "$svc restart clickhouse" \
  -restart-kafka "$svc restart kafka" "${extra[@]}" || rc=$?
log "chaos took $(since "$start") s; report: $out"
exit "$rc"
