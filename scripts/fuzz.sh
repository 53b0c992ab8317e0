#!/usr/bin/env bash
# Run every fuzz target of the module for a short time each (the decoders,
# normalisers, channel mappings and sentiment analysis). test.sh runs it
# after the tests; run it alone for longer sessions:
#   scripts/fuzz.sh [FUZZTIME]      (default $CXSTREAM_FUZZTIME or 10s)
# A failing input is saved under the package's testdata/fuzz and the script
# exits non-zero; `go test ./PKG` then replays it as a regression test.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$CXSTREAM_ROOT"

fuzztime=${1:-${CXSTREAM_FUZZTIME:-10s}}
mapfile -t targets < <(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | sort)
[[ ${#targets[@]} -gt 0 ]] || die "no fuzz targets found"
failed=()
for t in "${targets[@]}"; do
  file=${t%%:*}
  name=${t##*func }
  pkg=./$(dirname "${file#./}")
  start=$(now_ms)
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/cxstream-fuzz.log 2>&1; then
    log "fuzz $pkg $name: ok ($(since "$start")s)"
  else
    cat /tmp/cxstream-fuzz.log >&2
    log "fuzz $pkg $name: FAILED"
    failed+=("$pkg $name")
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  die "fuzz targets failed: ${failed[*]}"
fi
log "fuzz: ${#targets[@]} targets, ${fuzztime} each: no failures"
