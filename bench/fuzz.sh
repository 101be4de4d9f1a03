#!/usr/bin/env bash
# Scenario fuzzing: the property tests of tests/it/scenario_props.rs (no
# panic on any input; every refusal is `path:line:col: message`; every
# accepted plan within the limits of src/scenario/plan/limits.rs) with many
# more cases than the test suite's 256.
#
#   bash bench/fuzz.sh                  # 100,000 cases per property
#   CASES=10000 bash bench/fuzz.sh      # a shorter campaign
#
# Prints the cases run, the time taken and the result; copy them into
# bench/RESULTS.md ("Scenario fuzzing") with the machine and date. A failure
# prints the minimal failing scenario text: add it as a golden file or a
# unit test, then fix.
set -euo pipefail
cd "$(dirname "$0")/.."

CASES=${CASES:-100000}
PROPERTIES=3

cargo test --quiet --test it --no-run
start=$(date +%s)
status=0
PROPTEST_CASES=$CASES cargo test --quiet --test it scenario_props -- --test-threads 2 \
  >"${TMPDIR:-/tmp}/cutover-fuzz.log" 2>&1 || status=$?
secs=$(( $(date +%s) - start ))
tail -n 20 "${TMPDIR:-/tmp}/cutover-fuzz.log"
echo
echo "cases: $CASES per property, $((CASES * PROPERTIES)) scenarios in all"
echo "time: ${secs}s"
if [ "$status" -eq 0 ]; then
  echo "result: pass (no panic, every refusal positioned, every plan within limits)"
else
  echo "result: FAIL (see ${TMPDIR:-/tmp}/cutover-fuzz.log)"
fi
exit "$status"
