#!/usr/bin/env bash
# The watch's bounded memory, measured two ways (release build):
#  1. a day of synthetic seconds fed into the watch's structures (the ring
#     of seconds, the per-minute/per-hour aggregates, the alert states) and
#     the report built from them: real time, RSS growth, report size;
#  2. a real watch against the embedded lab for MINUTES minutes (default
#     10) at RATE requests/s per target (default 20), its RSS sampled at 1,
#     5 and 10 minutes, and the report's size at the end.
#
#   bash bench/watch.sh                 # both parts
#   ONLY=synthetic bash bench/watch.sh  # the synthetic day only
set -euo pipefail
cd "$(dirname "$0")/.."
ONLY=${ONLY:-}
MINUTES=${MINUTES:-10}
RATE=${RATE:-20}

if [ -z "$ONLY" ] || [ "$ONLY" = synthetic ]; then
  echo "== a synthetic day into the watch's structures"
  cargo nextest run --release --locked --run-ignored only --no-capture \
    -E 'test(watch_day_bench)' 2>&1 | grep -E '^(day|ring|minutes|alerts|report|rss|time)'
fi

if [ -z "$ONLY" ] || [ "$ONLY" = real ]; then
  cargo build --release --locked -q
  bin=target/release/cutover
  work=$(mktemp -d)
  "$bin" lab --write-scenario "$work/lab.yaml" > "$work/lab.out" 2>&1 &
  lab=$!
  trap 'kill "$lab" 2>/dev/null || true; rm -rf "$work"' EXIT
  for _ in $(seq 50); do [ -s "$work/lab.yaml" ] && break; sleep 0.1; done
  cat >> "$work/lab.yaml" <<YAML
  - name: slow
    http: { path: "/slow?ms=5" }
watch: { rate: ${RATE}/s }
YAML
  echo "== a real watch: ${MINUTES} min at ${RATE}/s per target against the lab"
  "$bin" watch "$work/lab.yaml" --for "${MINUTES}m" --out "$work/out" --marks "$work/marks" -q > "$work/watch.out" 2>&1 &
  watch=$!
  start=$(date +%s)
  for at in 1 5 10; do
    [ "$at" -gt "$MINUTES" ] && break
    # The last sample 5 s before the watch ends on its own.
    due=$(( at * 60 )); [ "$due" -ge $(( MINUTES * 60 )) ] && due=$(( MINUTES * 60 - 5 ))
    while [ $(( $(date +%s) - start )) -lt "$due" ]; do sleep 1; done
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$watch/status" 2>/dev/null || echo '?')
    echo "rss after ${due} s: ${rss} KiB"
  done
  wait "$watch" || true
  echo "report.json: $(stat -c %s "$work/out/report.json") bytes; events.ndjson: $(stat -c %s "$work/out/events.ndjson" 2>/dev/null || echo 0) bytes"
  python3 -c "import json,sys; r=json.load(open('$work/out/report.json')); w=r['watch']; print('timeline points', len(w['timeline']), '· check passes', w['check_passes'], '· alerts raised', w['raised'])"
fi
