#!/usr/bin/env bash
# Full test run: start the backing services, then go vet and go test -race
# against them, then every fuzz target for a short time (scripts/fuzz.sh;
# CXSTREAM_FUZZTIME, default 10s each), then the fault suite
# (scripts/chaos.sh --ci: kills and service restarts under load, serial,
# after the tests so that no test shares a restarting service). Extra
# arguments are passed to `go test`.
#   scripts/test.sh [go test flags...]
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$CXSTREAM_ROOT"

# CI's environment may lack the Go toolchain's usual PATH entry.
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
  PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null || die "go is not installed (or not on PATH): install Go 1.26+ to build and test cxstream"

step "services: scripts/services.sh up"
scripts/services.sh up
eval "$(scripts/services.sh env)"
export CXSTREAM_REQUIRE_SERVICES=1

step "go vet ./... ($(go version))"
go vet ./...

step "go test -race -count=1 -timeout 20m ./... $*"
rc=0
go test -race -count=1 -timeout 20m ./... "$@" || rc=$?
step "go test exit status: $rc"
[[ $rc -eq 0 ]] || exit "$rc"

step "fuzz every target for ${CXSTREAM_FUZZTIME:-10s}: scripts/fuzz.sh"
scripts/fuzz.sh

step "fault suite: scripts/chaos.sh --ci"
scripts/chaos.sh --ci
