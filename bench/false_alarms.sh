#!/usr/bin/env bash
# The false-alarm budget: a clean lab (a steady 1 % of 503s on one route on
# both targets, latency jitter, one event that changes nothing), SEEDS runs
# of SECS seconds each (default 20 × 60 s, about 21 minutes), release build.
# Prints each run's findings; passes with 0 findings in all runs.
#
#   bash bench/false_alarms.sh            # SEEDS=20 SECS=60
set -euo pipefail
cd "$(dirname "$0")/.."
export SEEDS=${SEEDS:-20} SECS=${SECS:-60}
time cargo nextest run --release --locked --run-ignored only --no-capture \
  -E 'test(false_alarm_budget)'
