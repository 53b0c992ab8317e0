#!/usr/bin/env bash
# The cxstream demo, on a fresh machine: install and start Kafka, Redis and
# ClickHouse, build and start the whole pipeline (`cxstream run`), play a
# synthetic multi-channel customer population through the HTTP collector,
# feed the channel adapters their sample payloads (a till's export through
# `cxstream import`, help-desk, email, survey and social webhooks), then show
# customers' unified profiles and cross-channel timelines.
#
#   scripts/demo.sh [-people N] [-seed N]
#
# The demo tenant ("demo", see docs/cxstream.example.yaml) is reset first so
# that every run starts from nothing. The services keep running afterwards
# (scripts/services.sh down stops them).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$CXSTREAM_ROOT"

people=300
seed=1
while [[ $# -gt 0 ]]; do
  case $1 in
    -people) people=$2; shift 2 ;;
    -seed) seed=$2; shift 2 ;;
    *) die "usage: scripts/demo.sh [-people N] [-seed N]" ;;
  esac
done

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
  PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null || die "go is not installed: install Go 1.26+ to build cxstream"
command -v curl >/dev/null || apt_install curl ca-certificates

CONFIG=docs/cxstream.example.yaml
TENANT=demo
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cxstream-demo.XXXXXX")
export CXSTREAM_CLICKHOUSE_DATABASE=cxstream_demo

step "services"
scripts/services.sh up
eval "$(scripts/services.sh env)"

step "build"
go build -o bin/cxstream ./cmd/cxstream
go build -o bin/cxload ./cmd/cxload

step "reset the demo tenant"
redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "cx:{$TENANT}:*" | xargs -r -n 500 redis-cli -h 127.0.0.1 -p 6379 del >/dev/null
clickhouse-client --port 9000 -q "DROP DATABASE IF EXISTS $CXSTREAM_CLICKHOUSE_DATABASE"
bin/cxstream migrate -config "$CONFIG"

step "start the pipeline (bin/cxstream run; log: $RUN_DIR/cxstream.log)"
bin/cxstream run -config "$CONFIG" >"$RUN_DIR/cxstream.log" 2>&1 &
pipeline_pid=$!
trap 'kill -TERM $pipeline_pid 2>/dev/null; wait $pipeline_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -fs http://127.0.0.1:9464/readyz >/dev/null && break
  kill -0 $pipeline_pid 2>/dev/null || { tail -20 "$RUN_DIR/cxstream.log" >&2; die "the pipeline exited"; }
  sleep 0.5
done
curl -fs http://127.0.0.1:9464/readyz >/dev/null || die "the pipeline did not become ready (log: $RUN_DIR/cxstream.log)"

step "play $people customers through the collector (web, mobile, store, call center, email, survey)"
bin/cxload -config "$CONFIG" -tenant "$TENANT" -people "$people" -seed "$seed" -truth "$RUN_DIR/truth.jsonl" | tee "$RUN_DIR/cxload.out"
accepted=$(sed -n 's/.* accepted=\([0-9]*\).*/\1/p' "$RUN_DIR/cxload.out")
expected=$(sed -n 's/.* expected_profiles=\([0-9]*\).*/\1/p' "$RUN_DIR/cxload.out")

step "wait until every event is resolved and in ClickHouse"
stats=""
for _ in $(seq 1 240); do
  stats=$(bin/cxstream stats -config "$CONFIG" -tenant "$TENANT")
  events=$(sed -n 's/.*"events":\([0-9]*\).*/\1/p' <<<"$stats")
  [[ $events -ge $accepted ]] && break
  sleep 0.5
done
[[ $events -ge $accepted ]] || die "only $events of $accepted events reached ClickHouse: $stats"
profiles=$(sed -n 's/.*"profiles":\([0-9]*\).*/\1/p' <<<"$stats")
merges=$(sed -n 's/.*"merges":\([0-9]*\).*/\1/p' <<<"$stats")

# The customer to show: the first with a phone number and an order (their
# journey crosses the most channels, and their profile has transactions).
customer=$(grep -m1 '"Phone":"+.*"Orders":' "$RUN_DIR/truth.jsonl")
email=$(sed 's/.*"Email":"\([^"]*\)".*/\1/' <<<"$customer")
step "one customer, looked up by email:$email"
bin/cxstream profile -config "$CONFIG" -tenant "$TENANT" "email:$email"
step "the same customer's timeline across channels (from ClickHouse)"
bin/cxstream timeline -config "$CONFIG" -tenant "$TENANT" "email:$email"
step "Profile API: the same customer by phone number"
phone=$(sed 's/.*"Phone":"\([^"]*\)".*/\1/' <<<"$customer")
curl -fsS -H "Authorization: Bearer demo-api-token-0123456789" "http://127.0.0.1:8081/v1/profiles/phone:$phone" \
  | head -c 400
echo " ..."

step "cx.triggers: what marketing and service tools were told (segments entered and left, lifecycle changes, carts, alerts)"
bin/cxstream triggers -config "$CONFIG" -tenant "$TENANT" -limit 8 | tee "$RUN_DIR/triggers.out"
triggers=$(sed -n '1s/.*"total":\([0-9]*\).*/\1/p' "$RUN_DIR/triggers.out")

step "channel adapters (schemas/mappings): a till's exports through cxstream import, webhooks to POST /v1/channels/{mapping}"
samples=schemas/mappings/samples
bin/cxstream import -config "$CONFIG" -tenant "$TENANT" -mapping pos "$samples/pos.ndjson" "$samples/pos.csv" | tee "$RUN_DIR/import.out"
channel_events=$(sed -n 's/.* events=\([0-9]*\).*/\1/p' "$RUN_DIR/import.out")
for hook in helpdesk:demo-callcenter-key email:demo-email-key survey:demo-survey-key social:demo-social-key; do
  name=${hook%%:*}
  answer=$(curl -fsS -H 'Content-Type: application/json' --data-binary "@$samples/$name.json" \
    "http://127.0.0.1:8080/v1/channels/$name?write_key=${hook#*:}")
  echo "POST /v1/channels/$name: $answer"
  channel_events=$((channel_events + $(sed -n 's/.*"events":\([0-9]*\).*/\1/p' <<<"$answer")))
done

step "wait until the channels' events are resolved and in ClickHouse"
for _ in $(seq 1 120); do
  all=$(sed -n 's/.*"events":\([0-9]*\).*/\1/p' <<<"$(bin/cxstream stats -config "$CONFIG" -tenant "$TENANT")")
  [[ $all -ge $((events + channel_events)) ]] && break
  sleep 0.5
done
[[ $all -ge $((events + channel_events)) ]] || die "only $((all - events)) of $channel_events channel events reached ClickHouse"

step "the sample payloads' customer, Jane, as the channel adapters saw her (store, call center, email, survey)"
bin/cxstream timeline -config "$CONFIG" -tenant "$TENANT" "email:jane.doe@example.com"

echo
echo "ground truth: $people people -> expected $expected profiles; the pipeline has $profiles"
echo "channels: events=$channel_events (pos import, helpdesk, email, survey and social webhooks)"
echo "demo: events=$events profiles=$profiles merges=$merges triggers=$triggers"
