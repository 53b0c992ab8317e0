# shellcheck shell=bash
# Shared helpers for scripts/*.sh. Source it; it does not run anything.

# Repository root (this file lives in <root>/scripts).
CXSTREAM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CXSTREAM_ROOT

log()  { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
warn() { log "WARNING: $*"; }
die()  { log "ERROR: $*"; exit 1; }
step() { printf '\n==> %s\n' "$*" >&2; }

# now_ms: wall clock in milliseconds (bash 5 EPOCHREALTIME, no subprocess).
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

# since MS: seconds elapsed since MS, two decimals, e.g. "3.42".
since() {
  local d=$(($(now_ms) - $1))
  printf '%d.%02d' $((d / 1000)) $((d % 1000 / 10))
}

# as_root CMD...: run CMD as root (directly, or through sudo when not root).
as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# apt_install PKG...: install Debian packages non-interactively. Runs
# `apt-get update` at most once per process. Package maintainer scripts are
# kept from starting the system's own service instances (we run our own).
_APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
  local policy=/usr/sbin/policy-rc.d added_policy=0 rc=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod +x "$policy"
    added_policy=1
  fi
  if [[ $_APT_UPDATED -eq 0 ]]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null || rc=$?
    _APT_UPDATED=1
  fi
  if [[ $rc -eq 0 ]]; then
    log "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends "$@" >/dev/null || rc=$?
  fi
  [[ $added_policy -eq 0 ]] || as_root rm -f "$policy"
  [[ $rc -eq 0 ]] || die "apt-get failed (exit $rc) installing: $*"
}

# wait_until TIMEOUT_S CMD...: poll CMD every 0.5 s until it succeeds.
wait_until() {
  local timeout=$1 start
  shift
  start=$(now_ms)
  until "$@" >/dev/null 2>&1; do
    (($(now_ms) - start < timeout * 1000)) || return 1
    sleep 0.5
  done
}

# tcp_open HOST PORT: true if something accepts TCP connections there.
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# pid_alive PIDFILE [NAME]: true if the pidfile names a running process
# (whose command line contains NAME, so a recycled pid does not count).
pid_alive() {
  local pid
  [[ -s $1 ]] && pid=$(<"$1") && [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
    { [[ -z ${2:-} ]] || tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"; }
}

# stop_pidfile NAME PIDFILE MATCH [TIMEOUT_S]: SIGTERM, wait, then SIGKILL
# the process of PIDFILE, if its command line contains MATCH.
stop_pidfile() {
  local name=$1 pidfile=$2 match=$3 timeout=${4:-30} pid
  if ! pid_alive "$pidfile" "$match"; then
    log "$name: not running"
    rm -f "$pidfile"
    return 0
  fi
  pid=$(<"$pidfile")
  log "$name: stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_until "$timeout" bash -c "! kill -0 $pid"; then
    warn "$name: still running after ${timeout}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 1
  fi
  rm -f "$pidfile"
}
